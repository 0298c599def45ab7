import { FlowmarkError } from '../errors.ts';
import type { ColdStorage } from './cold-storage.ts';
import {
  type ColumnCodec,
  type ColumnSpecs,
  type ColumnValue,
  formatUuid,
  isUuidFallback,
  NULL_ID,
  parseUuid,
  type Row,
  UUID_MARK,
} from './column-codecs.ts';
import { EMPTY, IdIndex } from './id-index.ts';
import { KeyFilter } from './key-filter.ts';
import { KeyIndex } from './key-index.ts';
import type { CellValue, ColdEntry, ColdSegment, SegmentIdentity } from './segment-store.ts';
import { type ChunkSection, type ChunkView, chunkStrings, encodeChunk, openChunk } from './state-chunk-codec.ts';
import type { StateSize } from './state-table.ts';
import { StringDictionary } from './string-dictionary.ts';

/**
 * The declaration of a time-bucketed table, made by the operator with its state (as Arroyo's
 * operators declare their tables): a name, how long an entry lives past its event time, and the
 * codec of each field.
 */
export interface TimeBucketedTableSpec<S extends ColumnSpecs> {
  /** Unique within the operator; chunks carry it. */
  name: string;
  /**
   * An entry with event time `t` expires once the watermark is > t + retentionMs: reads no longer
   * see it, and its bucket is dropped whole once every entry in it has expired.
   */
  retentionMs: number;
  /** Width of the event-time buckets; default retention / 8 (at least 1 ms, at most 2^30 ms). */
  bucketWidthMs?: number;
  /** Field → codec, in this order in memory and in chunks. */
  columns: S;
  /** The column that breaks ties between entries of one key at the same time (smaller first). */
  idColumn?: keyof S & string;
}

/** One checkpoint's worth of a table, from {@link TimeBucketedTable.takeChunk}. */
export interface TableChunk {
  table: string;
  /** Numbers the chunks of a table; restore applies them in this order. */
  seq: number;
  bytes: Uint8Array;
  /** Smallest and largest event time of an entry or a delete in the chunk. */
  minTimeMs: number;
  maxTimeMs: number;
  /**
   * maxTimeMs + retention: once the committed watermark of the table's step is > this, every entry
   * in the chunk has expired and a store may delete it (a restore would skip it anyway).
   */
  expiresAtMs: number;
  inserts: number;
  deletes: number;
}

/** A chunk to restore: its bytes, with the name errors should use (a row id, a file name). */
export type ChunkInput = Uint8Array | { bytes: Uint8Array; name: string };

/** Entries a page holds at most; an entry's ref is page id × PAGE + slot. */
const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;
const SLOT_MASK = PAGE - 1;
/** The first page of a bucket is small, so that a small table stays small. */
const FIRST_PAGE = 64;
const MAX_BUCKET_WIDTH_MS = 2 ** 30;
/** The id `findId` looks for, as the four words of a UUID (one scratch array, not one per call). */
const ID_PROBE = new Uint32Array(4);
/** A number's bits, for hashing an `f64`/`timeMs` id. */
const F64_SCRATCH = new Float64Array(1);
const F64_WORDS = new Uint32Array(F64_SCRATCH.buffer);

/** The hash of an entry in the {@link IdIndex}: its key id and the words of its id cell. */
function idHash(k: number, w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(k ^ 0x2545f491, 0x9e3779b1);
  h = Math.imul(h ^ w0, 0x85ebca6b);
  h = Math.imul(h ^ w1, 0xc2b2ae35);
  h = Math.imul(h ^ w2, 0x9e3779b1);
  h = Math.imul(h ^ w3, 0x85ebca6b);
  return h ^ (h >>> 16);
}
/**
 * Refs from here on name entries read from the on-disk segments (index into the table's scratch
 * list of them), not slots of pages: page refs stay below 2^31.
 */
const COLD_REF = 2 ** 31;
/** Bytes a page costs besides its typed arrays (the object, its array of cells). */
const PAGE_OVERHEAD = 200;
/** A key's two filter hashes (one scratch array, not one per read). */
const KEY_HASHES = new Uint32Array(2);

type Cells = Int32Array | Uint32Array | Float64Array;

interface Bucket {
  index: number;
  startMs: number;
  pages: Page[];
  maxTimeMs: number;
  /** Entries not deleted. */
  live: number;
}

interface Page {
  id: number;
  bucket: Bucket;
  capacity: number;
  count: number;
  /** Slots below this were in a chunk already (or restored from one). */
  taken: number;
  dead: boolean;
  /** Key id per slot; −1 once the entry is deleted. */
  keys: Int32Array;
  /** Event time − the bucket's start. */
  times: Int32Array;
  /** The next entry of the same key (the next later one), or −1. */
  next: Int32Array;
  cells: Cells[];
}

interface Column {
  name: string;
  codec: ColumnCodec;
}

/**
 * Keyed state for entries that carry an event time and expire by the watermark: the attribution's
 * clicks and pending checkouts, a de-duplication set. Built for millions of entries:
 *
 * - **No object per entry.** Entries live in columns of typed arrays, in pages of up to 4096, each
 *   page in one event-time bucket. Strings are interned (`string` columns: a refcounted
 *   dictionary), UUIDs held as 16 bytes, keys in a byte arena ({@link KeyIndex}).
 * - **Per-key reads by time.** Each key's entries form a chain in (time, insertion) order: a key
 *   costs a head and a tail ref; `first`, `last` and `range` walk it from the oldest entry.
 * - **Expiry by whole buckets.** `advanceWatermark` drops every bucket whose latest entry has
 *   expired, in one pass over its pages: no per-key TTL heap, no timer per entry. Entries that
 *   expired in a bucket not yet dropped are invisible to every read.
 * - **Incremental checkpoints in bytes.** `takeChunk` encodes only the entries added and the
 *   deletes made since the previous call (one chunk, see `state-chunk-codec.ts`); `restore`
 *   decodes chunks straight into the pages, skipping what the watermark has expired.
 *
 * A ref (what `first`, `last` and `range` return) is valid until the next insert, delete or
 * watermark advance.
 *
 * @example
 * const clicks = new TimeBucketedTable({
 *   name: 'clicks', retentionMs: 3_600_000, idColumn: 'clickId',
 *   columns: { clickId: 'uuid', source: 'string' },
 * });
 * clicks.insert('u1\u0000p1', 1_000, { clickId: '0b6c…', source: 'google_ads' });
 * const ref = clicks.first('u1\u0000p1', 5_000 - 3_600_000, 5_000); // the first click in the lookback
 * clicks.value(ref, 'source'); // 'google_ads'
 */
export class TimeBucketedTable<S extends ColumnSpecs> {
  readonly name: string;
  readonly retentionMs: number;
  readonly bucketWidthMs: number;
  readonly #cols: Column[];
  readonly #colIndex = new Map<string, number>();
  readonly #idCol: number;
  readonly #keys = new KeyIndex();
  readonly #dict = new StringDictionary();
  #head = new Int32Array(16).fill(-1);
  #tail = new Int32Array(16).fill(-1);
  #pages: Array<Page | undefined> = [];
  readonly #freePages: number[] = [];
  readonly #buckets = new Map<number, Bucket>();
  /** Bucket indexes, ascending. */
  readonly #order: number[] = [];
  #size = 0;
  #watermarkMs = Number.NEGATIVE_INFINITY;
  #cutoffMs = Number.NEGATIVE_INFINITY;
  #seq = 0;
  /** Deletes of entries already in a chunk, for the next chunk. */
  #delKeys: string[] = [];
  #delTimes: number[] = [];
  #delIds: Array<string | number | null> = [];
  readonly #uuidScratch = new Uint32Array(4);
  #lastBucket: Bucket | undefined;
  /** The entries by (key, id), when the table has an id column: `findId` without a chain walk. */
  readonly #ids: IdIndex | undefined;
  /** Bytes of the pages in memory, kept as pages come and go (the budget reads it often). */
  #pageBytes = 0;
  #storage: ColdStorage | undefined;
  #coldDir = '';
  /** Buckets moved to disk: bucket index → its segment, and the indexes ascending. */
  readonly #cold = new Map<number, ColdSegment>();
  readonly #coldOrder: number[] = [];
  /** Entries read from segments since the last change; a cold ref indexes this list. */
  #coldRows: ColdEntry[] = [];
  /** The id of this table's checkpoint history, in its chunks' headers (only with a local store). */
  #lineage: string | undefined;
  /** False once entries were marked taken without a chunk (`skipChunk`): no segment may be reused then. */
  #chunked = true;
  /** Whether the directory was validated by a restore, or emptied, before the first segment. */
  #dirReady = false;
  /** Segments the last restore reused instead of decoding their chunks (stats, tests). */
  #reused = { segments: 0, entries: 0, chunksSkipped: 0 };

  constructor(spec: TimeBucketedTableSpec<S>) {
    const invalid = (why: string) =>
      new FlowmarkError('FM_PIPELINE_INVALID', `time-bucketed state ${spec.name}: ${why}`);
    if (!Number.isSafeInteger(spec.retentionMs) || spec.retentionMs < 0) {
      throw invalid(`retentionMs must be a non-negative integer of milliseconds, got ${spec.retentionMs}`);
    }
    const width = spec.bucketWidthMs ?? Math.min(MAX_BUCKET_WIDTH_MS, Math.max(1, Math.ceil(spec.retentionMs / 8)));
    if (!Number.isSafeInteger(width) || width < 1 || width > MAX_BUCKET_WIDTH_MS) {
      throw invalid(`bucketWidthMs must be an integer in [1, 2^30], got ${width}`);
    }
    this.name = spec.name;
    this.retentionMs = spec.retentionMs;
    this.bucketWidthMs = width;
    this.#cols = Object.entries(spec.columns).map(([name, codec]) => ({ name, codec }));
    for (const [i, c] of this.#cols.entries()) this.#colIndex.set(c.name, i);
    this.#idCol = spec.idColumn === undefined ? -1 : (this.#colIndex.get(spec.idColumn) ?? -2);
    if (this.#idCol === -2) throw invalid(`idColumn ${spec.idColumn} is not one of its columns`);
    this.#ids = this.#idCol < 0 ? undefined : new IdIndex({ hashOfRef: (ref) => this.#entryHash(ref) });
  }

  /** Entries held: not deleted, in buckets not dropped yet (some may have expired already). */
  get size(): number {
    return this.#size;
  }

  /** Keys with at least one entry held. */
  get keyCount(): number {
    return this.#keys.size;
  }

  get watermarkMs(): number {
    return this.#watermarkMs;
  }

  /**
   * Lets the table move its oldest sealed buckets to segment files under `dir` when the tables
   * sharing `storage` hold more than its memory budget (see "Cold segments" in docs/engine.md).
   * Reads see the entries on disk as if they were in memory. Call before the first insert.
   */
  useColdStorage(storage: ColdStorage, dir: string): void {
    this.#storage = storage;
    this.#coldDir = dir;
    storage.join(this);
  }

  /** Bytes this table holds in memory now (what the memory budget counts). */
  memoryBytes(): number {
    let n =
      this.#pageBytes + this.#keys.bytes() + this.#head.byteLength + this.#tail.byteLength + (this.#ids?.bytes() ?? 0);
    for (const seg of this.#cold.values()) n += seg.memoryBytes;
    return n;
  }

  /** Buckets held on disk, and their entries (tests, stats). */
  coldStats(): {
    segments: number;
    entries: number;
    files: string[];
    reused: { segments: number; entries: number; chunksSkipped: number };
  } {
    let entries = 0;
    for (const seg of this.#cold.values()) entries += seg.live;
    return {
      segments: this.#cold.size,
      entries,
      files: [...this.#cold.values()].map((s) => s.path),
      reused: { ...this.#reused },
    };
  }

  /** Closes the open segment files (they stay on disk); the table must not be used after. */
  closeColdStorage(): void {
    for (const seg of this.#cold.values()) seg.close();
    this.#storage?.leave(this);
  }

  /** Entries with an event time below this have expired (watermark − retention). */
  get cutoffMs(): number {
    return this.#cutoffMs;
  }

  /**
   * Adds an entry of `key` at `timeMs` (an integer). Returns false, adding nothing, when the entry
   * has expired already (timeMs + retention < watermark). Entries of a key at the same time keep
   * their insertion order; reads order them by the id column.
   */
  insert(key: string, timeMs: number, row: Row<S>): boolean {
    if (!Number.isSafeInteger(timeMs)) {
      throw this.#unfit(
        `the event time of key ${JSON.stringify(key)} must be an integer of milliseconds, got ${timeMs}`,
      );
    }
    if (timeMs < this.#cutoffMs) return false;
    this.#coldRows.length = 0;
    const cols = this.#cols;
    // Check every value before touching anything: a refused row leaves the table as it was.
    for (let c = 0; c < cols.length; c++)
      this.#check(key, cols[c] as Column, (row as Record<string, unknown>)[(cols[c] as Column).name]);
    const ref = this.#allocate(timeMs);
    const page = this.#pages[ref >>> PAGE_BITS] as Page;
    const slot = ref & SLOT_MASK;
    for (let c = 0; c < cols.length; c++) {
      this.#write(
        page.cells[c] as Cells,
        slot,
        (cols[c] as Column).codec,
        (row as Record<string, unknown>)[(cols[c] as Column).name],
      );
    }
    this.#attach(this.#internKey(key), ref, timeMs);
    return true;
  }

  /**
   * Deletes the entries of `key` at `timeMs` (with the id column's value `id`, when the table has
   * an id column). Returns how many went. Expired entries are gone already: 0.
   */
  delete(key: string, timeMs: number, id?: string | number | null): number {
    if (this.#idCol >= 0 && id === undefined) {
      throw this.#unfit(`delete of key ${JSON.stringify(key)} needs the value of the id column`);
    }
    return this.#delete(key, timeMs, id ?? null, true);
  }

  /**
   * The entry of `key` with the smallest (time, id) among those with fromMs ≤ time ≤ toMs that have
   * not expired (of equal ones, the first inserted: the first entry `range` would list), or −1.
   */
  first(key: string, fromMs: number, toMs: number): number {
    if (this.#cold.size > 0 && this.#mayBeCold(key, fromMs, toMs)) {
      const all = this.range(key, fromMs, toMs);
      return all.length > 0 ? (all[0] as number) : -1;
    }
    const k = this.#keys.find(key);
    if (k < 0) return -1;
    const lo = Math.max(fromMs, this.#cutoffMs);
    let r = this.#head[k] as number;
    let t = 0;
    for (; r >= 0; r = this.#nextOf(r)) {
      t = this.timeOf(r);
      if (t > toMs) return -1;
      if (t >= lo) break;
    }
    if (r < 0 || this.#idCol < 0) return r;
    let best = r;
    for (let n = this.#nextOf(r); n >= 0 && this.timeOf(n) === t; n = this.#nextOf(n)) {
      if (this.#compareIds(n, best) < 0) best = n;
    }
    return best;
  }

  /** The entry of `key` with the largest (time, id) in [fromMs, toMs] that has not expired (the last entry `range` would list), or −1. */
  last(key: string, fromMs: number, toMs: number): number {
    if (this.#cold.size > 0 && this.#mayBeCold(key, fromMs, toMs)) {
      const all = this.range(key, fromMs, toMs);
      return all.length > 0 ? (all.at(-1) as number) : -1;
    }
    const k = this.#keys.find(key);
    if (k < 0) return -1;
    const lo = Math.max(fromMs, this.#cutoffMs);
    let best = -1;
    let bestT = 0;
    for (let r = this.#head[k] as number; r >= 0; r = this.#nextOf(r)) {
      const t = this.timeOf(r);
      if (t > toMs) break;
      if (t < lo) continue;
      // Ties: the larger id, then the later insertion (the last entry `range` would list).
      if (best < 0 || t > bestT || (t === bestT && (this.#idCol < 0 || this.#compareIds(r, best) >= 0))) {
        best = r;
        bestT = t;
      }
    }
    return best;
  }

  /**
   * The entries of `key` with fromMs ≤ time ≤ toMs that have not expired, by (time, id), equal
   * ones in insertion order, appended to `out`.
   */
  range(key: string, fromMs: number, toMs: number, out: number[] = []): number[] {
    const lo = Math.max(fromMs, this.#cutoffMs);
    const start = out.length;
    const cold = this.#cold.size > 0 ? this.#coldRefs(key, lo, toMs) : undefined;
    const k = this.#keys.find(key);
    if (k < 0 && cold === undefined) return out;
    let c = 0;
    for (let r = k < 0 ? -1 : (this.#head[k] as number); r >= 0; r = this.#nextOf(r)) {
      const t = this.timeOf(r);
      if (t > toMs) break;
      if (t < lo) continue;
      // Entries on disk and in memory never share a time (a bucket is wholly in one place): merge by time.
      if (cold !== undefined)
        while (c < cold.length && this.timeOf(cold[c] as number) < t) out.push(cold[c++] as number);
      out.push(r);
    }
    if (cold !== undefined) while (c < cold.length) out.push(cold[c++] as number);
    if (this.#idCol >= 0) {
      // Insertion sort by (time, id): the chain is in time order already, only ties move.
      for (let i = start + 1; i < out.length; i++) {
        const r = out[i] as number;
        const t = this.timeOf(r);
        let j = i - 1;
        while (j >= start && this.timeOf(out[j] as number) === t && this.#compareIds(out[j] as number, r) > 0) {
          out[j + 1] = out[j] as number;
          j--;
        }
        out[j + 1] = r;
      }
    }
    return out;
  }

  /**
   * The oldest entry of `key` that has not expired whose id column equals `id`, or −1: a membership
   * test that makes no string per entry (a UUID is compared as its 16 bytes).
   */
  findId(key: string, id: string | number | null): number {
    const c = this.#idCol;
    if (c < 0) throw this.#unfit(`findId on key ${JSON.stringify(key)} needs an id column`);
    if (this.#cold.size > 0 && this.#mayBeCold(key, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY)) {
      // Of equal (time, id) entries, range keeps insertion order: the first match is the oldest.
      for (const r of this.range(key, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY)) {
        if (this.#read(r, c) === id) return r;
      }
      return -1;
    }
    const k = this.#keys.find(key);
    if (k < 0) return -1;
    // The id as the words its cell would hold; an id no entry can hold (a string not in the
    // dictionary, a value of another type) matches nothing.
    const codec = (this.#cols[c] as Column).codec;
    const p = ID_PROBE;
    let words = 1;
    /** The cell of a one-word id: a dictionary id (`string`) or the number. */
    let value: number;
    if (codec === 'uuid') {
      words = 4;
      value = 0;
      if (typeof id !== 'string' || !parseUuid(id, p, 0)) {
        const d = id === null ? UUID_MARK : typeof id === 'string' ? this.#dict.find(id) : -1;
        if (d === -1) return -1;
        p[0] = UUID_MARK;
        p[1] = UUID_MARK;
        p[2] = UUID_MARK;
        p[3] = d;
      }
    } else if (codec === 'string') {
      if (id !== null && typeof id !== 'string') return -1;
      value = id === null ? NULL_ID : this.#dict.find(id);
      if (value === -1 && id !== null) return -1;
    } else if (typeof id === 'number') value = id;
    else return -1;
    const hash =
      words === 4
        ? idHash(k, p[0] as number, p[1] as number, p[2] as number, p[3] as number)
        : codec === 'string'
          ? idHash(k, value, 0, 0, 0)
          : this.#numberHash(k, codec, value);
    const ids = this.#ids as IdIndex;
    let found = -1;
    let matches = 0;
    for (let i = ids.start(hash); ; i = ids.step(i)) {
      const r = ids.refAt(i);
      if (r === EMPTY) break;
      if (r < 0) continue;
      const page = this.#pages[r >>> PAGE_BITS] as Page;
      const s = r & SLOT_MASK;
      if (page.keys[s] !== k) continue;
      const cells = page.cells[c] as Cells;
      if (words === 4) {
        const at = 4 * s;
        if (cells[at] !== p[0] || cells[at + 1] !== p[1] || cells[at + 2] !== p[2] || cells[at + 3] !== p[3]) continue;
      } else if (cells[s] !== value) continue;
      if (this.timeOf(r) < this.#cutoffMs) continue;
      found = r;
      matches++;
    }
    // One entry of a key with this id is the rule (the attribution checks before it inserts); for
    // several, the chain knows which is the oldest.
    return matches <= 1 ? found : this.#findIdInChain(k, c, words, value);
  }

  /** `findId` by walking key `k`'s chain: the oldest match of ID_PROBE (a uuid) or `value` (one word). */
  #findIdInChain(k: number, c: number, words: number, value: number): number {
    for (let r = this.#head[k] as number; r >= 0; r = this.#nextOf(r)) {
      if (this.timeOf(r) < this.#cutoffMs) continue;
      const cells = (this.#pages[r >>> PAGE_BITS] as Page).cells[c] as Cells;
      const s = r & SLOT_MASK;
      if (words === 4) {
        const at = 4 * s;
        if (
          cells[at] === ID_PROBE[0] &&
          cells[at + 1] === ID_PROBE[1] &&
          cells[at + 2] === ID_PROBE[2] &&
          cells[at + 3] === ID_PROBE[3]
        )
          return r;
      } else if (cells[s] === value) return r;
    }
    return -1;
  }

  /** The index hash of entry `ref` (its key id and id cell), as `findId` computes it for a probe. */
  #entryHash(ref: number): number {
    const page = this.#pages[ref >>> PAGE_BITS] as Page;
    const s = ref & SLOT_MASK;
    const k = page.keys[s] as number;
    const c = this.#idCol;
    const codec = (this.#cols[c] as Column).codec;
    const cells = page.cells[c] as Cells;
    if (codec === 'uuid') {
      const at = 4 * s;
      return idHash(k, cells[at] as number, cells[at + 1] as number, cells[at + 2] as number, cells[at + 3] as number);
    }
    if (codec === 'string') return idHash(k, cells[s] as number, 0, 0, 0);
    return this.#numberHash(k, codec, cells[s] as number);
  }

  #numberHash(k: number, codec: ColumnCodec, v: number): number {
    if (codec === 'i32') return idHash(k, v, 0, 0, 0);
    F64_SCRATCH[0] = v === 0 ? 0 : v; // −0 and 0 are one id
    return idHash(k, F64_WORDS[0] as number, F64_WORDS[1] as number, 0, 0);
  }

  /** The event time of the entry `ref`. */
  timeOf(ref: number): number {
    if (ref >= COLD_REF) return (this.#coldRows[ref - COLD_REF] as ColdEntry).timeMs;
    const page = this.#pages[ref >>> PAGE_BITS] as Page;
    return page.bucket.startMs + (page.times[ref & SLOT_MASK] as number);
  }

  /** One field of the entry `ref`. */
  value<K extends keyof S & string>(ref: number, column: K): ColumnValue<S[K]> {
    const c = this.#colIndex.get(column);
    if (c === undefined) throw new RangeError(`time-bucketed state ${this.name} has no column ${column}`);
    return this.#read(ref, c) as ColumnValue<S[K]>;
  }

  /** Every field of the entry `ref`, as an object (for tests and tools; the hot path reads `value`). */
  row(ref: number): Row<S> {
    const out: Record<string, unknown> = {};
    for (let c = 0; c < this.#cols.length; c++) out[(this.#cols[c] as Column).name] = this.#read(ref, c);
    return out as Row<S>;
  }

  /** The key of the entry `ref`. */
  keyOf(ref: number): string {
    if (ref >= COLD_REF) return (this.#coldRows[ref - COLD_REF] as ColdEntry).key;
    const page = this.#pages[ref >>> PAGE_BITS] as Page;
    return this.#keys.keyOf(page.keys[ref & SLOT_MASK] as number);
  }

  /** Keys holding entries (some entries may have expired in buckets not dropped yet). */
  *keys(): IterableIterator<string> {
    for (const id of this.#keys.ids()) yield this.#keys.keyOf(id);
  }

  /**
   * Moves the watermark (never back) and drops every bucket whose entries have all expired.
   * Returns how many buckets went. The owning operator calls it whenever its watermark advances.
   */
  advanceWatermark(watermarkMs: number): number {
    if (!(watermarkMs > this.#watermarkMs)) return 0;
    this.#watermarkMs = watermarkMs;
    this.#cutoffMs = watermarkMs - this.retentionMs;
    this.#coldRows.length = 0;
    let dropped = 0;
    // Segments on disk first: a whole expired segment goes as one file.
    while (this.#coldOrder.length > 0) {
      const seg = this.#cold.get(this.#coldOrder[0] as number) as ColdSegment;
      if (!(seg.maxTimeMs < this.#cutoffMs)) break;
      seg.destroy();
      this.#size -= seg.live;
      this.#cold.delete(seg.index);
      this.#coldOrder.shift();
      dropped++;
    }
    // Buckets partition time: once the oldest one holds an entry that has not expired, so do all later ones.
    while (this.#order.length > 0) {
      const b = this.#buckets.get(this.#order[0] as number) as Bucket;
      if (!(b.maxTimeMs < this.#cutoffMs)) break;
      this.#drop(b);
      this.#order.shift();
      dropped++;
    }
    if (this.#storage !== undefined) this.#spillOverBudget(Number.POSITIVE_INFINITY, false);
    return dropped;
  }

  /**
   * The entries added and the deletes made since the previous call, as one binary chunk (or
   * undefined when there are none). Entries that were added and deleted, or that expired, in
   * between are left out.
   */
  takeChunk(): TableChunk | undefined {
    const cutoff = this.#cutoffMs;
    let n = 0;
    for (const b of this.#bucketsInOrder()) {
      for (const p of b.pages) {
        for (let s = p.taken; s < p.count; s++)
          if ((p.keys[s] as number) >= 0 && b.startMs + (p.times[s] as number) >= cutoff) n++;
      }
    }
    let d = 0;
    for (let i = 0; i < this.#delTimes.length; i++) if ((this.#delTimes[i] as number) >= cutoff) d++;
    const strings: string[] = [];
    // Chunk string index per key id (−1: not in the chunk yet): a typed array, not a Map, since a
    // chunk may hold a million keys.
    const keyStrings = new Int32Array(n > 0 ? this.#keys.capacity : 0).fill(-1);
    const delKeyStrings = new Map<string, number>();
    const cellStrings = new Map<number, number>();
    const keyString = (k: number): number => {
      let i = keyStrings[k] as number;
      if (i < 0) {
        const s = this.#keys.keyOf(k);
        i = (d > 0 ? delKeyStrings.get(s) : undefined) ?? strings.push(s) - 1;
        keyStrings[k] = i;
      }
      return i;
    };
    const cellString = (id: number): number => {
      let i = cellStrings.get(id);
      if (i === undefined) {
        i = strings.push(this.#dict.stringOf(id)) - 1;
        cellStrings.set(id, i);
      }
      return i;
    };
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    const deletes = this.#section(d, this.#idCol >= 0 ? [this.#idCol] : []);
    let j = 0;
    for (let i = 0; i < this.#delTimes.length; i++) {
      const t = this.#delTimes[i] as number;
      if (t < cutoff) continue;
      const key = this.#delKeys[i] as string;
      let ki = delKeyStrings.get(key);
      if (ki === undefined) {
        ki = strings.push(key) - 1;
        delKeyStrings.set(key, ki);
      }
      deletes.keys[j] = ki;
      deletes.times[j] = t;
      if (this.#idCol >= 0) {
        this.#encodeCell(
          deletes.cells[0] as Cells,
          j,
          (this.#cols[this.#idCol] as Column).codec,
          this.#delIds[i] ?? null,
          strings,
        );
      }
      if (t < min) min = t;
      if (t > max) max = t;
      j++;
    }
    const inserts = this.#section(
      n,
      this.#cols.map((_, c) => c),
    );
    j = 0;
    for (const b of this.#bucketsInOrder()) {
      for (const p of b.pages) {
        for (let s = p.taken; s < p.count; s++) {
          const k = p.keys[s] as number;
          const t = b.startMs + (p.times[s] as number);
          if (k < 0 || t < cutoff) continue;
          inserts.keys[j] = keyString(k);
          inserts.times[j] = t;
          for (let c = 0; c < this.#cols.length; c++) {
            const col = this.#cols[c] as Column;
            const from = p.cells[c] as Cells;
            const to = inserts.cells[c] as Cells;
            if (col.codec === 'string') {
              const id = from[s] as number;
              to[j] = id < 0 ? -1 : cellString(id);
            } else if (col.codec === 'uuid') {
              to[4 * j] = from[4 * s] as number;
              to[4 * j + 1] = from[4 * s + 1] as number;
              to[4 * j + 2] = from[4 * s + 2] as number;
              to[4 * j + 3] = from[4 * s + 3] as number;
              if (isUuidFallback(from as Uint32Array, 4 * s)) {
                const id = from[4 * s + 3] as number;
                to[4 * j + 3] = id === UUID_MARK ? UUID_MARK : cellString(id);
              }
            } else to[j] = from[s] as number;
          }
          if (t < min) min = t;
          if (t > max) max = t;
          j++;
        }
        p.taken = p.count;
      }
    }
    this.#delKeys = [];
    this.#delTimes = [];
    this.#delIds = [];
    if (n + d === 0) {
      if (this.#storage !== undefined) this.#spillOverBudget(Number.POSITIVE_INFINITY, false);
      return undefined;
    }
    const seq = ++this.#seq;
    if (this.#storage !== undefined) {
      this.#lineage ??= globalThis.crypto.randomUUID();
      // Buckets just taken into this chunk (#seq) may go to disk now: only what a chunk holds ever does.
      this.#spillOverBudget(Number.POSITIVE_INFINITY, false);
    }
    const bytes = encodeChunk({
      header: {
        table: this.name,
        seq,
        retentionMs: this.retentionMs,
        columns: this.#cols.map((c) => [c.name, c.codec]),
        idColumn: this.#idCol >= 0 ? (this.#cols[this.#idCol] as Column).name : null,
        minTimeMs: min,
        maxTimeMs: max,
        ...(this.#lineage === undefined ? {} : { lineage: this.#lineage }),
      },
      strings,
      deletes,
      inserts,
    });
    return {
      table: this.name,
      seq,
      bytes,
      minTimeMs: min,
      maxTimeMs: max,
      expiresAtMs: max + this.retentionMs,
      inserts: n,
      deletes: d,
    };
  }

  /**
   * Forgets the changes since the previous chunk without encoding them: for a run whose
   * checkpoints keep no state (a replay), so that it neither pays for chunks nor holds deletes.
   */
  skipChunk(): void {
    for (const b of this.#buckets.values()) for (const p of b.pages) p.taken = p.count;
    this.#delKeys = [];
    this.#delTimes = [];
    this.#delIds = [];
    this.#chunked = false;
    if (this.#storage !== undefined) this.#spillOverBudget(Number.POSITIVE_INFINITY, false);
  }

  /**
   * Loads chunks (every chunk of this table still stored, in any order) into this empty table, as
   * of `watermarkMs`: chunks are applied by sequence number, each chunk's deletes before its
   * inserts, and entries that have expired by the watermark are skipped. Every chunk is checked
   * first (frame, CRC-32, version, table and columns): a truncated, damaged or newer chunk throws,
   * naming it, before anything is loaded.
   */
  restore(chunks: Iterable<ChunkInput>, watermarkMs: number): void {
    if (this.#size > 0 || this.#buckets.size > 0 || this.#cold.size > 0 || this.#seq > 0 || this.#delTimes.length > 0) {
      throw new FlowmarkError(
        'FM_RUNTIME_STATE',
        `time-bucketed state ${this.name}: restore needs an empty table (it holds ${this.#size} entries)`,
      );
    }
    const views: ChunkView[] = [];
    let i = 0;
    for (const c of chunks) {
      const bytes = c instanceof Uint8Array ? c : c.bytes;
      const name = c instanceof Uint8Array ? `#${i} of table ${this.name}` : c.name;
      views.push(this.#checkView(openChunk(bytes, name)));
      i++;
    }
    views.sort((a, b) => a.header.seq - b.header.seq);
    for (let v = 1; v < views.length; v++) {
      if ((views[v] as ChunkView).header.seq === (views[v - 1] as ChunkView).header.seq) {
        throw new FlowmarkError(
          'FM_SNAPSHOT_MISMATCH',
          `state chunks ${(views[v - 1] as ChunkView).name} and ${(views[v] as ChunkView).name} have the same sequence ` +
            'number: the store holds a chunk twice (or of two jobs); restore from the checkpoint that wrote them',
        );
      }
    }
    const reused = this.#reuseSegments(views, watermarkMs);
    this.advanceWatermark(watermarkMs);
    // With a memory budget, buckets go to disk as the restore goes, so that restoring never holds
    // more than the budget: a bucket no later chunk touches (it ends before every later chunk's
    // smallest time, deletes included) is final once the chunks before have been applied.
    const laterMin = new Float64Array(views.length + 1).fill(Number.POSITIVE_INFINITY);
    for (let v = views.length - 1; v >= 0; v--) {
      const h = (views[v] as ChunkView).header;
      laterMin[v] =
        h.maxTimeMs < this.#cutoffMs ? (laterMin[v + 1] as number) : Math.min(h.minTimeMs, laterMin[v + 1] as number);
    }
    const w = this.bucketWidthMs;
    const allReused = (h: ChunkView['header']): boolean => {
      const lo = Math.floor(h.minTimeMs / w);
      const hi = Math.floor(h.maxTimeMs / w);
      if (reused.size === 0 || hi - lo + 1 > reused.size) return false;
      for (let i = lo; i <= hi; i++) if (!reused.has(i)) return false;
      return true;
    };
    for (const [v, view] of views.entries()) {
      if (!(view.header.maxTimeMs < this.#cutoffMs)) {
        // A chunk wholly inside reused segments is not decoded at all.
        if (allReused(view.header)) this.#reused.chunksSkipped++;
        else this.#apply(view, false, reused);
      }
      this.#seq = view.header.seq;
      if (this.#storage !== undefined) this.#spillOverBudget(laterMin[v + 1] as number, true);
    }
    for (const b of this.#buckets.values()) for (const p of b.pages) p.taken = p.count;
  }

  /**
   * Compaction: one chunk that restores exactly as a run of chunks of one table does, numbered as
   * the run's last (its inserts: the run's inserts not deleted within the run; its deletes: all of
   * the run's deletes, which may target entries of chunks before the run — a restore applies a
   * chunk's deletes before its inserts, so they cannot touch the run's own entries). Entries
   * expired by `watermarkMs` are left out; undefined when nothing is left. The run must be
   * contiguous among the table's chunks: a chunk in between could delete an entry of the run.
   */
  static merge(chunks: Iterable<ChunkInput>, watermarkMs: number): TableChunk | undefined {
    const views: ChunkView[] = [];
    let i = 0;
    for (const c of chunks) {
      views.push(openChunk(c instanceof Uint8Array ? c : c.bytes, c instanceof Uint8Array ? `#${i}` : c.name));
      i++;
    }
    if (views.length === 0) return undefined;
    views.sort((a, b) => a.header.seq - b.header.seq);
    const h = (views[0] as ChunkView).header;
    const merged = new TimeBucketedTable({
      name: h.table,
      retentionMs: h.retentionMs,
      columns: Object.fromEntries(h.columns) as ColumnSpecs,
      ...(h.idColumn === null ? {} : { idColumn: h.idColumn }),
    });
    for (const v of views) merged.#checkView(v);
    merged.advanceWatermark(watermarkMs);
    for (const v of views) merged.#apply(v, true);
    merged.#seq = (views.at(-1) as ChunkView).header.seq - 1;
    merged.#lineage = views.findLast((v) => v.header.lineage !== undefined)?.header.lineage;
    return merged.takeChunk();
  }

  /** Entries held and the bytes of the typed arrays and dictionaries holding them. */
  /** Entries held (in memory and on disk) and the bytes in memory: typed arrays, dictionaries, key filters. */
  measure(): StateSize {
    return { entries: this.#size, bytes: this.memoryBytes() + this.#dict.bytes() };
  }

  // ——— internals ———

  *#bucketsInOrder(): IterableIterator<Bucket> {
    for (const index of this.#order) yield this.#buckets.get(index) as Bucket;
  }

  #unfit(why: string): FlowmarkError {
    return new FlowmarkError('FM_STATE_NOT_SERIALIZABLE', `time-bucketed state ${this.name}: ${why}`);
  }

  #check(key: string, col: Column, v: unknown): void {
    const ok =
      col.codec === 'string' || col.codec === 'uuid'
        ? v === null || typeof v === 'string'
        : col.codec === 'i32'
          ? typeof v === 'number' && (v | 0) === v && !Object.is(v, -0)
          : typeof v === 'number';
    if (!ok) {
      throw this.#unfit(
        `column ${col.name} (${col.codec}) of key ${JSON.stringify(key)} cannot hold ${typeof v === 'string' ? JSON.stringify(v) : String(v)}: ` +
          'declare the column with the codec of its values',
      );
    }
  }

  /** Writes a checked value into slot `s` of a page's cells. */
  #write(cells: Cells, s: number, codec: ColumnCodec, v: unknown): void {
    if (codec === 'string') cells[s] = v === null ? NULL_ID : this.#dict.acquire(v as string);
    else if (codec === 'uuid') {
      const at = 4 * s;
      if (v !== null && parseUuid(v as string, cells as Uint32Array, at)) return;
      cells[at] = UUID_MARK;
      cells[at + 1] = UUID_MARK;
      cells[at + 2] = UUID_MARK;
      cells[at + 3] = v === null ? UUID_MARK : this.#dict.acquire(v as string);
    } else cells[s] = v as number;
  }

  /** Encodes a value into a chunk's cells (strings into the chunk's own list). */
  #encodeCell(cells: Cells, j: number, codec: ColumnCodec, v: string | number | null, strings: string[]): void {
    if (codec === 'string') cells[j] = v === null ? -1 : strings.push(v as string) - 1;
    else if (codec === 'uuid') {
      const at = 4 * j;
      if (v !== null && parseUuid(v as string, cells as Uint32Array, at)) return;
      cells[at] = UUID_MARK;
      cells[at + 1] = UUID_MARK;
      cells[at + 2] = UUID_MARK;
      cells[at + 3] = v === null ? UUID_MARK : strings.push(v as string) - 1;
    } else cells[j] = v as number;
  }

  #read(ref: number, c: number): string | number | null {
    if (ref >= COLD_REF) return (this.#coldRows[ref - COLD_REF] as ColdEntry).values[c] as CellValue;
    const page = this.#pages[ref >>> PAGE_BITS] as Page;
    const s = ref & SLOT_MASK;
    const cells = page.cells[c] as Cells;
    const codec = (this.#cols[c] as Column).codec;
    if (codec === 'string') {
      const id = cells[s] as number;
      return id < 0 ? null : this.#dict.stringOf(id);
    }
    if (codec === 'uuid') {
      if (!isUuidFallback(cells as Uint32Array, 4 * s)) return formatUuid(cells as Uint32Array, 4 * s);
      const id = cells[4 * s + 3] as number;
      return id === UUID_MARK ? null : this.#dict.stringOf(id);
    }
    return cells[s] as number;
  }

  #compareIds(a: number, b: number): number {
    const c = this.#idCol;
    const codec = (this.#cols[c] as Column).codec;
    if (codec === 'uuid' && a < COLD_REF && b < COLD_REF) {
      const pa = this.#pages[a >>> PAGE_BITS] as Page;
      const pb = this.#pages[b >>> PAGE_BITS] as Page;
      const wa = pa.cells[c] as Uint32Array;
      const wb = pb.cells[c] as Uint32Array;
      const ia = 4 * (a & SLOT_MASK);
      const ib = 4 * (b & SLOT_MASK);
      if (!isUuidFallback(wa, ia) && !isUuidFallback(wb, ib)) {
        for (let i = 0; i < 4; i++) {
          const d = (wa[ia + i] as number) - (wb[ib + i] as number);
          if (d !== 0) return d;
        }
        return 0;
      }
    }
    const va = this.#read(a, c);
    const vb = this.#read(b, c);
    if (va === vb) return 0;
    if (va === null) return -1;
    if (vb === null) return 1;
    return va < vb ? -1 : 1;
  }

  #nextOf(ref: number): number {
    return (this.#pages[ref >>> PAGE_BITS] as Page).next[ref & SLOT_MASK] as number;
  }

  #setNext(ref: number, to: number): void {
    (this.#pages[ref >>> PAGE_BITS] as Page).next[ref & SLOT_MASK] = to;
  }

  #internKey(key: string): number {
    const k = this.#keys.intern(key);
    if (k >= this.#head.length) {
      const n = Math.max(k + 1, Math.ceil(this.#head.length * 1.25) + 16);
      const head = new Int32Array(n).fill(-1);
      head.set(this.#head);
      this.#head = head;
      const tail = new Int32Array(n).fill(-1);
      tail.set(this.#tail);
      this.#tail = tail;
    }
    return k;
  }

  /** A slot for an entry at `timeMs` in its bucket, with its time set; not yet in a key's chain. */
  #allocate(timeMs: number): number {
    const index = Math.floor(timeMs / this.bucketWidthMs);
    // In-order input lands in the bucket of the previous entry: no Map look-up.
    let bucket = this.#lastBucket?.index === index ? this.#lastBucket : this.#buckets.get(index);
    if (bucket === undefined && this.#cold.size > 0 && this.#cold.has(index)) {
      // An entry for a bucket on disk (rare: an insert behind the watermark): the bucket comes back.
      this.#thaw(index);
      bucket = this.#buckets.get(index);
    }
    bucket ??= this.#newBucket(index, timeMs);
    this.#lastBucket = bucket;
    let page = bucket.pages[bucket.pages.length - 1];
    if (page === undefined || page.count === page.capacity) {
      page = this.#newPage(bucket, page === undefined ? FIRST_PAGE : Math.min(PAGE, page.capacity * 2));
    }
    const slot = page.count++;
    page.times[slot] = timeMs - bucket.startMs;
    if (timeMs > bucket.maxTimeMs) bucket.maxTimeMs = timeMs;
    return page.id * PAGE + slot;
  }

  #newBucket(index: number, maxTimeMs: number): Bucket {
    const bucket: Bucket = { index, startMs: index * this.bucketWidthMs, pages: [], maxTimeMs, live: 0 };
    this.#buckets.set(index, bucket);
    let lo = 0;
    let hi = this.#order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#order[mid] as number) < index) lo = mid + 1;
      else hi = mid;
    }
    this.#order.splice(lo, 0, index);
    return bucket;
  }

  #newPage(bucket: Bucket, capacity: number): Page {
    const id = this.#freePages.pop() ?? this.#pages.length;
    if (id >= 2 ** (31 - PAGE_BITS)) {
      throw new FlowmarkError('FM_RUNTIME_STATE', `time-bucketed state ${this.name} is full (2^31 entries)`);
    }
    const page: Page = {
      id,
      bucket,
      capacity,
      count: 0,
      taken: 0,
      dead: false,
      keys: new Int32Array(capacity),
      times: new Int32Array(capacity),
      next: new Int32Array(capacity),
      cells: this.#cols.map((c) =>
        c.codec === 'uuid'
          ? new Uint32Array(4 * capacity)
          : c.codec === 'string' || c.codec === 'i32'
            ? new Int32Array(capacity)
            : new Float64Array(capacity),
      ),
    };
    this.#pages[id] = page;
    bucket.pages.push(page);
    this.#pageBytes += pageBytes(page);
    return page;
  }

  /** Puts the allocated entry `ref` into key `k`'s chain, after every entry with time ≤ timeMs. */
  #attach(k: number, ref: number, timeMs: number): void {
    const page = this.#pages[ref >>> PAGE_BITS] as Page;
    page.keys[ref & SLOT_MASK] = k;
    page.bucket.live++;
    this.#size++;
    this.#ids?.add(ref, this.#entryHash(ref));
    const head = this.#head[k] as number;
    if (head < 0) {
      this.#setNext(ref, -1);
      this.#head[k] = ref;
      this.#tail[k] = ref;
      return;
    }
    const tail = this.#tail[k] as number;
    if (this.timeOf(tail) <= timeMs) {
      // In-order input: an append.
      this.#setNext(ref, -1);
      this.#setNext(tail, ref);
      this.#tail[k] = ref;
      return;
    }
    if (this.timeOf(head) > timeMs) {
      this.#setNext(ref, head);
      this.#head[k] = ref;
      return;
    }
    let p = head;
    for (let n = this.#nextOf(p); n >= 0 && this.timeOf(n) <= timeMs; n = this.#nextOf(n)) p = n;
    this.#setNext(ref, this.#nextOf(p));
    this.#setNext(p, ref);
  }

  /** Releases the strings of slot `s` (a deleted or dropped entry). */
  #releaseCells(page: Page, s: number): void {
    for (let c = 0; c < this.#cols.length; c++) {
      const codec = (this.#cols[c] as Column).codec;
      const cells = page.cells[c] as Cells;
      if (codec === 'string') {
        const id = cells[s] as number;
        if (id >= 0) this.#dict.release(id);
      } else if (codec === 'uuid' && isUuidFallback(cells as Uint32Array, 4 * s)) {
        const id = cells[4 * s + 3] as number;
        if (id !== UUID_MARK) this.#dict.release(id);
      }
    }
  }

  #delete(key: string, timeMs: number, id: string | number | null, record: boolean): number {
    if (!(timeMs >= this.#cutoffMs)) return 0;
    this.#coldRows.length = 0;
    const seg = this.#cold.size > 0 ? this.#cold.get(Math.floor(timeMs / this.bucketWidthMs)) : undefined;
    if (seg !== undefined) {
      // The entries at timeMs are all in this one segment (a bucket is wholly on disk or in memory).
      const idCol = this.#idCol;
      const n = seg.delete(key, timeMs, (e) => idCol < 0 || e.values[idCol] === id, this.#seq + 1);
      this.#size -= n;
      // Everything on disk is in a chunk already: the delete must reach the next one.
      if (n > 0 && record) {
        this.#delKeys.push(key);
        this.#delTimes.push(timeMs);
        this.#delIds.push(id);
      }
      return n;
    }
    const k = this.#keys.find(key);
    if (k < 0) return 0;
    let prev = -1;
    let n = 0;
    let taken = false;
    for (let r = this.#head[k] as number; r >= 0; ) {
      const t = this.timeOf(r);
      if (t > timeMs) break;
      const next = this.#nextOf(r);
      if (t === timeMs && (this.#idCol < 0 || this.#read(r, this.#idCol) === id)) {
        if (prev < 0) this.#head[k] = next;
        else this.#setNext(prev, next);
        if (this.#tail[k] === r) this.#tail[k] = prev;
        const page = this.#pages[r >>> PAGE_BITS] as Page;
        const s = r & SLOT_MASK;
        if (s < page.taken) taken = true;
        this.#ids?.remove(r, this.#entryHash(r));
        this.#releaseCells(page, s);
        page.keys[s] = -1;
        page.bucket.live--;
        this.#size--;
        n++;
      } else prev = r;
      r = next;
    }
    // A delete of entries that never reached a chunk needs no record: the chunk leaves them out.
    if (taken && record) {
      this.#delKeys.push(key);
      this.#delTimes.push(timeMs);
      this.#delIds.push(id);
    }
    if ((this.#head[k] as number) < 0) {
      this.#tail[k] = -1;
      this.#keys.release(k);
    }
    return n;
  }

  /** Drops a bucket whose entries have all expired: one pass over its pages. */
  #drop(b: Bucket): void {
    this.#unload(b);
    this.#size -= b.live;
  }

  /**
   * Takes the oldest bucket in memory out of memory (expired, or written to disk): its entries
   * leave the chains (they are at the front of each), their strings and keys are released, its
   * pages are freed. The table's size is the caller's business.
   */
  #unload(b: Bucket): void {
    for (const p of b.pages) p.dead = true;
    for (const p of b.pages) {
      for (let s = 0; s < p.count; s++) {
        const k = p.keys[s] as number;
        if (k < 0) continue;
        if (this.#ids !== undefined) {
          const ref = p.id * PAGE + s;
          this.#ids.remove(ref, this.#entryHash(ref));
        }
        this.#releaseCells(p, s);
        if (!this.#keys.isLive(k)) continue;
        // This bucket's entries are the oldest of every chain they are in (older buckets went first).
        let h = this.#head[k] as number;
        while (h >= 0 && (this.#pages[h >>> PAGE_BITS] as Page).dead) h = this.#nextOf(h);
        this.#head[k] = h;
        if (h < 0) {
          this.#tail[k] = -1;
          this.#keys.release(k);
        }
      }
    }
    for (const p of b.pages) {
      this.#pages[p.id] = undefined;
      this.#freePages.push(p.id);
      this.#pageBytes -= pageBytes(p);
    }
    this.#buckets.delete(b.index);
    if (this.#lastBucket === b) this.#lastBucket = undefined;
  }

  /** Whether some segment on disk may hold entries of `key` in [fromMs, toMs] (its key filter says maybe). */
  #mayBeCold(key: string, fromMs: number, toMs: number): boolean {
    const lo = Math.max(fromMs, this.#cutoffMs);
    const w = this.bucketWidthMs;
    let hashed = false;
    for (const index of this.#coldOrder) {
      const start = index * w;
      if (start > toMs) break;
      if (start + w - 1 < lo) continue;
      if (!hashed) {
        KeyFilter.hashesOf(key, KEY_HASHES);
        hashed = true;
      }
      if ((this.#cold.get(index) as ColdSegment).mayHaveHashed(KEY_HASHES[0] as number, KEY_HASHES[1] as number)) {
        return true;
      }
    }
    return false;
  }

  /**
   * The entries of `key` on disk with lo ≤ time ≤ hi as cold refs, by (time, insertion); undefined
   * when there are none. Segments whose key filter rules the key out are not read.
   */
  #coldRefs(key: string, lo: number, hi: number): number[] | undefined {
    let out: number[] | undefined;
    const w = this.bucketWidthMs;
    let hashed = false;
    for (const index of this.#coldOrder) {
      const start = index * w;
      if (start > hi) break;
      if (start + w - 1 < lo) continue;
      const seg = this.#cold.get(index) as ColdSegment;
      if (!hashed) {
        KeyFilter.hashesOf(key, KEY_HASHES);
        hashed = true;
      }
      if (!seg.mayHaveHashed(KEY_HASHES[0] as number, KEY_HASHES[1] as number)) continue;
      for (const e of seg.read(key, lo, hi)) {
        out ??= [];
        out.push(COLD_REF + this.#coldRows.push(e) - 1);
      }
    }
    return out;
  }

  /**
   * While the tables sharing the budget hold more than it, moves the oldest bucket in memory to a
   * segment on disk, if it is sealed — it ends before the watermark, so no on-time entry can land
   * in it, and before `limitMs` (a restore: no chunk still to apply touches it) — and, outside a
   * restore, every entry of it is in a chunk already (`taken`). The last rule is what keeps the
   * chunks the one source of truth: an entry reaches the disk only after the chunk holding it was
   * cut, and the disk copy is never read after a restart (the restore rebuilds it from the
   * committed chunks), so a crash between the move and that chunk's commit loses nothing.
   */
  #spillOverBudget(limitMs: number, restoring: boolean): void {
    const storage = this.#storage as ColdStorage;
    while (this.#order.length > 0) {
      const b = this.#buckets.get(this.#order[0] as number) as Bucket;
      const endMs = b.startMs + this.bucketWidthMs - 1;
      // The cheap checks first: this runs at every watermark advance.
      if (!(endMs < this.#watermarkMs) || !(endMs < limitMs)) return;
      // New entries only ever go to a bucket's last page, and a chunk takes every page: the last
      // page tells whether the whole bucket is in a chunk.
      const lastPage = b.pages[b.pages.length - 1];
      if (!restoring && lastPage !== undefined && lastPage.taken < lastPage.count) return;
      if (!storage.overBudget()) return;
      this.#spill(b);
    }
  }

  /** Writes bucket `b` (the oldest in memory) to a segment file and takes it out of memory. */
  #spill(b: Bucket): void {
    const entries: Array<{ key: string; timeMs: number; values: CellValue[] }> = [];
    const cols = this.#cols.length;
    for (const p of b.pages) {
      for (let s = 0; s < p.count; s++) {
        const k = p.keys[s] as number;
        if (k < 0) continue;
        const ref = p.id * PAGE + s;
        const values: CellValue[] = new Array(cols);
        for (let c = 0; c < cols; c++) values[c] = this.#read(ref, c);
        entries.push({ key: this.#keys.keyOf(k), timeMs: b.startMs + (p.times[s] as number), values });
      }
    }
    if (!this.#dirReady) {
      (this.#storage as ColdStorage).clearTableDir(this.#coldDir);
      this.#dirReady = true;
    }
    const storage = this.#storage as ColdStorage;
    const seg = storage.segments.write(
      storage.segments.segmentPath(this.#coldDir, b.index),
      b.index,
      b.maxTimeMs,
      this.#cols.map((c) => c.codec),
      entries,
      // Every entry of a sealed, taken bucket is in a chunk ≤ #seq: the manifest says so. A delete
      // made in it since that chunk is in none yet: the next chunk (#seq + 1) must commit first.
      this.#lineage === undefined || !this.#chunked
        ? undefined
        : {
            ...this.#identity(this.#lineage),
            coveredSeq: this.#seq,
            deletesSeq: this.#delTimes.some((t) => t >= b.startMs && t < b.startMs + this.bucketWidthMs)
              ? this.#seq + 1
              : 0,
          },
      storage.sync,
    );
    this.#unload(b);
    this.#order.shift();
    this.#cold.set(b.index, seg);
    let at = this.#coldOrder.length;
    while (at > 0 && (this.#coldOrder[at - 1] as number) > b.index) at--;
    this.#coldOrder.splice(at, 0, b.index);
  }

  #identity(lineage: string): SegmentIdentity {
    return {
      table: this.name,
      columns: this.#cols.map((c) => [c.name, c.codec]),
      idColumn: this.#idCol >= 0 ? (this.#cols[this.#idCol] as Column).name : null,
      bucketWidthMs: this.bucketWidthMs,
      lineage,
    };
  }

  /**
   * At a restore with a local store: takes over the segments whose manifests match the chunks
   * being restored (same lineage, nothing newer than their last chunk), deletes every other file
   * of the table's directory (one log line says why), and returns the reused buckets' indexes,
   * whose entries the restore then skips in the chunks.
   */
  #reuseSegments(views: readonly ChunkView[], watermarkMs: number): Set<number> {
    const reused = new Set<number>();
    if (this.#storage === undefined) return reused;
    this.#lineage = views.findLast((v) => v.header.lineage !== undefined)?.header.lineage;
    const { segments, rejected } = this.#storage.segments.reuse(
      this.#coldDir,
      {
        ...this.#identity(''),
        lineage: this.#lineage,
        maxSeq: views.length > 0 ? (views.at(-1) as ChunkView).header.seq : 0,
        cutoffMs: watermarkMs - this.retentionMs,
      },
      this.#cols.map((c) => c.codec),
    );
    this.#dirReady = true;
    if (rejected.length > 0) {
      this.#storage.log(
        `flowmark: state ${this.name}: ${rejected.length} on-disk segment(s) in ${this.#coldDir} do not match the ` +
          `checkpoint and are rebuilt from its chunks (${rejected[0]}${rejected.length > 1 ? ', …' : ''})`,
      );
    }
    let entries = 0;
    for (const seg of segments.sort((a, b) => a.index - b.index)) {
      this.#cold.set(seg.index, seg);
      this.#coldOrder.push(seg.index);
      this.#size += seg.live;
      entries += seg.live;
      reused.add(seg.index);
    }
    this.#reused = { segments: segments.length, entries, chunksSkipped: 0 };
    if (segments.length > 0) {
      this.#storage.log(
        `flowmark: state ${this.name}: reusing ${segments.length} on-disk segment(s) (${entries} entries) in ` +
          `${this.#coldDir}, which match the checkpoint`,
      );
    }
    return reused;
  }

  /** Brings the segment of bucket `index` back into memory (an entry is about to land in it). */
  #thaw(index: number): void {
    const seg = this.#cold.get(index) as ColdSegment;
    const entries = seg.readAll();
    this.#size -= seg.live;
    seg.destroy();
    this.#cold.delete(index);
    this.#coldOrder.splice(this.#coldOrder.indexOf(index), 1);
    const cols = this.#cols;
    for (const e of entries) {
      const ref = this.#allocate(e.timeMs);
      const page = this.#pages[ref >>> PAGE_BITS] as Page;
      const slot = ref & SLOT_MASK;
      for (let c = 0; c < cols.length; c++) {
        this.#write(page.cells[c] as Cells, slot, (cols[c] as Column).codec, e.values[c]);
      }
      this.#attach(this.#internKey(e.key), ref, e.timeMs);
    }
    // They were in a chunk before they went to disk.
    // The bucket keeps its latest time, deleted entries' too: it expires when it would have in memory.
    const b = this.#buckets.get(index) ?? this.#newBucket(index, seg.maxTimeMs);
    for (const p of b.pages) p.taken = p.count;
    if (seg.maxTimeMs > b.maxTimeMs) b.maxTimeMs = seg.maxTimeMs;
  }

  #section(count: number, cols: number[]): ChunkSection {
    return {
      count,
      keys: new Uint32Array(count),
      times: new Float64Array(count),
      cells: cols.map((c) => {
        const codec = (this.#cols[c] as Column).codec;
        return codec === 'uuid'
          ? new Uint32Array(4 * count)
          : codec === 'string' || codec === 'i32'
            ? new Int32Array(count)
            : new Float64Array(count);
      }),
    };
  }

  /** Refuses a chunk of another table or with other columns. */
  #checkView(view: ChunkView): ChunkView {
    const h = view.header;
    const mine = JSON.stringify(this.#cols.map((c) => [c.name, c.codec]));
    const theirs = JSON.stringify(h.columns);
    const myId = this.#idCol >= 0 ? (this.#cols[this.#idCol] as Column).name : null;
    if (h.table !== this.name || mine !== theirs || h.idColumn !== myId) {
      throw new FlowmarkError(
        'FM_SNAPSHOT_MISMATCH',
        `state chunk ${view.name} belongs to table ${h.table} with columns ${theirs} (id ${h.idColumn}), not to ` +
          `${this.name} with columns ${mine} (id ${myId}): the pipeline's state declaration changed since the ` +
          'checkpoint; run the flowmark that wrote it, or delete the checkpoint to rebuild the state from the source',
      );
    }
    return view;
  }

  /** Applies one checked chunk: its deletes, then its inserts, skipping expired entries. */
  /** Applies a chunk's deletes, then its inserts; `merging`: every delete is kept for the next chunk. */
  #apply(view: ChunkView, merging = false, skip?: ReadonlySet<number>): void {
    const w = this.bucketWidthMs;
    const skipped = (t: number): boolean => skip !== undefined && skip.size > 0 && skip.has(Math.floor(t / w));
    const { dv } = view;
    const strings = chunkStrings(view);
    const corrupt = (detail: string) =>
      new FlowmarkError(
        'FM_SNAPSHOT_CORRUPT',
        `state chunk ${view.name} is corrupt: ${detail}. Restore the database from a backup, or delete the job's ` +
          'checkpoint to rebuild its state from the source',
      );
    const stringAt = (at: number): string => {
      const i = dv.getUint32(at, true);
      const s = strings[i];
      if (s === undefined) throw corrupt(`string index ${i} of ${strings.length}`);
      return s;
    };
    const timeAt = (at: number): number => {
      const t = dv.getFloat64(at, true);
      if (!Number.isSafeInteger(t)) throw corrupt(`event time ${t} is not an integer`);
      return t;
    };
    const cutoff = this.#cutoffMs;
    const del = view.deletes;
    const idCodec = this.#idCol >= 0 ? (this.#cols[this.#idCol] as Column).codec : undefined;
    for (let i = 0; i < del.count; i++) {
      const t = timeAt(del.timesAt + 8 * i);
      if (t < cutoff || skipped(t)) continue;
      const key = stringAt(del.keysAt + 4 * i);
      let id: string | number | null = null;
      if (idCodec !== undefined) id = this.#decodeCell(dv, del.cellsAt[0] as number, i, idCodec, strings, corrupt);
      this.#delete(key, t, id, false);
      if (merging) {
        this.#delKeys.push(key);
        this.#delTimes.push(t);
        this.#delIds.push(id);
      }
    }
    const ins = view.inserts;
    const keyIds = new Int32Array(strings.length).fill(-1);
    const dictIds = new Int32Array(strings.length).fill(-1);
    const cellString = (i: number): number => {
      if (i >= strings.length) throw corrupt(`string index ${i} of ${strings.length}`);
      let id = dictIds[i] as number;
      if (id < 0) id = dictIds[i] = this.#dict.acquire(strings[i] as string);
      else this.#dict.retain(id);
      return id;
    };
    const cols = this.#cols;
    for (let i = 0; i < ins.count; i++) {
      const t = timeAt(ins.timesAt + 8 * i);
      // Entries of a reused segment are on disk already (and a delete there was made there).
      if (t < cutoff || skipped(t)) continue;
      const ki = dv.getUint32(ins.keysAt + 4 * i, true);
      if (ki >= strings.length) throw corrupt(`key index ${ki} of ${strings.length}`);
      let k = keyIds[ki] as number;
      if (k < 0) k = keyIds[ki] = this.#internKey(strings[ki] as string);
      const ref = this.#allocate(t);
      const page = this.#pages[ref >>> PAGE_BITS] as Page;
      const s = ref & SLOT_MASK;
      for (let c = 0; c < cols.length; c++) {
        const codec = (cols[c] as Column).codec;
        const at = ins.cellsAt[c] as number;
        const cells = page.cells[c] as Cells;
        if (codec === 'string') {
          const v = dv.getUint32(at + 4 * i, true);
          cells[s] = v === UUID_MARK ? NULL_ID : cellString(v);
        } else if (codec === 'uuid') {
          const base = at + 16 * i;
          for (let w = 0; w < 4; w++) cells[4 * s + w] = dv.getUint32(base + 4 * w, true);
          if (isUuidFallback(cells as Uint32Array, 4 * s) && cells[4 * s + 3] !== UUID_MARK) {
            cells[4 * s + 3] = cellString(cells[4 * s + 3] as number);
          }
        } else if (codec === 'i32') cells[s] = dv.getInt32(at + 4 * i, true);
        else cells[s] = dv.getFloat64(at + 8 * i, true);
      }
      this.#attach(k, ref, t);
    }
  }

  #decodeCell(
    dv: DataView,
    at: number,
    i: number,
    codec: ColumnCodec,
    strings: string[],
    corrupt: (detail: string) => FlowmarkError,
  ): string | number | null {
    const str = (idx: number): string => {
      const s = strings[idx];
      if (s === undefined) throw corrupt(`string index ${idx} of ${strings.length}`);
      return s;
    };
    if (codec === 'string') {
      const v = dv.getUint32(at + 4 * i, true);
      return v === UUID_MARK ? null : str(v);
    }
    if (codec === 'uuid') {
      const w = this.#uuidScratch;
      for (let j = 0; j < 4; j++) w[j] = dv.getUint32(at + 16 * i + 4 * j, true);
      if (!isUuidFallback(w, 0)) return formatUuid(w, 0);
      return w[3] === UUID_MARK ? null : str(w[3] as number);
    }
    if (codec === 'i32') return dv.getInt32(at + 4 * i, true);
    return dv.getFloat64(at + 8 * i, true);
  }
}

function pageBytes(p: Page): number {
  let n = p.keys.byteLength + p.times.byteLength + p.next.byteLength + PAGE_OVERHEAD;
  for (const c of p.cells) n += c.byteLength;
  return n;
}
