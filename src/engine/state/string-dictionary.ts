import { ownCopy } from './column-codecs.ts';

/**
 * Interned strings with reference counts: each distinct string is held once and cells refer to
 * it by a small integer id. An id is freed when its last cell goes (an expired bucket, a delete),
 * and reused, so the dictionary holds only the strings live entries use.
 *
 * For values with few distinct strings (sources, product ids): a distinct string costs a Map
 * entry and the string itself, about 60–80 bytes; a value unique per entry belongs in a `uuid`
 * column, or in the key.
 */
export class StringDictionary {
  readonly #ids = new Map<string, number>();
  #strings: Array<string | undefined> = [];
  #refs = new Int32Array(16);
  readonly #free: number[] = [];

  /** Distinct strings held. */
  get size(): number {
    return this.#ids.size;
  }

  /** The id of `s` with one more reference (interned on first use). */
  acquire(s: string): number {
    let id = this.#ids.get(s);
    if (id === undefined) {
      const own = ownCopy(s);
      id = this.#free.pop() ?? this.#strings.length;
      if (id >= this.#refs.length) {
        const grown = new Int32Array(this.#refs.length * 2);
        grown.set(this.#refs);
        this.#refs = grown;
      }
      this.#strings[id] = own;
      this.#ids.set(own, id);
    }
    this.#refs[id] = (this.#refs[id] as number) + 1;
    return id;
  }

  /** One more reference to a held `id` (a restore that has the id of a chunk's string already). */
  retain(id: number): void {
    this.#refs[id] = (this.#refs[id] as number) + 1;
  }

  /** Drops one reference to `id`; the string goes with the last. */
  release(id: number): void {
    const n = (this.#refs[id] as number) - 1;
    this.#refs[id] = n;
    if (n > 0) return;
    const s = this.#strings[id] as string;
    this.#ids.delete(s);
    this.#strings[id] = undefined;
    this.#free.push(id);
  }

  /** The id of `s`, or −1 when no cell holds it. */
  find(s: string): number {
    return this.#ids.get(s) ?? -1;
  }

  stringOf(id: number): string {
    return this.#strings[id] as string;
  }

  /** Approximate heap bytes (for `measure`). */
  bytes(): number {
    let chars = 0;
    for (const s of this.#ids.keys()) chars += s.length;
    return chars + this.#ids.size * 64 + this.#refs.byteLength;
  }
}
