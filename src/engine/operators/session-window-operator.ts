import { FlowmarkError } from '../errors.ts';
import { MinHeap } from '../heap.ts';
import type { Key, Operator, OperatorContext, Output } from '../operator.ts';
import type { StateTable } from '../state/state-table.ts';
import { MIN_WATERMARK } from '../time.ts';
import type { AggregateFunction, WindowOptions, WindowResult } from '../windows/window-types.ts';
import { validLateness } from './window-operator.ts';

/** One session of one key: `[start, end)`, its accumulator, and how many results its lineage emitted. */
type Session<A> = [start: number, end: number, acc: A, emitted: number];

/**
 * Session windows with incremental aggregation. With W the operator's watermark, L =
 * `allowedLatenessMs` (default 0) and g the gap:
 *
 * - Per key, a record at t makes the window `[t, t + g)`; it merges with every session of that key
 *   it intersects (s < t + g and t < e), with `aggregate.merge` in start order, then `add`. So
 *   records less than g apart share a session; records exactly g apart do not.
 * - A record is late iff t < W − L: it goes unchanged to `late` and is counted nowhere else.
 * - A session `[s, e)` fires when W ≥ e: one {@link WindowResult} with event time e − 1. Sessions
 *   fire in order of (end, start, key as string), so a restored run emits exactly the sequence an
 *   uninterrupted one does.
 * - `firing` continues a session's lineage: it is the number of results emitted before for this
 *   session or any session merged into it (the largest such count), so a fresh session fires
 *   with 0 and every re-emission of an updated one counts up.
 * - With L > 0 a record with W − L ≤ t may touch sessions that already fired. If the session it
 *   lands in (after merging) ends at e ≤ W, that session is emitted at once (event time e − 1,
 *   behind the output watermark) with `firing` as above — this covers a record inside a fired
 *   session, one that merges fired sessions, and a brand-new session entirely behind W (firing 0).
 *   If merging or extending pushes the end past W, nothing is emitted now: the merged session fires
 *   when W reaches its new end, with its lineage's next `firing`. Results already emitted for
 *   the absorbed sessions' old bounds are not retracted.
 * - A session's state is deleted once W ≥ e + L (with L = 0: as soon as it fires). An accepted
 *   record starts at t ≥ W − L ≥ e for every deleted session, so it could not have merged with it.
 * - After firing and cleaning up, the watermark is forwarded unchanged.
 *
 * State: one table `sessions`, keyed by the record key, holding that key's sessions sorted by
 * start (disjoint). In memory only a timer index: a heap of (deadline, key) where a key's
 * deadline is the earliest end of its unfired sessions or end + L of its fired ones; `#deadline`
 * holds the priority of each key's live heap entry, which is never later than its true next
 * deadline (a session growing later keeps the earlier entry; it is re-armed when it pops).
 * `afterRestore` rebuilds both from the table.
 */
export class SessionWindowOperator<T, A, R> implements Operator {
  readonly #keyOf: (value: T) => Key;
  readonly #gapMs: number;
  readonly #agg: AggregateFunction<T, A, R>;
  readonly #merge: (a: A, b: A) => A;
  readonly #latenessMs: number;
  #out!: Output<WindowResult<R>>;
  #late!: Output<T>;
  #table!: StateTable<Session<A>[]>;
  #wm = MIN_WATERMARK;
  #heap = new MinHeap<Key>();
  readonly #deadline = new Map<Key, number>();
  #sessions = 0;

  constructor(
    keyOf: (value: T) => Key,
    gapMs: number,
    aggregate: AggregateFunction<T, A, R>,
    options: WindowOptions = {},
  ) {
    if (!(typeof gapMs === 'number' && Number.isFinite(gapMs) && gapMs > 0)) {
      throw new FlowmarkError(
        'FM_PIPELINE_INVALID',
        `session window gapMs must be a positive, finite number of ms, got ${String(gapMs)}`,
      );
    }
    const merge = aggregate.merge;
    if (merge === undefined) {
      throw new FlowmarkError(
        'FM_PIPELINE_INVALID',
        'session windows need an aggregate with merge(a, b): sessions merge when a record bridges them',
      );
    }
    this.#keyOf = keyOf;
    this.#gapMs = gapMs;
    this.#agg = aggregate;
    this.#merge = merge.bind(aggregate);
    this.#latenessMs = validLateness(options.allowedLatenessMs);
  }

  open(ctx: OperatorContext): void {
    this.#out = ctx.output();
    this.#late = ctx.output('late');
    this.#table = ctx.table<Session<A>[]>('sessions');
  }

  processRecord(_input: number, value: unknown, eventTimeMs: number): void {
    const t = eventTimeMs;
    if (t < this.#wm - this.#latenessMs) {
      this.#late.push(value as T, t);
      return;
    }
    const key = this.#keyOf(value as T);
    const e = t + this.#gapMs;
    const agg = this.#agg;
    const list = this.#table.get(key);
    if (list === undefined) {
      const s: Session<A> = [t, e, agg.add(agg.create(), value as T), 0];
      this.#table.set(key, [s]);
      this.#sessions++;
      this.#settle(key, s);
      return;
    }
    // Sessions are disjoint and sorted, so the ones intersecting [t, e) are contiguous: [lo, hi).
    let lo = 0;
    while (lo < list.length && (list[lo] as Session<A>)[1] <= t) lo++;
    let hi = lo;
    while (hi < list.length && (list[hi] as Session<A>)[0] < e) hi++;
    let s: Session<A>;
    if (hi === lo) {
      s = [t, e, agg.add(agg.create(), value as T), 0];
      list.splice(lo, 0, s);
      this.#sessions++;
    } else {
      s = list[lo] as Session<A>;
      if (hi - lo === 1 && s[1] > this.#wm) {
        // The common case: a record inside or just after one open session. Its end only grows,
        // so its armed deadline stays early enough.
        if (t < s[0]) s[0] = t;
        if (e > s[1]) s[1] = e;
        s[2] = agg.add(s[2], value as T);
        this.#table.touch(key);
        return;
      }
      let acc = s[2];
      for (let i = lo + 1; i < hi; i++) {
        const other = list[i] as Session<A>;
        acc = this.#merge(acc, other[2]);
        if (other[3] > s[3]) s[3] = other[3];
      }
      const last = list[hi - 1] as Session<A>;
      if (t < s[0]) s[0] = t;
      s[1] = Math.max(last[1], e, s[1]);
      s[2] = agg.add(acc, value as T);
      if (hi - lo > 1) {
        list.splice(lo + 1, hi - lo - 1);
        this.#sessions -= hi - lo - 1;
      }
    }
    this.#table.touch(key);
    this.#settle(key, s);
  }

  /** After `s` (of `key`) changed: emits it at once if it already ended, and keeps its timer early enough. */
  #settle(key: Key, s: Session<A>): void {
    let deadline = s[1];
    // Only possible under allowed lateness: the session is behind the watermark.
    if (s[1] <= this.#wm) {
      this.#emit(key, s);
      deadline += this.#latenessMs;
    }
    const armed = this.#deadline.get(key);
    if (armed === undefined || deadline < armed) this.#arm(key, deadline);
  }

  #arm(key: Key, deadline: number): void {
    this.#deadline.set(key, deadline);
    this.#heap.push(deadline, key);
  }

  #emit(key: Key, s: Session<A>): void {
    this.#out.push(
      { key, windowStartMs: s[0], windowEndMs: s[1], value: this.#agg.result(s[2]), firing: s[3] },
      s[1] - 1,
    );
    s[3]++;
  }

  processWatermark(watermarkMs: number): number {
    const prev = this.#wm;
    if (watermarkMs <= prev) return MIN_WATERMARK;
    this.#wm = watermarkMs;
    const heap = this.#heap;
    const keys: Key[] = [];
    while (heap.size > 0 && heap.peekPriority() <= watermarkMs) {
      const at = heap.peekPriority();
      const key = heap.pop() as Key;
      // An entry whose priority is not the key's armed deadline was superseded (or is a duplicate).
      if (this.#deadline.get(key) !== at) continue;
      this.#deadline.delete(key);
      keys.push(key);
    }
    if (keys.length === 0) return watermarkMs;
    // Every session ending in (prev, watermark] has not fired yet, and its key was armed ≤ its end.
    const due: Array<[Key, Session<A>]> = [];
    for (const key of keys) {
      for (const s of this.#table.get(key) ?? []) if (s[1] > prev && s[1] <= watermarkMs) due.push([key, s]);
    }
    due.sort(([ka, a], [kb, b]) => a[1] - b[1] || a[0] - b[0] || (ka < kb ? -1 : ka > kb ? 1 : 0));
    const emitted = new Set<Key>();
    for (const [key, s] of due) {
      this.#emit(key, s);
      emitted.add(key);
    }
    const lateness = this.#latenessMs;
    for (const key of keys) {
      const list = this.#table.get(key);
      if (list === undefined) continue;
      const live = list.filter((s) => s[1] + lateness > watermarkMs);
      if (live.length === 0) {
        this.#sessions -= list.length;
        this.#table.delete(key);
        continue;
      }
      if (live.length < list.length) {
        this.#sessions -= list.length - live.length;
        this.#table.set(key, live);
      } else if (emitted.has(key)) {
        this.#table.touch(key); // the emitted counts are state while late records may still come
      }
      this.#arm(key, this.#nextDeadline(live));
    }
    return watermarkMs;
  }

  #nextDeadline(list: readonly Session<A>[]): number {
    let d = Number.POSITIVE_INFINITY;
    for (const s of list) {
      const at = s[1] <= this.#wm ? s[1] + this.#latenessMs : s[1];
      if (at < d) d = at;
    }
    return d;
  }

  afterRestore(watermarkMs: number): void {
    this.#wm = watermarkMs;
    this.#heap.clear();
    this.#deadline.clear();
    this.#sessions = 0;
    for (const [key, list] of this.#table.entries()) {
      this.#sessions += list.length;
      this.#arm(key, this.#nextDeadline(list));
    }
  }

  describe(): Record<string, unknown> {
    return {
      assigner: 'session',
      gapMs: this.#gapMs,
      allowedLatenessMs: this.#latenessMs,
      openWindows: this.#sessions,
      keys: this.#table.size,
    };
  }
}
