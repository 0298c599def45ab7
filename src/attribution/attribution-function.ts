import type { KeyedProcessFunction, TableRow, TimeTableState } from '../engine/index.ts';
import type { AttributionOptions } from './attribution-options.ts';
import type { Checkout, Click } from './event-types.ts';
import { lookbackWindows } from './lookback-windows.ts';
import { type CandidateClick, type Credit, credits } from './models/attribution-models.ts';

/** What enters attribution: a click or a (de-duplicated) checkout, with the same key. */
export type AttributionInput = { kind: 'click'; click: Click } | { kind: 'checkout'; checkout: Checkout };

/** The attribution of one checkout; `credits` is empty when no click can be credited. */
export interface AttributionResult {
  checkout: Checkout;
  credits: Credit[];
  isFinal: boolean;
}

/** A click as attribution keeps it: its id as 16 bytes (a UUID), its source interned. */
const CLICK_COLUMNS = { clickId: 'uuid', source: 'string' } as const;

/** A checkout waiting for its final result: every field the result needs (null amount: NaN). */
const PENDING_COLUMNS = {
  checkoutId: 'uuid',
  userId: 'string',
  productId: 'string',
  quantity: 'i32',
  discount: 'f64',
  shippingCost: 'f64',
  totalAmount: 'f64',
  paymentMethod: 'string',
  paymentStatus: 'string',
  paymentDescription: 'string',
  raw: 'string',
} as const;
type PendingRow = TableRow<typeof PENDING_COLUMNS>;

function pendingRow(c: Checkout): PendingRow {
  return {
    checkoutId: c.checkoutId,
    userId: c.userId,
    productId: c.productId,
    quantity: c.quantity,
    discount: c.discount,
    shippingCost: c.shippingCost,
    totalAmount: c.totalAmount ?? Number.NaN,
    paymentMethod: c.paymentMethod,
    paymentStatus: c.paymentStatus,
    paymentDescription: c.paymentDescription,
    raw: c.raw,
  };
}

function pendingCheckout(pending: TimeTableState<typeof PENDING_COLUMNS>, ref: number): Checkout {
  const total = pending.value(ref, 'totalAmount');
  return {
    checkoutId: pending.value(ref, 'checkoutId') as string,
    userId: pending.value(ref, 'userId') as string,
    productId: pending.value(ref, 'productId') as string,
    eventTimeMs: pending.timeOf(ref),
    quantity: pending.value(ref, 'quantity'),
    discount: pending.value(ref, 'discount'),
    shippingCost: pending.value(ref, 'shippingCost'),
    totalAmount: Number.isNaN(total) ? null : total,
    paymentMethod: pending.value(ref, 'paymentMethod'),
    paymentStatus: pending.value(ref, 'paymentStatus') as Checkout['paymentStatus'],
    paymentDescription: pending.value(ref, 'paymentDescription'),
    raw: pending.value(ref, 'raw') as string,
  };
}

/** Width of the pending checkouts' buckets: they live for about the watermark's delay. */
const PENDING_BUCKET_MS = 1000;

interface AttributionState {
  /**
   * Every click of this key that can still match a checkout, in a time-bucketed table whose
   * retention is the longest lookback: a pending checkout has t_c ≥ watermark, so a click below
   * watermark − max lookback can match nothing, and whole buckets of such clicks are dropped as the
   * watermark passes them — no per-key pruning, no timer per key.
   */
  clicks: TimeTableState<typeof CLICK_COLUMNS>;
  /**
   * Checkouts whose result is not final yet, by time. Retention 0: a checkout at t_c expires once
   * the watermark is > t_c, which is when its timer has given its final result.
   */
  pending: TimeTableState<typeof PENDING_COLUMNS>;
}

/** The attribution key: (user, product), or the user alone with `scope: user`. */
export function attributionKey(userId: string, productId: string | null, scope: AttributionOptions['scope']): string {
  return scope === 'user' ? userId : `${userId}\u0000${productId ?? ''}`;
}

/**
 * First-click (and multi-touch) attribution per key, exactly as ARCHITECTURE §3.3:
 *
 * - the candidates of checkout c at t_c are the on-time clicks k of its key with
 *   t_c − lookback(source_k) ≤ t_k ≤ t_c (both ends inclusive; lookback(s) is s's own window from
 *   `lookbackBySource`, else `lookback`), excluding `excludedSources`, ordered by (t_k, click_id);
 *   every model turns the same candidates into credits (first_click: the smallest);
 * - the result of c is final once the watermark is > t_c: a timer at t_c. Clicks that arrive after
 *   the checkout but on time still count. With `provisional`, a row is also emitted when the
 *   checkout (or a click, for the checkouts within the click's own window) arrives, and replaced
 *   by the final one;
 * - a click is kept while it can still match: until the watermark passes t_k + the longest
 *   lookback (every pending checkout has t_c ≥ watermark, so no window starts before
 *   watermark − max lookback).
 *   Keeping one click per key would be wrong (clicks at −70, −50 and −10 min: the answer is −50);
 * - a click id seen twice for a key is kept once, at its first on-time delivery, while that one is
 *   held (a duplicate delivery must not earn credit twice).
 *
 * Late events never reach this function: the operator sends them to its late output.
 */
export function attributionFunction(
  o: AttributionOptions,
): KeyedProcessFunction<AttributionInput, AttributionResult, AttributionState> {
  const excluded = new Set(o.excludedSources);
  const candidate = (st: AttributionState, ref: number): CandidateClick => ({
    clickId: st.clicks.value(ref, 'clickId') as string,
    source: st.clicks.value(ref, 'source'),
    eventTimeMs: st.clicks.timeOf(ref),
  });
  const windows = lookbackWindows(o.lookbackMs, o.lookbackBySource);
  const refs: number[] = [];
  /** The candidates of c by (t_k, click_id); a single-click model reads only its one. */
  const candidatesOf = (st: AttributionState, c: Checkout): CandidateClick[] => {
    const to = c.eventTimeMs;
    if (!windows.perSource) {
      // One window for every source: the time range is the candidate set.
      const from = to - o.lookbackMs;
      if (o.model === 'first_click' || o.model === 'last_click') {
        const ref = o.model === 'first_click' ? st.clicks.first(from, to) : st.clicks.last(from, to);
        return ref < 0 ? [] : [candidate(st, ref)];
      }
      refs.length = 0;
      return st.clicks.range(from, to, refs).map((ref) => candidate(st, ref));
    }
    // Per-source windows: every click the longest window reaches, each kept only if it is within
    // its own source's window. The range is in (t_k, click_id) order, so the filtered list is too.
    refs.length = 0;
    st.clicks.range(to - windows.maxMs, to, refs);
    const inWindow: CandidateClick[] = [];
    for (const ref of refs) {
      if (st.clicks.timeOf(ref) >= to - windows.of(st.clicks.value(ref, 'source'))) inWindow.push(candidate(st, ref));
    }
    if (o.model === 'first_click') return inWindow.slice(0, 1);
    if (o.model === 'last_click') return inWindow.slice(-1);
    return inWindow;
  };
  const result = (st: AttributionState, c: Checkout, isFinal: boolean): AttributionResult => ({
    checkout: c,
    credits: credits(candidatesOf(st, c), c.eventTimeMs, o),
    isFinal,
  });
  return {
    state: (s) => ({
      clicks: s.timeTable({
        name: 'clicks',
        retentionMs: windows.maxMs,
        idColumn: 'clickId',
        columns: CLICK_COLUMNS,
        // Releases before time-bucketed state kept a key's clicks as one JSON list.
        legacy: (value) =>
          (value as Array<[number, CandidateClick]>).map(
            ([t, k]) => [t, { clickId: k.clickId, source: k.source }] as const,
          ),
      }),
      pending: s.timeTable({
        name: 'pending',
        retentionMs: 0,
        bucketWidthMs: PENDING_BUCKET_MS,
        columns: PENDING_COLUMNS,
        legacy: (value) => (value as Array<[number, Checkout]>).map(([t, c]) => [t, pendingRow(c)] as const),
      }),
    }),

    onElement(input, ctx, st) {
      if (input.kind === 'checkout') {
        // The raw line stays with the checkout (only until its result is final): a result row the
        // database refuses becomes a dead letter with the line it was made from (§3.6).
        const c = input.checkout;
        st.pending.insert(c.eventTimeMs, pendingRow(c));
        ctx.registerTimer(c.eventTimeMs);
        if (o.provisional) ctx.emit(result(st, c, false));
        return;
      }
      const k = input.click;
      if (k.source !== null && excluded.has(k.source)) return;
      // A click id delivered again (even with another time) is kept once, while it is held.
      if (st.clicks.findId(k.clickId) >= 0) return;
      const t = k.eventTimeMs;
      st.clicks.insert(t, { clickId: k.clickId, source: k.source });
      if (o.provisional) {
        // The checkouts this click can reach: those within its own source's window after it.
        for (const ref of st.pending.range(t, t + windows.of(k.source)))
          ctx.emit(result(st, pendingCheckout(st.pending, ref), false));
      }
    },

    onTimer(timeMs, ctx, st) {
      // Final results for the checkouts at this time (earlier ones fired at their own timers).
      // The tables have not advanced to the new watermark yet: every click in the checkout's
      // window is still there, and the checkouts expire right after.
      for (const ref of st.pending.range(timeMs, timeMs)) {
        ctx.emit(result(st, pendingCheckout(st.pending, ref), true), timeMs);
      }
    },
  };
}
