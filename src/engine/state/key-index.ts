/**
 * String keys → small integer ids, without a JavaScript string or Map entry per key: the
 * characters live in one byte arena (one byte per character when every character is below 256,
 * else two), the ids in an open-addressing hash table of int32 slots (linear probing, deletion by
 * backward shift, so no tombstones). A key costs its characters plus about 30 bytes, where a
 * `Map<string, number>` costs the string (≥ 32 bytes), the Map entry (~40) and keeps alive
 * whatever the caller's string holds (a sliced or concatenated string keeps its parents).
 *
 * Ids are dense and reused after {@link KeyIndex.release}, so per-key data can live in typed
 * arrays indexed by id ({@link KeyIndex.capacity} tells how long they must be).
 */
export class KeyIndex {
  #arena = new Uint8Array(1024);
  #arenaUsed = 0;
  #arenaGarbage = 0;
  /**
   * Per id, three int32 side by side (one cache line for a look-up): arena offset, length field
   * (chars × 2, + 1 when stored two bytes a char; −1 when the id is free), hash.
   */
  #meta = newMeta(16);
  #slots = new Int32Array(32).fill(-1);
  #mask = 31;
  #size = 0;
  #next = 0;
  #free: number[] = [];

  get size(): number {
    return this.#size;
  }

  /** One more than the largest id handed out so far: per-key arrays need this length. */
  get capacity(): number {
    return this.#next;
  }

  isLive(id: number): boolean {
    return id >= 0 && id < this.#next && (this.#meta[3 * id + 1] as number) >= 0;
  }

  /** The id of `key`, or −1. */
  find(key: string): number {
    const h = hashOf(key);
    const slots = this.#slots;
    const mask = this.#mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const id = slots[i] as number;
      if (id < 0) return -1;
      if (this.#meta[3 * id + 2] === h && this.#equals(id, key)) return id;
    }
  }

  /** The id of `key`, added when new. */
  intern(key: string): number {
    const h = hashOf(key);
    const slots = this.#slots;
    const mask = this.#mask;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const id = slots[i] as number;
      if (id < 0) break;
      if (this.#meta[3 * id + 2] === h && this.#equals(id, key)) return id;
    }
    const id = this.#free.pop() ?? this.#newId();
    this.#store(id, key);
    this.#meta[3 * id + 2] = h;
    slots[i] = id;
    this.#size++;
    if (this.#size * 2 > slots.length) this.#rehash(slots.length * 2);
    return id;
  }

  /** Forgets the key of `id`; the id may be handed out again. */
  release(id: number): void {
    if (!this.isLive(id)) return;
    const slots = this.#slots;
    const mask = this.#mask;
    let i = (this.#meta[3 * id + 2] as number) & mask;
    while (slots[i] !== id) i = (i + 1) & mask;
    // Backward shift: move later members of the probe run into the hole when their home allows.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const other = slots[j] as number;
      if (other < 0) break;
      const home = (this.#meta[3 * other + 2] as number) & mask;
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!between) {
        slots[i] = other;
        i = j;
      }
    }
    slots[i] = -1;
    this.#arenaGarbage += this.#byteLength(id);
    this.#meta[3 * id + 1] = -1;
    this.#free.push(id);
    this.#size--;
    if (this.#arenaGarbage > 65536 && this.#arenaGarbage * 2 > this.#arenaUsed) this.#compact();
  }

  keyOf(id: number): string {
    const len = this.#meta[3 * id + 1] as number;
    const off = this.#meta[3 * id] as number;
    const n = len >> 1;
    const a = this.#arena;
    let s = '';
    if ((len & 1) === 0) {
      for (let i = 0; i < n; i += 4096) {
        s += String.fromCharCode.apply(null, a.subarray(off + i, off + Math.min(n, i + 4096)) as unknown as number[]);
      }
    } else {
      for (let i = 0; i < n; i++)
        s += String.fromCharCode((a[off + 2 * i] as number) | ((a[off + 2 * i + 1] as number) << 8));
    }
    return s;
  }

  /** Live ids. */
  *ids(): IterableIterator<number> {
    for (let id = 0; id < this.#next; id++) if ((this.#meta[3 * id + 1] as number) >= 0) yield id;
  }

  /** Heap bytes of the index's arrays. */
  bytes(): number {
    return this.#arena.byteLength + this.#meta.byteLength + this.#slots.byteLength + this.#free.length * 8;
  }

  #newId(): number {
    const id = this.#next++;
    if (3 * id >= this.#meta.length) {
      // By a quarter (not doubling): the slack of a table of millions of keys stays small.
      const meta = newMeta(Math.ceil((this.#meta.length / 3) * 1.25) + 16);
      meta.set(this.#meta);
      this.#meta = meta;
    }
    return id;
  }

  #byteLength(id: number): number {
    const len = this.#meta[3 * id + 1] as number;
    return (len & 1) === 0 ? len >> 1 : len - 1;
  }

  #store(id: number, key: string): void {
    const n = key.length;
    let wide = false;
    for (let i = 0; i < n; i++) {
      if (key.charCodeAt(i) > 255) {
        wide = true;
        break;
      }
    }
    const bytes = wide ? 2 * n : n;
    if (this.#arenaUsed + bytes > this.#arena.length) {
      let size = Math.ceil(this.#arena.length * 1.25) + 65536;
      while (size < this.#arenaUsed + bytes) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.#arena.subarray(0, this.#arenaUsed));
      this.#arena = grown;
    }
    const a = this.#arena;
    const off = this.#arenaUsed;
    if (wide) {
      for (let i = 0; i < n; i++) {
        const c = key.charCodeAt(i);
        a[off + 2 * i] = c & 0xff;
        a[off + 2 * i + 1] = c >>> 8;
      }
    } else for (let i = 0; i < n; i++) a[off + i] = key.charCodeAt(i);
    this.#arenaUsed += bytes;
    this.#meta[3 * id] = off;
    this.#meta[3 * id + 1] = wide ? 2 * n + 1 : 2 * n;
  }

  #equals(id: number, key: string): boolean {
    const len = this.#meta[3 * id + 1] as number;
    const n = len >> 1;
    if (n !== key.length) return false;
    const a = this.#arena;
    const off = this.#meta[3 * id] as number;
    if ((len & 1) === 0) {
      for (let i = 0; i < n; i++) if (a[off + i] !== key.charCodeAt(i)) return false;
    } else {
      for (let i = 0; i < n; i++) {
        if (((a[off + 2 * i] as number) | ((a[off + 2 * i + 1] as number) << 8)) !== key.charCodeAt(i)) return false;
      }
    }
    return true;
  }

  #rehash(size: number): void {
    const slots = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let id = 0; id < this.#next; id++) {
      if ((this.#meta[3 * id + 1] as number) < 0) continue;
      let i = (this.#meta[3 * id + 2] as number) & mask;
      while ((slots[i] as number) >= 0) i = (i + 1) & mask;
      slots[i] = id;
    }
    this.#slots = slots;
    this.#mask = mask;
  }

  /** Copies the live keys into a fresh arena, dropping the bytes of released ones. */
  #compact(): void {
    const used = this.#arenaUsed - this.#arenaGarbage;
    let size = 1024;
    while (size < used * 1.5) size *= 2;
    const arena = new Uint8Array(size);
    let at = 0;
    for (let id = 0; id < this.#next; id++) {
      if ((this.#meta[3 * id + 1] as number) < 0) continue;
      const n = this.#byteLength(id);
      const off = this.#meta[3 * id] as number;
      arena.set(this.#arena.subarray(off, off + n), at);
      this.#meta[3 * id] = at;
      at += n;
    }
    this.#arena = arena;
    this.#arenaUsed = at;
    this.#arenaGarbage = 0;
  }
}

/** Room for `ids` ids, every one free. */
function newMeta(ids: number): Int32Array<ArrayBuffer> {
  const m = new Int32Array(3 * ids);
  for (let i = 1; i < m.length; i += 3) m[i] = -1;
  return m;
}

/** FNV-1a over the UTF-16 code units, then a murmur3 finalizer (the low bits pick the slot). */
function hashOf(s: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
