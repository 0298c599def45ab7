/**
 * A Bloom filter of string keys, held in memory for each on-disk segment of a time-bucketed table
 * (`cold-segment.ts`): a key the filter has never seen is answered "no" without touching the
 * disk, so a click's duplicate-id check and a checkout with no old clicks stay in memory. About
 * 10 bits per key, 7 probes: under 1 % false positives ("maybe", then the segment is read).
 */
export class KeyFilter {
  readonly #bits: Uint32Array;
  readonly #mask: number;

  /** A filter sized for `expectedKeys` keys (rounded up to a power of two of bits, at least 64). */
  constructor(expectedKeys: number, bits?: Uint32Array) {
    if (bits !== undefined) {
      this.#bits = bits;
      this.#mask = bits.length * 32 - 1;
      return;
    }
    let n = 64;
    while (n < expectedKeys * 10 && n < 2 ** 31) n *= 2;
    this.#bits = new Uint32Array(n / 32);
    this.#mask = n - 1;
  }

  /** The filter's bits, to be saved beside its segment. */
  toBytes(): Uint8Array {
    return new Uint8Array(this.#bits.buffer, this.#bits.byteOffset, this.#bits.byteLength);
  }

  /** A filter saved by {@link toBytes}, or undefined when `bytes` cannot be one (not a power of two of words). */
  static fromBytes(bytes: Uint8Array): KeyFilter | undefined {
    const words = bytes.byteLength / 4;
    if (!Number.isInteger(words) || words < 2 || (words & (words - 1)) !== 0) return undefined;
    const bits = new Uint32Array(words);
    new Uint8Array(bits.buffer).set(bytes);
    return new KeyFilter(0, bits);
  }

  add(key: string): void {
    const h1 = hash(key, 0x811c9dc5);
    const h2 = hash(key, 0x9747b28c) | 1;
    for (let i = 0; i < 7; i++) {
      const b = (h1 + Math.imul(i, h2)) & this.#mask;
      this.#bits[b >>> 5] = (this.#bits[b >>> 5] as number) | (1 << (b & 31));
    }
  }

  /** False: the key was never added. True: it may have been. */
  mayHave(key: string): boolean {
    return this.mayHaveHashed(hash(key, 0x811c9dc5), hash(key, 0x9747b28c) | 1);
  }

  /**
   * {@link mayHave} for a key already hashed by {@link KeyFilter.hashesOf} (one hashing for all
   * the segments a read asks).
   */
  mayHaveHashed(h1: number, h2: number): boolean {
    for (let i = 0; i < 7; i++) {
      const b = (h1 + Math.imul(i, h2)) & this.#mask;
      if (((this.#bits[b >>> 5] as number) & (1 << (b & 31))) === 0) return false;
    }
    return true;
  }

  /** The key's two hashes, into `out[0]`, `out[1]`. */
  static hashesOf(key: string, out: Uint32Array): void {
    out[0] = hash(key, 0x811c9dc5);
    out[1] = hash(key, 0x9747b28c) | 1;
  }

  get bytes(): number {
    return this.#bits.byteLength;
  }
}

/** FNV-1a over UTF-16 code units, from a seed, with a final avalanche. */
function hash(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}
