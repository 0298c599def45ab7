/**
 * The visits under way of the website simulator (./traffic-simulator.ts): one row per session, in
 * columns of typed arrays indexed by slot, and a binary min-heap of slots by (time of the next
 * event, sequence number).
 *
 * Why columns: a session lives minutes, so at 100 k events/s a few million are under way at once.
 * As objects they weighed over a gigabyte that the garbage collector marked again and again — more
 * than half the CPU of `flowmark produce --rate 100000` (issue 16). As columns they are about 100
 * bytes each, never traced, and the heap compares numbers in place.
 *
 * @example
 * const t = new SessionTable();
 * const s = t.alloc();
 * t.timeMs[s] = 1000; t.seq[s] = 0;
 * t.push(s);
 * t.peekTime(); // 1000
 */

/** The most products a session clicks (the simulator's click counts are 1…12). */
export const MAX_CLICKS = 12;

const INITIAL_ROWS = 1024;

export class SessionTable {
  // The columns (replaced, larger, when the table grows: read them through the table each time).
  timeMs = new Float64Array(INITIAL_ROWS);
  seq = new Float64Array(INITIAL_ROWS);
  user = new Int32Array(INITIAL_ROWS);
  source = new Uint8Array(INITIAL_ROWS);
  stage = new Int8Array(INITIAL_ROWS);
  clicksLeft = new Int8Array(INITIAL_ROWS);
  converts = new Uint8Array(INITIAL_ROWS);
  product = new Int32Array(INITIAL_ROWS);
  quantity = new Uint8Array(INITIAL_ROWS);
  discount = new Float64Array(INITIAL_ROWS);
  shippingCost = new Float64Array(INITIAL_ROWS);
  paymentMethod = new Uint8Array(INITIAL_ROWS);
  /** Products clicked so far, {@link MAX_CLICKS} per slot, the first `clickedCount[slot]` of them. */
  clicked = new Int32Array(INITIAL_ROWS * MAX_CLICKS);
  clickedCount = new Uint8Array(INITIAL_ROWS);

  #rows = INITIAL_ROWS;
  /** Slots in use or released: slots ≥ this were never used. */
  #highWater = 0;
  #free = new Int32Array(INITIAL_ROWS);
  #freeCount = 0;

  // The heap: slots, with their keys beside them so that sifting compares numbers in place.
  #heap = new Int32Array(INITIAL_ROWS);
  #heapTime = new Float64Array(INITIAL_ROWS);
  #heapSeq = new Float64Array(INITIAL_ROWS);
  #size = 0;

  /** Sessions in the heap. */
  get size(): number {
    return this.#size;
  }

  /** A free slot, its columns zero (a session with nothing clicked). */
  alloc(): number {
    let slot: number;
    if (this.#freeCount > 0) slot = this.#free[--this.#freeCount] as number;
    else {
      if (this.#highWater === this.#rows) this.#grow();
      slot = this.#highWater++;
    }
    this.clickedCount[slot] = 0;
    return slot;
  }

  /** Gives `slot` back (a session that ended). */
  release(slot: number): void {
    if (this.#freeCount === this.#free.length) this.#free = grown(this.#free, this.#free.length * 2);
    this.#free[this.#freeCount++] = slot;
  }

  /** A new slot holding the same session as `from` (its clicked products too). */
  copy(from: number): number {
    const to = this.alloc();
    this.timeMs[to] = this.timeMs[from] as number;
    this.seq[to] = this.seq[from] as number;
    this.user[to] = this.user[from] as number;
    this.source[to] = this.source[from] as number;
    this.stage[to] = this.stage[from] as number;
    this.clicksLeft[to] = this.clicksLeft[from] as number;
    this.converts[to] = this.converts[from] as number;
    this.product[to] = this.product[from] as number;
    this.quantity[to] = this.quantity[from] as number;
    this.discount[to] = this.discount[from] as number;
    this.shippingCost[to] = this.shippingCost[from] as number;
    this.paymentMethod[to] = this.paymentMethod[from] as number;
    this.clickedCount[to] = this.clickedCount[from] as number;
    this.clicked.copyWithin(to * MAX_CLICKS, from * MAX_CLICKS, from * MAX_CLICKS + MAX_CLICKS);
    return to;
  }

  /** Appends a clicked product to the session's list. */
  addClicked(slot: number, product: number): void {
    const n = this.clickedCount[slot] as number;
    if (n >= MAX_CLICKS) throw new RangeError(`a session clicks at most ${MAX_CLICKS} products`);
    this.clicked[slot * MAX_CLICKS + n] = product;
    this.clickedCount[slot] = n + 1;
  }

  /** The `i`-th product the session clicked. */
  clickedAt(slot: number, i: number): number {
    return this.clicked[slot * MAX_CLICKS + i] as number;
  }

  /** Puts `slot` in the heap, keyed by its current (timeMs, seq). */
  push(slot: number): void {
    if (this.#size === this.#heap.length) {
      const n = this.#heap.length * 2;
      this.#heap = grown(this.#heap, n);
      this.#heapTime = grown(this.#heapTime, n);
      this.#heapSeq = grown(this.#heapSeq, n);
    }
    const heap = this.#heap;
    const time = this.#heapTime;
    const seqs = this.#heapSeq;
    const t = this.timeMs[slot] as number;
    const q = this.seq[slot] as number;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = time[parent] as number;
      if (pt < t || (pt === t && (seqs[parent] as number) < q)) break;
      heap[i] = heap[parent] as number;
      time[i] = pt;
      seqs[i] = seqs[parent] as number;
      i = parent;
    }
    heap[i] = slot;
    time[i] = t;
    seqs[i] = q;
  }

  /** The slot of the earliest session (the heap must not be empty). */
  peekSlot(): number {
    return this.#heap[0] as number;
  }

  /** The time of the earliest session's next event (+∞ when the heap is empty). */
  peekTime(): number {
    return this.#size === 0 ? Number.POSITIVE_INFINITY : (this.#heapTime[0] as number);
  }

  /** Removes the earliest session from the heap (its slot is not released). */
  pop(): void {
    const last = --this.#size;
    if (last > 0) {
      this.#heap[0] = this.#heap[last] as number;
      this.#heapTime[0] = this.#heapTime[last] as number;
      this.#heapSeq[0] = this.#heapSeq[last] as number;
      this.#siftDown();
    }
  }

  /** Restores the heap after the earliest session's next event moved later (its timeMs changed). */
  updateTop(): void {
    const slot = this.#heap[0] as number;
    this.#heapTime[0] = this.timeMs[slot] as number;
    this.#siftDown();
  }

  /** Moves every session in the heap `deltaMs` later (order unchanged). */
  shift(deltaMs: number): void {
    for (let i = 0; i < this.#size; i++) {
      const slot = this.#heap[i] as number;
      this.timeMs[slot] = (this.timeMs[slot] as number) + deltaMs;
      this.#heapTime[i] = (this.#heapTime[i] as number) + deltaMs;
    }
  }

  #siftDown(): void {
    const heap = this.#heap;
    const time = this.#heapTime;
    const seqs = this.#heapSeq;
    const n = this.#size;
    let i = 0;
    const s = heap[0] as number;
    const t = time[0] as number;
    const q = seqs[0] as number;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n) {
        const tr = time[r] as number;
        const tl = time[l] as number;
        if (tr < tl || (tr === tl && (seqs[r] as number) < (seqs[l] as number))) c = r;
      }
      const tc = time[c] as number;
      if (tc > t || (tc === t && (seqs[c] as number) > q)) break;
      heap[i] = heap[c] as number;
      time[i] = tc;
      seqs[i] = seqs[c] as number;
      i = c;
    }
    heap[i] = s;
    time[i] = t;
    seqs[i] = q;
  }

  #grow(): void {
    const n = this.#rows * 2;
    this.timeMs = grown(this.timeMs, n);
    this.seq = grown(this.seq, n);
    this.user = grown(this.user, n);
    this.source = grown(this.source, n);
    this.stage = grown(this.stage, n);
    this.clicksLeft = grown(this.clicksLeft, n);
    this.converts = grown(this.converts, n);
    this.product = grown(this.product, n);
    this.quantity = grown(this.quantity, n);
    this.discount = grown(this.discount, n);
    this.shippingCost = grown(this.shippingCost, n);
    this.paymentMethod = grown(this.paymentMethod, n);
    this.clicked = grown(this.clicked, n * MAX_CLICKS);
    this.clickedCount = grown(this.clickedCount, n);
    this.#rows = n;
  }
}

type Column = Float64Array | Int32Array | Int8Array | Uint8Array;

/** A copy of `a` with room for `n` entries. */
function grown<T extends Column>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}
