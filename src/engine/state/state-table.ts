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
  /** Keys changed (or deleted) since the last `takeChanges`; a key appears once per epoch while live. */
  #changed: string[] = [];
  #epoch = 1;
  #expiryHeap: MinHeap<string> | undefined;
  #bytesPerEntry = 0;
  #bytesSampledAtSize = -1;

  constructor(name: string, options: StateTableOptions = {}) {
    this.name = name;
    this.ttlMs = options.ttlMs;
    if (options.ttlMs !== undefined) this.#expiryHeap = new MinHeap();
  }

  get size(): number {
    return this.#data.size;
  }

  get(key: string): V | undefined {
    return this.#data.get(key)?.v;
  }

  has(key: string): boolean {
    return this.#data.has(key);
  }

  /** Sets `key`; with a TTL table and an event time, (re)starts the entry's time-to-live. */
  set(key: string, value: V, eventTimeMs?: number): void {
    let e = this.#data.get(key);
    if (e === undefined) {
      e = { v: value, exp: Number.NaN, mark: 0 };
      this.#data.set(key, e);
    } else e.v = value;
    if (e.mark !== this.#epoch) {
      e.mark = this.#epoch;
      this.#changed.push(key);
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
    const e = this.#data.get(key);
    if (e !== undefined && e.mark !== this.#epoch) {
      e.mark = this.#epoch;
      this.#changed.push(key);
    }
  }

  delete(key: string): boolean {
    if (!this.#data.delete(key)) return false;
    this.#changed.push(key);
    return true;
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
    const dropped: string[] = [];
    while (heap.size > 0 && heap.peekPriority() < watermarkMs) {
      const key = heap.pop() as string;
      const e = this.#data.get(key);
      if (e === undefined) continue;
      if (e.exp < watermarkMs) {
        this.#data.delete(key);
        this.#changed.push(key);
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
    const seen = new Set<string>();
    for (const key of this.#changed) {
      if (seen.has(key)) continue;
      seen.add(key);
      out.push([key, this.#data.get(key)?.v]);
    }
    this.#changed = [];
    this.#epoch++;
    return out;
  }

  /** Every entry, for a full snapshot; does not touch the change set. */
  allEntries(): TableChange<V>[] {
    return [...this.entries()];
  }

  /** Loads an entry from a snapshot: not a change. The TTL is re-armed from `expiresAtMs`. */
  restoreEntry(key: string, value: V, expiresAtMs?: number): void {
    this.#data.set(key, { v: value, exp: expiresAtMs ?? Number.NaN, mark: 0 });
    if (expiresAtMs !== undefined) this.#expiryHeap?.push(expiresAtMs, key);
  }

  /** The expiry of `key` (for snapshots), if it has one. */
  expiryOf(key: string): number | undefined {
    const exp = this.#data.get(key)?.exp;
    return exp === undefined || Number.isNaN(exp) ? undefined : exp;
  }

  /** Approximate size, estimated from a sample of serialized entries (cheap to call). */
  measure(): StateSize {
    const n = this.#data.size;
    if (n === 0) return { entries: 0, bytes: 0 };
    // Re-sample when the table has changed size by more than a quarter since the last sample.
    if (this.#bytesSampledAtSize < 0 || Math.abs(n - this.#bytesSampledAtSize) * 4 > this.#bytesSampledAtSize) {
      let total = 0;
      let count = 0;
      for (const [k, e] of this.#data) {
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
  v: V;
  /** Event-time expiry; NaN when the entry has none. */
  exp: number;
  /** The epoch in which the entry was last recorded as changed. */
  mark: number;
}

/** Granularity of the TTL index (the exact expiry is still honoured to the millisecond). */
const TTL_BUCKET_MS = 1000;
