/**
 * An interval join of a left and a right keyed stream: left `l` and right `r` with the same key
 * match iff `l.t + lowerMs ≤ r.t ≤ l.t + upperMs` (both bounds inclusive).
 * `inner` emits every matching pair; `leftOuter` also emits `join(l, undefined)` for a left record
 * that matched nothing, once the watermark has passed `l.t + upperMs` (its result is final).
 * Outputs carry the left record's event time.
 */
export interface IntervalJoinSpec<L, R, O> {
  lowerMs: number;
  upperMs: number;
  kind?: 'inner' | 'leftOuter';
  join: (left: L, right: R | undefined) => O;
}
