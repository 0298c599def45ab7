import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import {
  type CellValue,
  type ColdEntry,
  type ColdSegment as ColdSegmentHandle,
  type ColumnCodec,
  FlowmarkError,
  formatUuid,
  KeyFilter,
  parseUuid,
  type SegmentIdentity,
  type SegmentManifest,
  type SegmentStore,
} from '../../engine/index.ts';

/**
 * One segment of the on-disk ("cold") part of a time-bucketed table: the entries of one sealed
 * event-time bucket, in one SQLite database file of its own (Node's built-in `node:sqlite`; see
 * docs/decisions.md for the measured choice), as Kafka Streams keeps one store per time segment.
 * A segment is written once, when its bucket is moved out of memory, then only read by key and
 * sometimes has an entry deleted; once every entry in it has expired the whole file is deleted
 * ({@link destroy}), never row by row.
 *
 * Entries are rows `(k, t, o, v)` of a table clustered by (key, time, ord) (`WITHOUT ROWID`): a
 * key's entries in a time range are one index range. `o` is the entry's position in the bucket,
 * which is its insertion order, so equal times read back in the order the memory held them. `v`
 * is the row's fields in a small binary form (every column codec round-trips exactly: NaN, −0 and
 * strings that only look like UUIDs included).
 *
 * The file is a cache (the checkpoint's chunks are the truth), so it is written without journal or
 * fsync: a crash may leave it broken, and a restart rebuilds it from the chunks.
 */
export class ColdSegment implements ColdSegmentHandle {
  readonly path: string;
  /** The bucket's index (event time / bucket width). */
  readonly index: number;
  readonly maxTimeMs: number;
  /** Entries not deleted. */
  live: number;
  readonly #filter: KeyFilter;
  readonly #codecs: readonly ColumnCodec[];
  #manifest: SegmentManifest | undefined;
  /** Whether files are synced before a manifest names them (false: tests on a machine that won't crash). */
  #sync = true;
  #db: DatabaseSync | undefined;
  #select: StatementSync | undefined;
  #selectAt: StatementSync | undefined;
  #deleteOne: StatementSync | undefined;

  private constructor(
    path: string,
    index: number,
    maxTimeMs: number,
    codecs: readonly ColumnCodec[],
    filter: KeyFilter,
  ) {
    this.path = path;
    this.index = index;
    this.maxTimeMs = maxTimeMs;
    this.#codecs = codecs;
    this.#filter = filter;
    this.live = 0;
  }

  /**
   * Writes `entries` (in insertion order; `ord` is taken from their position) to a new file at
   * `path` (one there already is replaced) and returns the open segment. `maxTimeMs` is the
   * bucket's (deleted entries included): the segment expires when the bucket would have.
   */
  static write(
    path: string,
    index: number,
    maxTimeMs: number,
    codecs: readonly ColumnCodec[],
    entries: ReadonlyArray<{ key: string; timeMs: number; values: CellValue[] }>,
    identity?: SegmentIdentity & { coveredSeq: number; deletesSeq: number },
    sync = true,
  ): ColdSegment {
    removeSegmentFiles(path);
    mkdirSync(dirname(path), { recursive: true });
    rmSync(path, { force: true });
    const keys = new Set<string>();
    for (const e of entries) keys.add(e.key);
    const filter = new KeyFilter(keys.size);
    for (const k of keys) filter.add(k);
    const seg = new ColdSegment(path, index, maxTimeMs, codecs, filter);
    seg.#sync = sync;
    const db = seg.#open();
    try {
      db.exec(
        'CREATE TABLE e (k BLOB NOT NULL, t INTEGER NOT NULL, o INTEGER NOT NULL, v BLOB NOT NULL, PRIMARY KEY (k, t, o)) WITHOUT ROWID',
      );
      const ins = db.prepare('INSERT INTO e VALUES (?, ?, ?, ?)');
      db.exec('BEGIN');
      let o = 0;
      for (const e of entries) ins.run(keyBytes(e.key), e.timeMs, o++, encodeValues(codecs, e.values));
      db.exec('COMMIT');
    } catch (err) {
      seg.destroy();
      throw new FlowmarkError(
        'FM_RUNTIME_STATE',
        `cannot write the on-disk state segment ${path}: ${(err as Error).message}. Check that state.local_dir is on a writable disk with free space`,
      );
    }
    seg.live = entries.length;
    if (identity !== undefined) {
      // Synced before the manifest names it: a manifest always describes a complete file.
      seg.close();
      if (sync) syncFile(path);
      writeSynced(filterPath(path), filter.toBytes(), sync);
      seg.#manifest = {
        version: 1,
        ...identity,
        index,
        maxTimeMs,
        live: seg.live,
        clean: true,
        bytes: statSync(path).size,
      };
      seg.#writeManifest();
    }
    return seg;
  }

  /**
   * The segments a restart may reuse in `dir`: those whose manifest matches `expect` (same table,
   * columns and lineage; every entry and delete in a chunk the checkpoint holds, ≤ `maxSeq`;
   * complete and clean; not expired by `cutoffMs`). Every other file in `dir` is deleted; `rejected`
   * says why, for the one log line.
   */
  static reuse(
    dir: string,
    expect: Omit<SegmentIdentity, 'lineage'> & { lineage: string | undefined; maxSeq: number; cutoffMs: number },
    codecs: readonly ColumnCodec[],
  ): { segments: ColdSegment[]; rejected: string[] } {
    const segments: ColdSegment[] = [];
    const rejected: string[] = [];
    if (!existsSync(dir)) return { segments, rejected };
    const keep = new Set<string>();
    const withManifest = new Set<string>();
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.json')) continue;
      const base = name.slice(0, -'.json'.length);
      withManifest.add(`${base}.sqlite`);
      const path = join(dir, `${base}.sqlite`);
      let m: SegmentManifest;
      try {
        m = JSON.parse(readFileSync(join(dir, name), 'utf8')) as SegmentManifest;
      } catch {
        rejected.push(`${name}: not a readable manifest`);
        continue;
      }
      const why =
        m.version !== 1
          ? `manifest version ${m.version}`
          : m.table !== expect.table ||
              JSON.stringify(m.columns) !== JSON.stringify(expect.columns) ||
              m.idColumn !== expect.idColumn ||
              m.bucketWidthMs !== expect.bucketWidthMs ||
              `${m.index}` !== base
            ? 'another table layout'
            : expect.lineage === undefined || m.lineage !== expect.lineage
              ? "another checkpoint history (lineage) than the checkpoint's"
              : !m.clean
                ? 'a delete was under way when the run stopped'
                : m.coveredSeq > expect.maxSeq || m.deletesSeq > expect.maxSeq
                  ? `it holds chunk #${Math.max(m.coveredSeq, m.deletesSeq)}, newer than the checkpoint's last (#${expect.maxSeq}): written after the last commit`
                  : m.maxTimeMs < expect.cutoffMs
                    ? undefined // expired: deleted, nothing to say
                    : !existsSync(path) || statSync(path).size !== m.bytes
                      ? 'its file is missing or has another size than its manifest says'
                      : undefined;
      if (why !== undefined) {
        rejected.push(`${base}: ${why}`);
        continue;
      }
      if (m.maxTimeMs < expect.cutoffMs) continue;
      let filter: KeyFilter | undefined;
      try {
        filter = KeyFilter.fromBytes(readFileSync(filterPath(path)));
      } catch {
        filter = undefined;
      }
      if (filter === undefined) {
        rejected.push(`${base}: its key filter is missing or damaged`);
        continue;
      }
      const seg = new ColdSegment(path, m.index, m.maxTimeMs, codecs, filter);
      seg.live = m.live;
      seg.#manifest = m;
      segments.push(seg);
      for (const p of [path, filterPath(path), manifestPath(path)]) keep.add(p);
    }
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (keep.has(p)) continue;
      if (name.endsWith('.sqlite') && !withManifest.has(name)) {
        rejected.push(`${name}: no manifest (the run stopped while writing it)`);
      }
      rmSync(p, { recursive: true, force: true });
    }
    return { segments, rejected };
  }

  /** False when no entry of `key` was ever written here: the disk need not be read. */
  mayHave(key: string): boolean {
    return this.#filter.mayHave(key);
  }

  mayHaveHashed(h1: number, h2: number): boolean {
    return this.#filter.mayHaveHashed(h1, h2);
  }

  /** The entries of `key` with fromMs ≤ time ≤ toMs, by (time, insertion). */
  read(key: string, fromMs: number, toMs: number): ColdEntry[] {
    this.#select ??= this.#open().prepare('SELECT t, o, v FROM e WHERE k = ? AND t >= ? AND t <= ? ORDER BY t, o');
    const lo = Math.max(fromMs, Number.MIN_SAFE_INTEGER);
    const hi = Math.min(toMs, Number.MAX_SAFE_INTEGER);
    const rows = this.#select.all(keyBytes(key), lo, hi) as Array<{ t: number; o: number; v: Uint8Array }>;
    return rows.map((r) => ({ key, timeMs: r.t, ord: r.o, values: decodeValues(this.#codecs, r.v) }));
  }

  /** Every entry, in insertion order (to bring the segment back into memory). */
  readAll(): ColdEntry[] {
    const rows = this.#open().prepare('SELECT k, t, o, v FROM e ORDER BY o').all() as Array<{
      k: Uint8Array;
      t: number;
      o: number;
      v: Uint8Array;
    }>;
    return rows.map((r) => ({
      key: Buffer.from(r.k.buffer, r.k.byteOffset, r.k.byteLength).toString('utf16le'),
      timeMs: r.t,
      ord: r.o,
      values: decodeValues(this.#codecs, r.v),
    }));
  }

  /**
   * Deletes the entries of `key` at `timeMs` that `match` accepts; returns how many went.
   * `nextSeq` is the chunk that will record the delete: until it is committed the segment must not
   * be reused, which the manifest says (dirty while the delete is made, then its chunk).
   */
  delete(key: string, timeMs: number, match: (e: ColdEntry) => boolean, nextSeq = 0): number {
    if (!this.mayHave(key)) return 0;
    this.#selectAt ??= this.#open().prepare('SELECT t, o, v FROM e WHERE k = ? AND t = ? ORDER BY o');
    this.#deleteOne ??= this.#open().prepare('DELETE FROM e WHERE k = ? AND t = ? AND o = ?');
    let n = 0;
    for (const r of this.#selectAt.all(keyBytes(key), timeMs) as Array<{ t: number; o: number; v: Uint8Array }>) {
      const e = { key, timeMs: r.t, ord: r.o, values: decodeValues(this.#codecs, r.v) };
      if (!match(e)) continue;
      if (n === 0 && this.#manifest !== undefined) {
        this.#manifest = { ...this.#manifest, clean: false, deletesSeq: Math.max(this.#manifest.deletesSeq, nextSeq) };
        this.#writeManifest();
      }
      this.#deleteOne.run(keyBytes(key), timeMs, r.o);
      n++;
    }
    this.live -= n;
    if (n > 0 && this.#manifest !== undefined) {
      if (this.#sync) syncFile(this.path);
      this.#manifest = { ...this.#manifest, clean: true, live: this.live, bytes: statSync(this.path).size };
      this.#writeManifest();
    }
    return n;
  }

  #writeManifest(): void {
    writeSynced(manifestPath(this.path), new TextEncoder().encode(JSON.stringify(this.#manifest)), this.#sync);
  }

  /** Bytes this segment holds in memory (its key filter). */
  get memoryBytes(): number {
    return this.#filter.bytes + 256;
  }

  close(): void {
    this.#select = undefined;
    this.#selectAt = undefined;
    this.#deleteOne = undefined;
    this.#db?.close();
    this.#db = undefined;
  }

  /** Closes the segment and deletes its files (the manifest first): a whole segment goes at once. */
  destroy(): void {
    this.close();
    removeSegmentFiles(this.path);
  }

  #open(): DatabaseSync {
    if (this.#db === undefined) {
      // Loaded on first use: a run whose state fits its memory budget never opens SQLite.
      const { DatabaseSync } = process.getBuiltinModule('node:sqlite');
      const db = new DatabaseSync(this.path);
      db.exec('PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -2048;');
      this.#db = db;
    }
    return this.#db;
  }
}

const WORDS = new Uint32Array(4);

/** The fields of an entry as bytes: per column, f64/timeMs 8 bytes, i32 4, uuid 1 + 16 or 1 + string, string 4 + UTF-8. */
export function encodeValues(codecs: readonly ColumnCodec[], values: readonly CellValue[]): Uint8Array {
  const parts: Array<Uint8Array> = [];
  let size = 0;
  for (let c = 0; c < codecs.length; c++) {
    const codec = codecs[c] as ColumnCodec;
    const v = values[c] ?? null;
    let part: Uint8Array;
    if (codec === 'string') {
      part = v === null ? u32(0xffffffff) : withLength(v as string);
    } else if (codec === 'uuid') {
      if (v !== null && parseUuid(v as string, WORDS, 0)) {
        part = new Uint8Array(17);
        part[0] = 0;
        new DataView(part.buffer).setUint32(1, WORDS[0] as number, true);
        new DataView(part.buffer).setUint32(5, WORDS[1] as number, true);
        new DataView(part.buffer).setUint32(9, WORDS[2] as number, true);
        new DataView(part.buffer).setUint32(13, WORDS[3] as number, true);
      } else if (v === null) part = Uint8Array.of(1);
      else {
        const s = withLength(v as string);
        part = new Uint8Array(1 + s.length);
        part[0] = 2;
        part.set(s, 1);
      }
    } else if (codec === 'i32') {
      part = new Uint8Array(4);
      new DataView(part.buffer).setInt32(0, v as number, true);
    } else {
      part = new Uint8Array(8);
      new DataView(part.buffer).setFloat64(0, v as number, true);
    }
    parts.push(part);
    size += part.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function decodeValues(codecs: readonly ColumnCodec[], bytes: Uint8Array): CellValue[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: CellValue[] = [];
  let at = 0;
  const str = (): string | null => {
    const n = dv.getUint32(at, true);
    at += 4;
    if (n === 0xffffffff) return null;
    const s = Buffer.from(bytes.buffer, bytes.byteOffset + at, n).toString('utf16le');
    at += n;
    return s;
  };
  for (const codec of codecs) {
    if (codec === 'string') out.push(str());
    else if (codec === 'uuid') {
      const tag = bytes[at++];
      if (tag === 0) {
        for (let w = 0; w < 4; w++) WORDS[w] = dv.getUint32(at + 4 * w, true);
        at += 16;
        out.push(formatUuid(WORDS, 0));
      } else if (tag === 1) out.push(null);
      else out.push(str());
    } else if (codec === 'i32') {
      out.push(dv.getInt32(at, true));
      at += 4;
    } else {
      out.push(dv.getFloat64(at, true));
      at += 8;
    }
  }
  return out;
}

function manifestPath(segmentPath: string): string {
  return segmentPath.replace(/\.sqlite$/, '.json');
}

function filterPath(segmentPath: string): string {
  return segmentPath.replace(/\.sqlite$/, '.filter');
}

/** The manifest first: without it the other files are never trusted, whatever is left of them. */
function removeSegmentFiles(path: string): void {
  rmSync(manifestPath(path), { force: true });
  rmSync(filterPath(path), { force: true });
  rmSync(path, { force: true });
}

function syncFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `bytes` to `path` atomically (a synced temporary file renamed over it). */
function writeSynced(path: string, bytes: Uint8Array, sync: boolean): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, bytes);
  if (sync) syncFile(tmp);
  renameSync(tmp, path);
}

/** A key as the bytes of its UTF-16 code units: exact for every string (NUL and lone surrogates too). */
function keyBytes(key: string): Uint8Array {
  return Buffer.from(key, 'utf16le');
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function withLength(s: string): Uint8Array {
  // UTF-16 code units, not UTF-8: every JavaScript string (a lone surrogate too) comes back as it was.
  const body = Buffer.from(s, 'utf16le');
  const b = new Uint8Array(4 + body.length);
  new DataView(b.buffer).setUint32(0, body.length, true);
  b.set(body, 4);
  return b;
}

/**
 * The local store of cold segments: one SQLite database file per segment (`<bucket>.sqlite`), with
 * its key filter (`.filter`) and manifest (`.json`) beside it.
 */
export const sqliteSegmentStore: SegmentStore = {
  segmentPath: (dir, index) => join(dir, `${index}.sqlite`),
  write: (path, index, maxTimeMs, codecs, entries, identity, sync) =>
    ColdSegment.write(path, index, maxTimeMs, codecs, entries, identity, sync),
  reuse: (dir, expect, codecs) => ColdSegment.reuse(dir, expect, codecs),
  clear(dir) {
    const had = existsSync(dir) && readdirSync(dir).length > 0;
    rmSync(dir, { recursive: true, force: true });
    return had;
  },
};
