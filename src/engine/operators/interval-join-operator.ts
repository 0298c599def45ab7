import { FlowmarkError } from '../errors.ts';
import { MinHeap } from '../heap.ts';
import type { IntervalJoinSpec } from '../interval-join-types.ts';
import type { Key, Operator, OperatorContext, Output } from '../operator.ts';
import type { StateTable } from '../state/state-table.ts';
import { MIN_WATERMARK } from '../time.ts';

/** A buffered left record: event time, arrival sequence, value, whether it has matched. */
type LeftEntry<L> = [t: number, seq: number, value: L, matched: boolean];
/** A buffered right record; arrival order is its position among equal times in the key's list. */
type RightEntry<R> = [t: number, value: R];

/**
 * Joins a left and a right keyed stream within an event-time interval (like Flink's
 * IntervalJoinOperator). Input 0 is the left stream, input 1 the right one. Semantics:
 *
 * - left `l` and right `r` with the same key match iff `l.t + lowerMs ≤ r.t ≤ l.t + upperMs`
 *   (both bounds inclusive); a result carries the left record's event time;
 * - the operator's watermark W is the minimum over both inputs. A record with `t < W` is late:
 *   a left one goes unchanged to `lateLeft`, a right one to `lateRight`; it is never joined;
 * - on arrival, a record is joined with every match already buffered on the other side, in
 *   order of the other side's event time, then arrival;
 * - `leftOuter` also emits `join(l, undefined)` for a left record that matched nothing, exactly
 *   once, when `W > l.t + upperMs` (no right record can match it any more);
 * - a left record leaves the state once `W > l.t + upperMs`; a right one once
 *   `W > r.t − lowerMs` (every future on-time left has `l.t ≥ W`, so cannot reach it). At
 *   `W = +∞` the state is empty;
 * - the output watermark is `min(W, earliest buffered left event time)`, since a buffered left
 *   can still produce results at its own event time; left-outer rows finalized by a watermark
 *   are emitted in order of (l.t, arrival) before that watermark is forwarded.
 *
 * State: tables `left` and `right`, per key a list sorted by (event time, arrival). Cleanup is
 * driven by two min-heaps of keys, one item per buffered record, rebuilt after a restore.
 */
export class IntervalJoinOperator<L, R, O> implements Operator {
  readonly #leftKeyOf: (value: L) => Key;
  readonly #rightKeyOf: (value: R) => Key;
  readonly #join: (left: L, right: R | undefined) => O;
  readonly #lowerMs: number;
  readonly #upperMs: number;
  readonly #outer: boolean;
  #out!: Output<O>;
  #lateLeft!: Output<L>;
  #lateRight!: Output<R>;
  #lefts!: StateTable<LeftEntry<L>[]>;
  #rights!: StateTable<RightEntry<R>[]>;
  /** Priority `l.t + upperMs`: when the record's result becomes final. */
  readonly #leftHeap = new MinHeap<Key>();
  /** Priority `r.t − lowerMs`: after it no on-time left can match the record. */
  readonly #rightHeap = new MinHeap<Key>();
  #seq = 0;
  #watermarkMs = MIN_WATERMARK;
  #outWatermarkMs = MIN_WATERMARK;

  constructor(leftKeyOf: (value: L) => Key, rightKeyOf: (value: R) => Key, spec: IntervalJoinSpec<L, R, O>) {
    // Infinite bounds would make the cleanup times and the watermark hold NaN.
    if (!Number.isFinite(spec.lowerMs) || !Number.isFinite(spec.upperMs) || spec.lowerMs > spec.upperMs) {
      throw new FlowmarkError(
        'FM_PIPELINE_INVALID',
        `interval join bounds must be finite with lowerMs ≤ upperMs (got ${spec.lowerMs}, ${spec.upperMs})`,
      );
    }
    this.#leftKeyOf = leftKeyOf;
    this.#rightKeyOf = rightKeyOf;
    this.#join = spec.join;
    this.#lowerMs = spec.lowerMs;
    this.#upperMs = spec.upperMs;
    this.#outer = spec.kind === 'leftOuter';
  }

  open(ctx: OperatorContext): void {
    this.#out = ctx.output();
    this.#lateLeft = ctx.output('lateLeft');
    this.#lateRight = ctx.output('lateRight');
    this.#lefts = ctx.table('left');
    this.#rights = ctx.table('right');
  }

  processRecord(input: number, value: unknown, eventTimeMs: number): void {
    if (eventTimeMs < this.#watermarkMs) {
      if (input === 0) this.#lateLeft.push(value as L, eventTimeMs);
      else this.#lateRight.push(value as R, eventTimeMs);
      return;
    }
    if (input === 0) this.#onLeft(value as L, eventTimeMs);
    else this.#onRight(value as R, eventTimeMs);
  }

  #onLeft(value: L, t: number): void {
    const key = this.#leftKeyOf(value);
    const toMs = t + this.#upperMs;
    let matched = false;
    const rights = this.#rights.get(key);
    if (rights !== undefined) {
      for (let i = firstAtOrAfter(rights, t + this.#lowerMs); i < rights.length; i++) {
        const r = rights[i] as RightEntry<R>;
        if (r[0] > toMs) break;
        this.#out.push(this.#join(value, r[1]), t);
        matched = true;
      }
    }
    if (toMs < this.#watermarkMs) {
      // Only possible with upperMs < 0: every right it could match is behind W, so it is final now.
      if (this.#outer && !matched) this.#out.push(this.#join(value, undefined), t);
      return;
    }
    const entry: LeftEntry<L> = [t, this.#seq++, value, matched];
    const lefts = this.#lefts.get(key);
    if (lefts === undefined) this.#lefts.set(key, [entry]);
    else {
      insertSorted(lefts, entry);
      this.#lefts.touch(key);
    }
    this.#leftHeap.push(toMs, key);
  }

  #onRight(value: R, t: number): void {
    const key = this.#rightKeyOf(value);
    const lefts = this.#lefts.get(key);
    if (lefts !== undefined) {
      const toMs = t - this.#lowerMs;
      let changed = false;
      for (let i = firstAtOrAfter(lefts, t - this.#upperMs); i < lefts.length; i++) {
        const l = lefts[i] as LeftEntry<L>;
        if (l[0] > toMs) break;
        this.#out.push(this.#join(l[2], value), l[0]);
        if (!l[3]) {
          l[3] = true;
          changed = true;
        }
      }
      // Only outer joins read the flag: inner ones need not dirty the table for it.
      if (changed && this.#outer) this.#lefts.touch(key);
    }
    const dropMs = t - this.#lowerMs;
    // Only possible with lowerMs > 0: no on-time left (l.t ≥ W) can reach it, so keep nothing.
    if (dropMs < this.#watermarkMs) return;
    const entry: RightEntry<R> = [t, value];
    const rights = this.#rights.get(key);
    if (rights === undefined) this.#rights.set(key, [entry]);
    else {
      insertSorted(rights, entry);
      this.#rights.touch(key);
    }
    this.#rightHeap.push(dropMs, key);
  }

  processWatermark(watermarkMs: number): number {
    this.#watermarkMs = watermarkMs;
    // The heaps pop in (time, push) order and each key's list is sorted the same way, so the
    // record a popped item stands for is always the first of its key's list.
    const leftHeap = this.#leftHeap;
    while (leftHeap.size > 0 && leftHeap.peekPriority() < watermarkMs) {
      const key = leftHeap.pop() as Key;
      const lefts = this.#lefts.get(key) as LeftEntry<L>[];
      const l = lefts.shift() as LeftEntry<L>;
      if (this.#outer && !l[3]) this.#out.push(this.#join(l[2], undefined), l[0]);
      if (lefts.length === 0) this.#lefts.delete(key);
      else this.#lefts.touch(key);
    }
    const rightHeap = this.#rightHeap;
    while (rightHeap.size > 0 && rightHeap.peekPriority() < watermarkMs) {
      const key = rightHeap.pop() as Key;
      const rights = this.#rights.get(key) as RightEntry<R>[];
      rights.shift();
      if (rights.length === 0) this.#rights.delete(key);
      else this.#rights.touch(key);
    }
    const held = this.#heldWatermark();
    if (held > this.#outWatermarkMs) this.#outWatermarkMs = held;
    // Not advanced (a buffered left still holds it): the same value again, which forwards nothing.
    return this.#outWatermarkMs;
  }

  /** min(W, earliest buffered left time): results of a buffered left carry its event time. */
  #heldWatermark(): number {
    // An empty heap peeks +∞, and +∞ − upperMs stays +∞.
    return Math.min(this.#watermarkMs, this.#leftHeap.peekPriority() - this.#upperMs);
  }

  afterRestore(watermarkMs: number): void {
    this.#watermarkMs = watermarkMs;
    this.#leftHeap.clear();
    this.#rightHeap.clear();
    // Equal cleanup times pop in push order: push in (t, arrival) order, as the uninterrupted
    // run did, so that left-outer rows come out in the same order.
    const lefts: Array<[t: number, seq: number, key: Key]> = [];
    let maxSeq = -1;
    for (const [key, list] of this.#lefts.entries()) {
      for (const [t, seq] of list) {
        lefts.push([t, seq, key]);
        if (seq > maxSeq) maxSeq = seq;
      }
    }
    lefts.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const [t, , key] of lefts) this.#leftHeap.push(t + this.#upperMs, key);
    // Only the order among live and future records matters: continue after the largest live one.
    this.#seq = maxSeq + 1;
    for (const [key, list] of this.#rights.entries()) {
      for (const [t] of list) this.#rightHeap.push(t - this.#lowerMs, key);
    }
    // The hold never goes down, so this is what was last forwarded before the checkpoint.
    this.#outWatermarkMs = this.#heldWatermark();
  }

  describe(): Record<string, unknown> {
    return {
      lowerMs: this.#lowerMs,
      upperMs: this.#upperMs,
      bufferedLeft: this.#leftHeap.size,
      bufferedRight: this.#rightHeap.size,
    };
  }
}

/** The first index whose time is ≥ `t` (lists are sorted by time). */
function firstAtOrAfter(list: ReadonlyArray<{ readonly 0: number }>, t: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as { readonly 0: number })[0] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts after every entry with time ≤ the new one's: stable, so equal times keep arrival order. */
function insertSorted<E extends { readonly 0: number }>(list: E[], entry: E): void {
  const t = entry[0];
  // Records mostly arrive in time order: appending is the common case.
  if (list.length === 0 || (list[list.length - 1] as E)[0] <= t) {
    list.push(entry);
    return;
  }
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as E)[0] <= t) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, entry);
}
