/**
 * `node bench/measure/cold-store-candidates.ts [--entries N] [--keys K] [--reads R] [--only a,b]`
 *
 * Side by side, in ONE process one after another, the candidates for the on-disk part of the
 * time-bucketed state (issue 18): an entry keyed like the attribution's clicks (`user\0product`,
 * event time, a 16-byte click id, a source string) is written in batches, then read back by key
 * (every entry of a random key, in (time, ord) order: what a checkout's look-up does).
 * Figures per candidate: inserts/s, reads/s, p99 of one read, bytes on disk; and the ratios to
 * node:sqlite. `lmdb` and `classic-level` are not dependencies of flowmark: install them beside
 * (`npm install --no-save lmdb classic-level`) or the script skips them, saying so.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    keys: { type: 'string', default: '200000' },
    reads: { type: 'string', default: '50000' },
    only: { type: 'string' },
    'modules-from': { type: 'string' },
  },
});
const ENTRIES = Number(values.entries);
const KEYS = Number(values.keys);
const READS = Number(values.reads);
const BATCH = 10_000;
const require = createRequire(
  values['modules-from'] === undefined ? import.meta.url : join(values['modules-from'], 'x.js'),
);

/** A deterministic generator (mulberry32): every candidate sees the same data and the same reads. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SOURCES = ['google_ads', 'facebook', 'email', 'direct', 'tiktok', 'instagram'];
interface Entry {
  key: string;
  time: number;
  ord: number;
  id: Uint8Array;
  source: string;
}
function* entries(): Generator<Entry> {
  const r = rng(7);
  const t0 = Date.UTC(2026, 0, 1);
  for (let i = 0; i < ENTRIES; i++) {
    const u = Math.floor(r() * KEYS);
    const id = new Uint8Array(16);
    for (let j = 0; j < 16; j++) id[j] = Math.floor(r() * 256);
    yield {
      key: `user-${u % (KEYS / 4)}\u0000product-${u % 997}`,
      time: t0 + i * 10,
      ord: i,
      id,
      source: SOURCES[i % SOURCES.length] as string,
    };
  }
}
function readKeys(): string[] {
  const r = rng(11);
  const out: string[] = [];
  for (let i = 0; i < READS; i++) {
    const u = Math.floor(r() * KEYS);
    out.push(`user-${u % (KEYS / 4)}\u0000product-${u % 997}`);
  }
  return out;
}

function dirBytes(path: string): number {
  let n = 0;
  for (const name of readdirSync(path, { recursive: true }) as string[]) {
    const s = statSync(join(path, name));
    if (s.isFile()) n += s.size;
  }
  return n;
}

interface Candidate {
  name: string;
  /** Writes every entry; returns when durable enough to read. */
  write(dir: string): Promise<void>;
  /** Reads every entry of `key`; returns how many. */
  read(key: string): number | Promise<number>;
  close(): Promise<void> | void;
}

function sqliteCandidate(): Candidate {
  const { DatabaseSync } = require('node:sqlite') as typeof import('node:sqlite');
  let db: import('node:sqlite').DatabaseSync;
  let select: import('node:sqlite').StatementSync;
  return {
    name: 'node:sqlite',
    async write(dir) {
      db = new DatabaseSync(join(dir, 'segment.sqlite'));
      db.exec('PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;');
      db.exec(
        'CREATE TABLE e (k TEXT NOT NULL, t INTEGER NOT NULL, o INTEGER NOT NULL, id BLOB, src TEXT, PRIMARY KEY (k, t, o)) WITHOUT ROWID',
      );
      const ins = db.prepare('INSERT INTO e VALUES (?, ?, ?, ?, ?)');
      let n = 0;
      db.exec('BEGIN');
      for (const e of entries()) {
        ins.run(e.key, e.time, e.ord, e.id, e.source);
        if (++n % BATCH === 0) {
          db.exec('COMMIT');
          db.exec('BEGIN');
        }
      }
      db.exec('COMMIT');
      select = db.prepare('SELECT t, o, id, src FROM e WHERE k = ? ORDER BY t, o');
    },
    read(key) {
      return select.all(key).length;
    },
    close() {
      db.close();
    },
  };
}

/** The little of lmdb's API used here (it is not a dependency, so no types). */
interface LmdbDb {
  transactionSync(f: () => void): void;
  putSync(key: unknown[], value: unknown): void;
  getRange(o: { start: unknown[]; end: unknown[] }): Iterable<unknown>;
  close(): Promise<void>;
}
/** The little of classic-level's API used here. */
interface LevelDb {
  open(): Promise<void>;
  batch(ops: object[]): Promise<void>;
  compactRange(a: string, b: string): Promise<void>;
  iterator(o: { gte: string; lt: string }): AsyncIterable<unknown>;
  close(): Promise<void>;
}

function lmdbCandidate(): Candidate {
  const { open } = require('lmdb') as { open: (o: object) => LmdbDb };
  let db: LmdbDb;
  return {
    name: 'lmdb',
    async write(dir) {
      db = open({ path: join(dir, 'segment.mdb'), compression: false, noSync: true, noMemInit: true });
      let batch: Entry[] = [];
      const flush = () => {
        const b = batch;
        db.transactionSync(() => {
          for (const e of b) db.putSync([e.key, e.time, e.ord], [e.id, e.source]);
        });
        batch = [];
      };
      for (const e of entries()) {
        batch.push(e);
        if (batch.length === BATCH) flush();
      }
      flush();
    },
    read(key) {
      let n = 0;
      for (const _ of db.getRange({ start: [key], end: [key, Number.MAX_SAFE_INTEGER] })) n++;
      return n;
    },
    async close() {
      await db.close();
    },
  };
}

function levelCandidate(): Candidate {
  const { ClassicLevel } = require('classic-level') as { ClassicLevel: new (p: string, o: object) => LevelDb };
  let db: LevelDb;
  // Keys sort as bytes: the key, a 0xff separator (keys hold \0 but never 0xff), the time and ord
  // as fixed-width hex.
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return {
    name: 'classic-level',
    async write(dir) {
      db = new ClassicLevel(join(dir, 'segment.level'), { keyEncoding: 'utf8', valueEncoding: 'view' });
      await db.open();
      let ops: object[] = [];
      for (const e of entries()) {
        const v = new Uint8Array(16 + e.source.length);
        v.set(e.id);
        v.set(Buffer.from(e.source), 16);
        ops.push({ type: 'put', key: `${e.key}\uffff${hex(e.time, 12)}${hex(e.ord, 8)}`, value: v });
        if (ops.length === BATCH) {
          await db.batch(ops);
          ops = [];
        }
      }
      await db.batch(ops);
      await db.compactRange('', '\uffff\uffff');
    },
    async read(key) {
      let n = 0;
      for await (const _ of db.iterator({ gte: `${key}\uffff`, lt: `${key}\uffff\uffff` })) n++;
      return n;
    },
    async close() {
      await db.close();
    },
  };
}

const makers: Record<string, () => Candidate> = {
  'node:sqlite': sqliteCandidate,
  lmdb: lmdbCandidate,
  'classic-level': levelCandidate,
};
const chosen = values.only === undefined ? Object.keys(makers) : values.only.split(',');
const results: Array<{
  name: string;
  insertsPerS: number;
  readsPerS: number;
  p99Us: number;
  bytes: number;
  found: number;
}> = [];
console.log(
  `entries ${ENTRIES}, keys ${KEYS}, reads ${READS}; load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const name of chosen) {
  let c: Candidate;
  try {
    c = (makers[name] as () => Candidate)();
  } catch (err) {
    console.log(`${name}: skipped (${(err as Error).message.split('\n')[0]})`);
    continue;
  }
  const dir = mkdtempSync(join(tmpdir(), 'cold-cand-'));
  try {
    const t0 = performance.now();
    await c.write(dir);
    const t1 = performance.now();
    const keys = readKeys();
    const lat = new Float64Array(keys.length);
    let found = 0;
    const t2 = performance.now();
    for (let i = 0; i < keys.length; i++) {
      const s = performance.now();
      found += await c.read(keys[i] as string);
      lat[i] = performance.now() - s;
    }
    const t3 = performance.now();
    lat.sort();
    await c.close();
    const r = {
      name,
      insertsPerS: Math.round(ENTRIES / ((t1 - t0) / 1000)),
      readsPerS: Math.round(keys.length / ((t3 - t2) / 1000)),
      p99Us: Math.round((lat[Math.floor(lat.length * 0.99)] as number) * 1000),
      bytes: dirBytes(dir),
      found,
    };
    results.push(r);
    console.log(JSON.stringify(r), `load ${loadavg()[0]?.toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const base = results.find((r) => r.name === 'node:sqlite');
if (base !== undefined) {
  for (const r of results) {
    console.log(
      `${r.name.padEnd(14)} inserts ×${(r.insertsPerS / base.insertsPerS).toFixed(2)}  reads ×${(r.readsPerS / base.readsPerS).toFixed(2)}  ` +
        `p99 ×${(r.p99Us / base.p99Us).toFixed(2)}  size ×${(r.bytes / base.bytes).toFixed(2)}`,
    );
  }
}
