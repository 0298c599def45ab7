/**
 * Entries a single `Map` may hold in V8: 2^24. A state table with more keys (10 M+ clicks of
 * attribution state) would fail with "RangeError: Map maximum size exceeded".
 */
export const V8_MAP_LIMIT = 2 ** 24;

/**
 * A Map that holds more than one V8 Map can: when the newest inner map reaches `capacity`
 * entries, new keys go to a fresh one. Below the capacity (the usual case) it is one Map and
 * each operation is one look-up; past it, a look-up may try each inner map (a few).
 *
 * @example
 * const m = new SpillMap<number>(2); // capacity 2 per inner map, for the example
 * m.set('a', 1); m.set('b', 2); m.set('c', 3); // 'c' goes to a second inner map
 * m.get('c'); // 3 — m.size === 3
 */
export class SpillMap<V> {
  readonly #capacity: number;
  readonly #maps: Map<string, V>[] = [new Map()];

  constructor(capacity = V8_MAP_LIMIT - 1024) {
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > V8_MAP_LIMIT) {
      throw new RangeError(`SpillMap capacity must be an integer in [1, 2^24], got ${capacity}`);
    }
    this.#capacity = capacity;
  }

  get size(): number {
    let n = 0;
    for (const m of this.#maps) n += m.size;
    return n;
  }

  get(key: string): V | undefined {
    const maps = this.#maps;
    if (maps.length === 1) return (maps[0] as Map<string, V>).get(key);
    for (const m of maps) {
      const v = m.get(key);
      if (v !== undefined || m.has(key)) return v;
    }
    return undefined;
  }

  has(key: string): boolean {
    for (const m of this.#maps) if (m.has(key)) return true;
    return false;
  }

  set(key: string, value: V): this {
    const maps = this.#maps;
    const last = maps.at(-1) as Map<string, V>;
    if (maps.length === 1 && (last.size < this.#capacity || last.has(key))) {
      last.set(key, value);
      return this;
    }
    for (const m of maps) {
      if (m.has(key)) {
        m.set(key, value);
        return this;
      }
    }
    if (last.size < this.#capacity) last.set(key, value);
    else maps.push(new Map([[key, value]]));
    return this;
  }

  delete(key: string): boolean {
    const maps = this.#maps;
    // Inner maps are never removed, even when emptied: iterations in progress must not skip any.
    for (const m of maps) if (m.delete(key)) return true;
    return false;
  }

  clear(): void {
    this.#maps.length = 0;
    this.#maps.push(new Map());
  }

  *keys(): IterableIterator<string> {
    for (const m of this.#maps) yield* m.keys();
  }

  *entries(): IterableIterator<[string, V]> {
    for (const m of this.#maps) yield* m.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}
