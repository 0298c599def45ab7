/**
 * A binary min-heap ordered by a numeric priority, ties broken by insertion order so that
 * everything built on it (timers, cleanup, the generator's delivery order) is deterministic.
 */
export class MinHeap<T> {
  #prio: number[] = [];
  #seq: number[] = [];
  #items: T[] = [];
  #nextSeq = 0;

  get size(): number {
    return this.#items.length;
  }

  /** The smallest priority, or +∞ when empty. */
  peekPriority(): number {
    return this.#items.length === 0 ? Number.POSITIVE_INFINITY : (this.#prio[0] as number);
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(priority: number, item: T): void {
    const p = this.#prio;
    const s = this.#seq;
    const it = this.#items;
    let i = it.length;
    const seq = this.#nextSeq++;
    p.push(priority);
    s.push(seq);
    it.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pp = p[parent] as number;
      if (pp < priority || (pp === priority && (s[parent] as number) < seq)) break;
      p[i] = pp;
      s[i] = s[parent] as number;
      it[i] = it[parent] as T;
      i = parent;
    }
    p[i] = priority;
    s[i] = seq;
    it[i] = item;
  }

  pop(): T | undefined {
    const it = this.#items;
    if (it.length === 0) return undefined;
    const top = it[0] as T;
    const p = this.#prio;
    const s = this.#seq;
    const lastP = p.pop() as number;
    const lastS = s.pop() as number;
    const lastI = it.pop() as T;
    const n = it.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        if (r < n) {
          const pr = p[r] as number;
          const pl = p[l] as number;
          if (pr < pl || (pr === pl && (s[r] as number) < (s[l] as number))) c = r;
        }
        const pc = p[c] as number;
        if (lastP < pc || (lastP === pc && lastS < (s[c] as number))) break;
        p[i] = pc;
        s[i] = s[c] as number;
        it[i] = it[c] as T;
        i = c;
      }
      p[i] = lastP;
      s[i] = lastS;
      it[i] = lastI;
    }
    return top;
  }

  clear(): void {
    this.#prio = [];
    this.#seq = [];
    this.#items = [];
    this.#nextSeq = 0;
  }
}
