import { MinHeap } from '../heap.ts';

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
  #data = new Map<string, V>();
  #dirty = new Set<string>();
  #expiryMs: Map<string, number> | undefined;
  #expiryHeap: MinHeap<string> | undefined;
  #bytesPerEntry = 0;
  #bytesSampledAtSize = -1;

  constructor(name: string, options: StateTableOptions = {}) {
    this.name = name;
    this.ttlMs = options.ttlMs;
    if (options.ttlMs !== undefined) {
      this.#expiryMs = new Map();
      this.#expiryHeap = new MinHeap();
    }
  }

  get size(): number {
    return this.#data.size;
  }

  get(key: string): V | undefined {
    return this.#data.get(key);
  }

  has(key: string): boolean {
    return this.#data.has(key);
  }

  /** Sets `key`; with a TTL table and an event time, (re)starts the entry's time-to-live. */
  set(key: string, value: V, eventTimeMs?: number): void {
    this.#data.set(key, value);
    this.#dirty.add(key);
    if (this.#expiryMs !== undefined && eventTimeMs !== undefined && this.ttlMs !== undefined) {
      const expiry = eventTimeMs + this.ttlMs;
      const prev = this.#expiryMs.get(key);
      if (prev === undefined || expiry > prev) {
        this.#expiryMs.set(key, expiry);
        this.#expiryHeap?.push(expiry, key);
      }
    }
  }

  /** Marks `key` as changed after its value was mutated in place. */
  touch(key: string): void {
    this.#dirty.add(key);
  }

  delete(key: string): boolean {
    if (!this.#data.delete(key)) return false;
    this.#dirty.add(key);
    this.#expiryMs?.delete(key);
    return true;
  }

  keys(): IterableIterator<string> {
    return this.#data.keys();
  }

  entries(): IterableIterator<[string, V]> {
    return this.#data.entries();
  }

  /**
   * Drops every entry whose time-to-live the watermark has passed. Returns the dropped keys.
   * The owning operator calls it whenever its watermark advances.
   */
  expire(watermarkMs: number): string[] {
    const heap = this.#expiryHeap;
    const expiry = this.#expiryMs;
    if (heap === undefined || expiry === undefined) return [];
    const dropped: string[] = [];
    while (heap.size > 0 && heap.peekPriority() < watermarkMs) {
      const at = heap.peekPriority();
      const key = heap.pop() as string;
      // A later write moved the expiry: this heap entry is stale.
      if (expiry.get(key) !== at) continue;
      expiry.delete(key);
      if (this.#data.delete(key)) {
        this.#dirty.add(key);
        dropped.push(key);
      }
    }
    return dropped;
  }

  /** The changes since the previous call (or since creation/restore), and forgets them. */
  takeChanges(): TableChange<V>[] {
    const out: TableChange<V>[] = [];
    for (const key of this.#dirty) out.push([key, this.#data.get(key)]);
    this.#dirty.clear();
    return out;
  }

  /** Every entry, for a full snapshot; does not touch the change set. */
  allEntries(): TableChange<V>[] {
    return [...this.#data.entries()];
  }

  /** Loads an entry from a snapshot: not a change. The TTL is re-armed from `expiresAtMs`. */
  restoreEntry(key: string, value: V, expiresAtMs?: number): void {
    this.#data.set(key, value);
    if (expiresAtMs !== undefined && this.#expiryMs !== undefined) {
      this.#expiryMs.set(key, expiresAtMs);
      this.#expiryHeap?.push(expiresAtMs, key);
    }
  }

  /** The expiry of `key` (for snapshots), if it has one. */
  expiryOf(key: string): number | undefined {
    return this.#expiryMs?.get(key);
  }

  /** Approximate size, estimated from a sample of serialized entries (cheap to call). */
  measure(): StateSize {
    const n = this.#data.size;
    if (n === 0) return { entries: 0, bytes: 0 };
    // Re-sample when the table has changed size by more than a quarter since the last sample.
    if (this.#bytesSampledAtSize < 0 || Math.abs(n - this.#bytesSampledAtSize) * 4 > this.#bytesSampledAtSize) {
      let total = 0;
      let count = 0;
      for (const [k, v] of this.#data) {
        total += 2 * k.length + 2 * (JSON.stringify(v)?.length ?? 0) + 64;
        if (++count >= SAMPLE_SIZE) break;
      }
      this.#bytesPerEntry = total / count;
      this.#bytesSampledAtSize = n;
    }
    return { entries: n, bytes: Math.round(n * this.#bytesPerEntry) };
  }
}
