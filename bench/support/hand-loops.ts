/**
 * The hand-written references the engine and the ceiling suites measure against: the same
 * computation as flowmark's, written as a plain loop with Maps, no engine. They are deliberately
 * not flowmark code — that is what they are a reference for.
 */
import type { WindowResult } from '../../src/engine/index.ts';
import type { BenchEvent } from './data-sets.ts';

interface Click {
  id: string;
  t: number;
}

/**
 * First-click attribution by hand, fed in event-time order: per key (user + product) the clicks
 * within the lookback, and for each checkout the first click (smallest (t, id)) within
 * [t − lookback, t]. No watermarks: the input must be in order (the generator's defaults). Checkouts
 * wait until event time moves past them, so that a click with the same millisecond delivered right
 * after its checkout still counts, as in the engine (whose checkouts wait for the watermark).
 * {@link result} is the attributed click id (or null) per checkout id.
 */
export class FirstClickLoop {
  readonly result = new Map<string, string | null>();
  readonly #lookbackMs: number;
  readonly #clicks = new Map<string, Click[]>();
  #pending: { id: string; key: string; t: number }[] = [];
  #pendingT = Number.NEGATIVE_INFINITY;
  #nextSweep = Number.NEGATIVE_INFINITY;

  constructor(lookbackMs: number) {
    this.#lookbackMs = lookbackMs;
  }

  click(key: string, id: string, t: number): void {
    this.#advance(t);
    const list = this.#clicks.get(key);
    const click = { id, t };
    if (list === undefined) {
      this.#clicks.set(key, [click]);
      return;
    }
    // Drop this key's clicks that no checkout to come (t_c ≥ min(t, pending)) can reach.
    const horizon = this.#horizon(t);
    let drop = 0;
    while (drop < list.length && (list[drop] as Click).t < horizon) drop++;
    if (drop > 0) list.splice(0, drop);
    list.push(click);
  }

  checkout(key: string, id: string, t: number): void {
    this.#advance(t);
    if (this.result.has(id) || this.#pending.some((p) => p.id === id)) return; // duplicate delivery
    this.#pending.push({ id, key, t });
    this.#pendingT = t;
  }

  /** The end of input: attributes the checkouts still waiting. */
  finish(): Map<string, string | null> {
    this.#flush();
    return this.result;
  }

  #horizon(t: number): number {
    return (this.#pending.length > 0 ? this.#pendingT : t) - this.#lookbackMs;
  }

  #advance(t: number): void {
    if (t > this.#pendingT && this.#pending.length > 0) this.#flush();
    if (t >= this.#nextSweep) {
      // Once per lookback of event time: forget keys whose last click is out of every window.
      const horizon = this.#horizon(t);
      for (const [key, list] of this.#clicks)
        if ((list[list.length - 1] as Click).t < horizon) this.#clicks.delete(key);
      this.#nextSweep = t + this.#lookbackMs;
    }
  }

  #flush(): void {
    for (const c of this.#pending) {
      const list = this.#clicks.get(c.key);
      let best: Click | null = null;
      if (list !== undefined) {
        const from = c.t - this.#lookbackMs;
        // In order: the list is sorted by time; the first one in the window, smallest id on ties.
        for (const k of list) {
          if (k.t < from) continue;
          if (k.t > c.t || (best !== null && k.t > best.t)) break;
          if (best === null || k.id < best.id) best = k;
        }
      }
      this.result.set(c.id, best === null ? null : best.id);
    }
    this.#pending = [];
  }
}

/** A keyed tumbling-window count by hand: a Map per window, fired when the watermark passes its end. */
export function handTumbling(events: BenchEvent[], windowMs: number, boundMs: number): number {
  const windows = new Map<number, Map<string, number>>();
  const results: WindowResult<number>[] = [];
  let maxTs = Number.NEGATIVE_INFINITY;
  let wm = Number.NEGATIVE_INFINITY;
  let nextEnd = Number.POSITIVE_INFINITY;
  let late = 0;
  const fire = (upTo: number) => {
    const ends = [...windows.keys()].filter((e) => e <= upTo).sort((a, b) => a - b);
    for (const end of ends) {
      for (const [key, value] of windows.get(end) as Map<string, number>) {
        results.push({ key, windowStartMs: end - windowMs, windowEndMs: end, value, firing: 0 });
      }
      windows.delete(end);
    }
    nextEnd = Math.min(...windows.keys());
  };
  for (const e of events) {
    if (e.t < wm) {
      late++;
      continue;
    }
    const end = Math.floor(e.t / windowMs) * windowMs + windowMs;
    let m = windows.get(end);
    if (m === undefined) {
      windows.set(end, (m = new Map()));
      if (end < nextEnd) nextEnd = end;
    }
    m.set(e.k, (m.get(e.k) ?? 0) + 1);
    if (e.t > maxTs) {
      maxTs = e.t;
      wm = maxTs - boundMs;
      if (wm >= nextEnd) fire(wm);
    }
  }
  fire(Number.POSITIVE_INFINITY);
  return results.length + late;
}

/** An inner interval join by hand: per-key arrays, pruned when the watermark passes. */
export function handJoin(events: BenchEvent[], lowerMs: number, upperMs: number, boundMs: number): number {
  const lefts = new Map<string, BenchEvent[]>();
  const rights = new Map<string, BenchEvent[]>();
  const results: number[] = [];
  let maxTs = Number.NEGATIVE_INFINITY;
  let wm = Number.NEGATIVE_INFINITY;
  let late = 0;
  let lastPrune = Number.NEGATIVE_INFINITY;
  for (const e of events) {
    if (e.t < wm) {
      late++;
      continue;
    }
    if (e.side === 0) {
      for (const r of rights.get(e.k) ?? []) if (r.t >= e.t + lowerMs && r.t <= e.t + upperMs) results.push(e.t - r.t);
      let l = lefts.get(e.k);
      if (l === undefined) lefts.set(e.k, (l = []));
      l.push(e);
    } else {
      for (const l of lefts.get(e.k) ?? []) if (e.t >= l.t + lowerMs && e.t <= l.t + upperMs) results.push(l.t - e.t);
      let r = rights.get(e.k);
      if (r === undefined) rights.set(e.k, (r = []));
      r.push(e);
    }
    if (e.t > maxTs) {
      maxTs = e.t;
      wm = maxTs - boundMs;
      if (wm - lastPrune > 1000) {
        lastPrune = wm;
        for (const [k, l] of lefts) {
          const keep = l.filter((x) => x.t + upperMs >= wm);
          if (keep.length === 0) lefts.delete(k);
          else lefts.set(k, keep);
        }
        for (const [k, r] of rights) {
          const keep = r.filter((x) => x.t - lowerMs >= wm);
          if (keep.length === 0) rights.delete(k);
          else rights.set(k, keep);
        }
      }
    }
  }
  return results.length + late;
}
