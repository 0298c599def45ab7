import type { KeyedProcessFunction, SortedListState } from '../engine/index.ts';
import type { AttributionOptions } from './attribution-options.ts';
import type { Checkout, Click } from './event-types.ts';
import { byTimeThenId, type CandidateClick, type Credit, credits } from './models/attribution-models.ts';

/** What enters attribution: a click or a (de-duplicated) checkout, with the same key. */
export type AttributionInput = { kind: 'click'; click: Click } | { kind: 'checkout'; checkout: Checkout };

/** The attribution of one checkout; `credits` is empty when no click can be credited. */
export interface AttributionResult {
  checkout: Checkout;
  credits: Credit[];
  isFinal: boolean;
}

interface AttributionState {
  /**
   * Every click of this key that can still match a checkout, by event time. Its TTL is the
   * lookback: a key whose last click is more than a lookback behind the watermark is dropped
   * whole by the state backend, with no timer per key.
   */
  clicks: SortedListState<CandidateClick>;
  /** Checkouts whose result is not final yet (the watermark has not passed them), by time. */
  pending: SortedListState<Checkout>;
}

/** The attribution key: (user, product), or the user alone with `scope: user`. */
export function attributionKey(userId: string, productId: string | null, scope: AttributionOptions['scope']): string {
  return scope === 'user' ? userId : `${userId}\u0000${productId ?? ''}`;
}

/**
 * First-click (and multi-touch) attribution per key, exactly as ARCHITECTURE §3.3:
 *
 * - the candidates of checkout c at t_c are the on-time clicks of its key with
 *   t_c − lookback ≤ t_k ≤ t_c (both ends inclusive), excluding `excludedSources`, ordered by
 *   (t_k, click_id); the model turns them into credits (first_click: the smallest);
 * - the result of c is final once the watermark is > t_c: a timer at t_c. Clicks that arrive after
 *   the checkout but on time still count. With `provisional`, a row is also emitted when the
 *   checkout (or a click inside its window) arrives, and replaced by the final one;
 * - a click is kept while it can still match: it is dropped once it is below both
 *   watermark − lookback and every pending checkout's window (pruned whenever the key is
 *   touched, and a key gone quiet expires whole through the TTL of its click list). Keeping one
 *   click per key would be wrong (clicks at −70, −50 and −10 min: the answer is −50);
 * - a click id seen twice for a key is kept once, at its first on-time delivery (a duplicate
 *   delivery must not earn credit twice).
 *
 * Late events never reach this function: the operator sends them to its late output.
 */
export function attributionFunction(
  o: AttributionOptions,
): KeyedProcessFunction<AttributionInput, AttributionResult, AttributionState> {
  const excluded = new Set(o.excludedSources);
  const candidatesOf = (st: AttributionState, c: Checkout): CandidateClick[] =>
    st.clicks
      .range(c.eventTimeMs - o.lookbackMs, c.eventTimeMs)
      .map(([, k]) => k)
      .sort(byTimeThenId);
  const result = (st: AttributionState, c: Checkout, isFinal: boolean): AttributionResult => ({
    checkout: c,
    credits: credits(candidatesOf(st, c), c.eventTimeMs, o),
    isFinal,
  });
  /** Drops the clicks no future checkout (t_c ≥ watermark) and no pending one can reach. */
  const prune = (st: AttributionState, watermarkMs: number): void => {
    const firstPending = st.pending.all()[0];
    let horizon = watermarkMs - o.lookbackMs;
    if (firstPending !== undefined) horizon = Math.min(horizon, firstPending[0] - o.lookbackMs);
    st.clicks.removeBefore(horizon);
  };
  return {
    state: (s) => ({
      clicks: s.sortedList<CandidateClick>('clicks', { ttlMs: o.lookbackMs }),
      pending: s.sortedList<Checkout>('pending'),
    }),

    onElement(input, ctx, st) {
      if (input.kind === 'checkout') {
        // The raw line stays with the checkout (only until its result is final): a result row the
        // database refuses becomes a dead letter with the line it was made from (§3.6).
        const c = input.checkout;
        st.pending.add(c.eventTimeMs, c);
        ctx.registerTimer(c.eventTimeMs);
        if (o.provisional) ctx.emit(result(st, c, false));
        return;
      }
      const k = input.click;
      if (k.source !== null && excluded.has(k.source)) return;
      const t = k.eventTimeMs;
      // One read of the list for both checks: this runs for every click. A click id delivered
      // again (even with another time) is kept once.
      const list = st.clicks.all();
      const id = k.clickId;
      // An index loop: destructuring each entry costs more than the comparison.
      for (let i = 0; i < list.length; i++) if ((list[i] as (typeof list)[number])[1].clickId === id) return;
      const oldest = list[0];
      if (oldest !== undefined && oldest[0] < ctx.watermarkMs - o.lookbackMs) prune(st, ctx.watermarkMs);
      st.clicks.add(t, { clickId: k.clickId, source: k.source, eventTimeMs: t });
      if (o.provisional) {
        for (const [, c] of st.pending.range(t, t + o.lookbackMs)) ctx.emit(result(st, c, false));
      }
    },

    onTimer(timeMs, ctx, st) {
      // Final results for the checkouts at this time (earlier ones fired at their own timers).
      for (const [tc, c] of st.pending.all()) {
        if (tc > timeMs) break;
        ctx.emit(result(st, c, true), tc);
      }
      st.pending.removeBefore(timeMs + 1);
      prune(st, ctx.watermarkMs);
    },
  };
}
