/** A slot that never held a ref: a probe ends here. */
export const EMPTY = -1;
/** A slot whose ref was removed: a probe goes on past it. */
const TOMBSTONE = -2;
/** Grow (or clean) once used + tombstone slots pass this share of the capacity. */
const MAX_FILL = 0.7;
const MIN_CAPACITY = 64;

/** What the index asks of its table: the hash of an entry, from the entry itself. */
export interface IdIndexHost {
  hashOfRef(ref: number): number;
}

/**
 * A hash set of a table's entry refs by (key, id): the duplicate check of every click insert
 * (`findId`) probes a few slots here instead of walking the key's whole chain — the walk was the
 * largest single cost of the attribution (12–15 % of a drain's CPU on generated data, where a
 * busy key holds hundreds of clicks within an hour).
 *
 * Open addressing with linear probing over an `Int32Array` of refs (4 bytes a slot, 6–11 bytes
 * an entry at the fill kept between 35 and 70 %); no hash is stored: the host recomputes it from
 * the entry when the index grows. Removal leaves a tombstone; the table is rebuilt when they pile
 * up. The caller walks a probe sequence itself ({@link IdIndex.start}, {@link IdIndex.step},
 * {@link IdIndex.refAt}) so that a look-up makes no closure.
 */
export class IdIndex {
  readonly #host: IdIndexHost;
  #slots = new Int32Array(MIN_CAPACITY).fill(EMPTY);
  #mask = MIN_CAPACITY - 1;
  #live = 0;
  #tombstones = 0;

  constructor(host: IdIndexHost) {
    this.#host = host;
  }

  /** Refs held. */
  get size(): number {
    return this.#live;
  }

  bytes(): number {
    return this.#slots.byteLength;
  }

  /** The first slot of the probe sequence of `hash`. */
  start(hash: number): number {
    return hash & this.#mask;
  }

  /** The slot after `slot` in a probe sequence. */
  step(slot: number): number {
    return (slot + 1) & this.#mask;
  }

  /** The ref in `slot`: {@link EMPTY} ends the probe; any other negative value is to be skipped. */
  refAt(slot: number): number {
    return this.#slots[slot] as number;
  }

  /** Adds `ref`, whose entry hashes to `hash`. */
  add(ref: number, hash: number): void {
    if (this.#live + this.#tombstones + 1 > MAX_FILL * this.#slots.length) this.#resize();
    let i = hash & this.#mask;
    for (;;) {
      const r = this.#slots[i] as number;
      if (r === EMPTY) break;
      if (r === TOMBSTONE) {
        this.#tombstones--;
        break;
      }
      i = (i + 1) & this.#mask;
    }
    this.#slots[i] = ref;
    this.#live++;
  }

  /** Removes `ref`, whose entry hashes to `hash`; a ref not held is ignored. */
  remove(ref: number, hash: number): void {
    for (let i = hash & this.#mask; ; i = (i + 1) & this.#mask) {
      const r = this.#slots[i] as number;
      if (r === EMPTY) return;
      if (r === ref) {
        this.#slots[i] = TOMBSTONE;
        this.#live--;
        this.#tombstones++;
        return;
      }
    }
  }

  /** Doubles the capacity, or only sweeps the tombstones when the live refs alone fit. */
  #resize(): void {
    const old = this.#slots;
    let capacity = old.length;
    while ((this.#live + 1) * 2 > MAX_FILL * capacity) capacity *= 2;
    this.#slots = new Int32Array(capacity).fill(EMPTY);
    this.#mask = capacity - 1;
    this.#tombstones = 0;
    const live = this.#live;
    this.#live = 0;
    for (let i = 0; i < old.length; i++) {
      const r = old[i] as number;
      if (r >= 0) this.add(r, this.#host.hashOfRef(r));
    }
    if (this.#live !== live) throw new Error(`id index lost refs while resizing: ${this.#live} of ${live}`);
  }
}
