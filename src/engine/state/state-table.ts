import { MinHeap } from '../heap.ts';
import { SpillMap } from './spill-map.ts';

/** Options of a state table. */
export interface StateTableOptions {
  /**
   * Event-time time-to-live: an entry last written for event time `t` is dropped once the
   * watermark passes `t + ttlMs` (watermark > t + ttlMs). Writes without an event time never expire.
   */
  ttlMs?: number;
}

/** Entries and approximate bytes held by a piece of state. */
export interface StateSize {
  entries: number;
  bytes: number;
}

/** One change since the last snapshot: a value, or `undefined` for a deleted key. */
export type TableChange<V> = readonly [key: string, value: V | undefined];

const SAMPLE_SIZE = 32;

/**
 * The unit of operator state: a string-keyed table that remembers which keys changed since the
 * last snapshot, so that a checkpoint writes only those (incremental snapshots: the cost follows
 * the changes, not the total state). Values must be JSON-serializable plain data.
 *
 * A value that is mutated in place must be announced with {@link StateTable.touch}.
 *
 * @example
 * const seen = ctx.table<number>('seen', { ttlMs: 3_600_000 });
 * seen.set('user-1', 1, eventTimeMs); // dropped once the watermark passes eventTimeMs + 1 h
 */
export class StateTable<V> {
  readonly name: string;
  readonly ttlMs: number | undefined;
  // One map, one entry object per key holding the value, its expiry and its change mark: a write
  // costs one hash look-up, where separate maps for values, expiries and changes cost three.
  // A SpillMap: still one V8 Map below 2^24 keys, more above (a single Map cannot hold more).
  #data = new SpillMap<Entry<V>>();
  /**
   * Entries changed (or deleted) since the last `takeChanges`, each object once per epoch (its
   * `mark`): taking the changes then needs no hash look-up per key, only for deleted keys.
   */
  #changed: Entry<V>[] = [];
  #epoch = 1;
  /** Entries created and removed (one by one) within this epoch: see `takeChanges`. */
  #newbornDeaths = 0;
  /** Whole-table drops (end of input) in this epoch. */
  #drops = 0;
  #expiryHeap: MinHeap<string> | undefined;
  #bytesPerEntry = 0;
  #bytesSampledAtSize = -1;
  // The entry of the key looked up last (or undefined when it has none): a keyed operator reads
  // and writes the same key several times per record, and in a table of millions of keys every
  // hash look-up is a cache miss. Reset by every removal.
  #lastKey: string | undefined;
  #lastEntry: Entry<V> | undefined;
  /** The live entries of the last `takeChanges`, in order, so that `expiryOf` needs no look-up. */
  #taken: Entry<V>[] = [];
  #takenAt = 0;

  constructor(name: string, options: StateTableOptions = {}) {
    this.name = name;
    this.ttlMs = options.ttlMs;
    if (options.ttlMs !== undefined) this.#expiryHeap = new MinHeap();
  }

  get size(): number {
    return this.#data.size;
  }

  #entry(key: string): Entry<V> | undefined {
    if (key === this.#lastKey) return this.#lastEntry;
    const e = this.#data.get(key);
    this.#lastKey = key;
    this.#lastEntry = e;
    return e;
  }

  #forgetLast(): void {
    this.#lastKey = undefined;
    this.#lastEntry = undefined;
  }

  get(key: string): V | undefined {
    return this.#entry(key)?.v;
  }

  has(key: string): boolean {
    return this.#entry(key) !== undefined;
  }

  /** Sets `key`; with a TTL table and an event time, (re)starts the entry's time-to-live. */
  set(key: string, value: V, eventTimeMs?: number): void {
    let e = this.#entry(key);
    if (e === undefined) {
      e = { k: key, v: value, exp: Number.NaN, mark: 0, born: this.#epoch, gone: LIVE };
      this.#data.set(key, e);
      this.#lastEntry = e;
    } else e.v = value;
    if (e.mark !== this.#epoch) {
      e.mark = this.#epoch;
      this.#changed.push(e);
    }
    if (this.ttlMs !== undefined && eventTimeMs !== undefined) {
      const exp = eventTimeMs + this.ttlMs;
      if (!(exp <= e.exp)) {
        // The heap is ordered by the start of the expiry's bucket: one push per key per bucket,
        // not per write; `expire` checks the exact time.
        const bucket = Math.floor(exp / TTL_BUCKET_MS);
        if (!(bucket === Math.floor(e.exp / TTL_BUCKET_MS))) this.#expiryHeap?.push(bucket * TTL_BUCKET_MS, key);
        e.exp = exp;
      }
    }
  }

  /** Marks `key` as changed after its value was mutated in place. */
  touch(key: string): void {
    const e = this.#entry(key);
    if (e !== undefined && e.mark !== this.#epoch) {
      e.mark = this.#epoch;
      this.#changed.push(e);
    }
  }

  delete(key: string): boolean {
    const e = this.#entry(key);
    if (e === undefined) return false;
    this.#data.delete(key);
    this.#forgetLast();
    this.#remove(e);
    return true;
  }

  /** Records the removal of `e` (already out of the map) as a change. */
  #remove(e: Entry<V>, how: typeof REMOVED | typeof DROPPED = REMOVED): void {
    e.gone = how;
    // A removal is reported without its value: do not hold the value until the next snapshot.
    e.v = undefined as V;
    if (how === REMOVED && e.born === this.#epoch) this.#newbornDeaths++;
    if (e.mark !== this.#epoch) {
      e.mark = this.#epoch;
      this.#changed.push(e);
    }
  }

  keys(): IterableIterator<string> {
    return this.#data.keys();
  }

  *entries(): IterableIterator<[string, V]> {
    for (const [k, e] of this.#data) yield [k, e.v];
  }

  /**
   * Drops every entry whose time-to-live the watermark has passed. Returns the dropped keys.
   * The owning operator calls it whenever its watermark advances.
   */
  expire(watermarkMs: number): string[] {
    const heap = this.#expiryHeap;
    if (heap === undefined || !(heap.peekPriority() < watermarkMs)) return [];
    this.#forgetLast();
    const dropped: string[] = [];
    if (watermarkMs === Number.POSITIVE_INFINITY) {
      // The end of a bounded input: every entry with an expiry goes. One pass over the map into
      // a new one that keeps the others, instead of a heap pop (log n) and a Map delete per key —
      // at the end of a replay that is every key.
      const kept = new SpillMap<Entry<V>>();
      for (const [key, e] of this.#data) {
        if (Number.isNaN(e.exp)) kept.set(key, e);
        else {
          this.#remove(e, DROPPED);
          dropped.push(key);
        }
      }
      this.#drops++;
      this.#data = kept;
      heap.clear();
      return dropped;
    }
    while (heap.size > 0 && heap.peekPriority() < watermarkMs) {
      const key = heap.pop() as string;
      const e = this.#data.get(key);
      if (e === undefined) continue;
      if (e.exp < watermarkMs) {
        this.#data.delete(key);
        this.#remove(e);
        dropped.push(key);
      } else if (Math.floor(e.exp / TTL_BUCKET_MS) * TTL_BUCKET_MS < watermarkMs) {
        // Its bucket has begun but the entry itself has not expired: look again at its exact time.
        heap.push(e.exp, key);
      }
    }
    return dropped;
  }

  /** The changes since the previous call (or since creation/restore), and forgets them. */
  takeChanges(): TableChange<V>[] {
    const out: TableChange<V>[] = [];
    const taken: Entry<V>[] = [];
    const epoch = this.#epoch;
    // A key can have several removed entries in one epoch (deleted, written again, deleted again).
    // Every removed entry but the first of its key was created in this epoch, so sets of keys are
    // needed only when such an entry was removed, or to match the entries dropped at the end of
    // input against those removed one by one — not for every deleted key (at the end of a replay
    // that is all of them).
    let removed: Set<string> | undefined;
    let reported: Set<string> | undefined;
    if (this.#drops > 1) reported = new Set();
    else if (this.#newbornDeaths > 0 || this.#drops === 1) {
      removed = new Set();
      for (const e of this.#changed) if (e.gone === REMOVED) removed.add(e.k);
      if (this.#newbornDeaths > 0) reported = new Set();
    }
    for (const e of this.#changed) {
      if (e.gone === LIVE) {
        out.push([e.k, e.v]);
        taken.push(e);
        continue;
      }
      // A removed key written again: its live entry is in the list too (or, if restored
      // meanwhile, reported here once).
      const live = this.#data.get(e.k);
      if (live !== undefined) {
        if (live.mark === epoch) continue;
        live.mark = epoch;
        out.push([e.k, live.v]);
        taken.push(live);
        continue;
      }
      if (e.gone === DROPPED && removed?.has(e.k)) continue; // its removal is reported
      if (reported !== undefined && (e.gone === REMOVED || this.#drops > 1)) {
        if (reported.has(e.k)) continue;
        reported.add(e.k);
      }
      out.push([e.k, undefined]);
    }
    this.#changed = [];
    this.#epoch++;
    this.#newbornDeaths = 0;
    this.#drops = 0;
    this.#taken = taken;
    this.#takenAt = 0;
    return out;
  }

  /** Every entry, for a full snapshot; does not touch the change set. */
  allEntries(): TableChange<V>[] {
    return [...this.entries()];
  }

  /** Loads an entry from a snapshot: not a change. The TTL is re-armed from `expiresAtMs`. */
  restoreEntry(key: string, value: V, expiresAtMs?: number): void {
    const old = this.#data.get(key);
    if (old !== undefined) {
      // Replaced: a removal like any other, counted when it was created in this epoch, so that
      // takeChanges reports the key once (it keeps sets of keys only when such removals happened).
      old.gone = REMOVED;
      if (old.born === this.#epoch) this.#newbornDeaths++;
    }
    this.#data.set(key, { k: key, v: value, exp: expiresAtMs ?? Number.NaN, mark: 0, born: this.#epoch, gone: LIVE });
    this.#forgetLast();
    if (expiresAtMs !== undefined) this.#expiryHeap?.push(expiresAtMs, key);
  }

  /** The expiry of `key` (for snapshots), if it has one. */
  expiryOf(key: string): number | undefined {
    // The runtime asks for the live keys of `takeChanges`, in order: answer from the entry in hand.
    const next = this.#taken[this.#takenAt];
    let exp: number | undefined;
    if (next !== undefined && next.k === key && next.gone === LIVE) {
      this.#takenAt++;
      exp = next.exp;
    } else exp = this.#data.get(key)?.exp;
    return exp === undefined || Number.isNaN(exp) ? undefined : exp;
  }

  /** Approximate size, estimated from a sample of serialized entries (cheap to call). */
  measure(): StateSize {
    const n = this.#data.size;
    if (n === 0) return { entries: 0, bytes: 0 };
    // Re-sample when the table has changed size by more than a quarter since the last sample.
    if (this.#bytesSampledAtSize < 0 || Math.abs(n - this.#bytesSampledAtSize) * 4 > this.#bytesSampledAtSize) {
      // Entries spread over the whole table, not its first ones: those are the oldest keys, which
      // in a keyed list state hold the longest lists (at 10 M clicks the first 32 overstated the
      // size 6.5×). One pass over the table, only when its size moved by a quarter: amortized O(1).
      const stride = Math.max(1, Math.floor(n / SAMPLE_SIZE));
      let total = 0;
      let count = 0;
      let i = 0;
      for (const [k, e] of this.#data) {
        if (i++ % stride !== 0) continue;
        total += 2 * k.length + 2 * (JSON.stringify(e.v)?.length ?? 0) + 64;
        if (++count >= SAMPLE_SIZE) break;
      }
      this.#bytesPerEntry = total / count;
      this.#bytesSampledAtSize = n;
    }
    return { entries: n, bytes: Math.round(n * this.#bytesPerEntry) };
  }
}

interface Entry<V> {
  /** The key (the map's own string), so that a change list of entries needs no look-up. */
  k: string;
  v: V;
  /** Event-time expiry; NaN when the entry has none. */
  exp: number;
  /** The epoch in which the entry was last recorded as changed. */
  mark: number;
  /** The epoch in which the entry was created (or restored). */
  born: number;
  /** Live, or out of the table: a change list reports its key as deleted. */
  gone: typeof LIVE | typeof REMOVED | typeof DROPPED;
}

const LIVE = 0;
/** Deleted, expired or replaced by a restore, one key at a time. */
const REMOVED = 1;
/** Dropped with every other entry with a time-to-live at the end of input. */
const DROPPED = 2;

/** Granularity of the TTL index (the exact expiry is still honoured to the millisecond). */
const TTL_BUCKET_MS = 1000;
