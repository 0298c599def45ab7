/**
 * A second, deliberately plain implementation of the minute analytics (docs/attribution.md
 * "Analytics"), for tests to compare `analytics_minute` with. It shares nothing with
 * src/attribution/analytics.ts or money.ts: the facts, the money and the sums are worked out here
 * from the events, the users and the products, in whole cents.
 *
 * Which checkouts are final and which click each got is attribution's answer, checked by other
 * tests (brute-force-reference.ts): it comes in as `attributed` (checkout id → click id or null).
 */
import type { Checkout, Click } from '../../src/attribution/event-types.ts';
import { parseEvent } from '../../src/attribution/events/index.ts';

/** What the reference needs of a user and a product. */
export interface ReferenceUser {
  gender: string | null;
}
export interface ReferenceProduct {
  category: string | null;
  price: number | null;
  commissionRate: number | null;
}

/** One checkout's contribution, in cents. */
export interface ReferenceCheckout {
  checkoutTimeMs: number;
  source: string | null;
  category: string | null;
  gender: string | null;
  failed: boolean;
  description: string | null;
  revenueCents: number;
  profitCents: number;
}

/** A row of `analytics_minute` summed over shards, as the tests compare them. */
export interface ReferenceMinuteRow {
  window_start: string;
  dimension: string;
  value: string;
  checkouts: number;
  revenue: number;
  profit: number;
}

/** Cents of `x` units, half away from zero; the nudge absorbs binary error (1.005 → 101). */
function cents(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x) * 100 + 1e-9);
}

/**
 * The contributions of the checkouts of `attributed`, from the event lines (the first line of each
 * checkout id; a duplicate is not a second checkout) and the dimension tables.
 */
export function checkoutsFromEvents(
  lines: Iterable<string>,
  users: ReadonlyMap<string, ReferenceUser>,
  products: ReadonlyMap<string, ReferenceProduct>,
  attributed: ReadonlyMap<string, string | null>,
): ReferenceCheckout[] {
  const clicks = new Map<string, Click>();
  const checkouts = new Map<string, Checkout>();
  for (const line of lines) {
    const e = parseEvent(line);
    if (!('type' in e)) continue;
    if (e.type === 'click') {
      if (!clicks.has(e.click.clickId)) clicks.set(e.click.clickId, e.click);
    } else if (attributed.has(e.checkout.checkoutId) && !checkouts.has(e.checkout.checkoutId)) {
      checkouts.set(e.checkout.checkoutId, e.checkout);
    }
  }
  const missing = [...attributed.keys()].filter((id) => !checkouts.has(id));
  if (missing.length > 0) throw new Error(`no event for checkouts ${missing.slice(0, 5).join(', ')}`);
  return [...checkouts.values()].map((c): ReferenceCheckout => {
    const clickId = attributed.get(c.checkoutId) ?? null;
    const click = clickId === null ? undefined : clicks.get(clickId);
    if (clickId !== null && click === undefined) throw new Error(`no event for click ${clickId}`);
    const product = products.get(c.productId);
    // The order value in cents: the checkout's own amount, else price × quantity × (1 − discount).
    let orderCents: number | null = null;
    if (c.totalAmount !== null) orderCents = cents(c.totalAmount);
    else if (product?.price != null) orderCents = cents(product.price * c.quantity * (1 - c.discount));
    const failed = c.paymentStatus === 'failed';
    const revenueCents = orderCents === null || failed ? 0 : orderCents;
    const rate = product?.commissionRate;
    const profitCents = orderCents === null || rate == null ? 0 : cents((revenueCents / 100) * rate);
    return {
      checkoutTimeMs: c.eventTimeMs,
      source: click?.source ?? null,
      category: product?.category ?? null,
      gender: users.get(c.userId)?.gender ?? null,
      failed,
      description: c.paymentDescription,
      revenueCents,
      profitCents,
    };
  });
}

/**
 * The contributions of final `attributed_checkouts` rows (database rows or JSON lines), for a test
 * that has the rows but not the events (a live run).
 */
export function checkoutsFromRows(rows: readonly Record<string, unknown>[]): ReferenceCheckout[] {
  const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
  const money = (v: unknown) => (v === null || v === undefined ? 0 : cents(Number(v)));
  return rows.map((r) => ({
    checkoutTimeMs: new Date(r.checkout_time as string).getTime(),
    source: text(r.click_source),
    category: text(r.product_category),
    gender: text(r.user_gender),
    failed: r.payment_status === 'failed',
    description: text(r.payment_description),
    revenueCents: money(r.revenue),
    profitCents: money(r.profit),
  }));
}

/** The figures of each value of each dimension over all the minutes of `rows`. */
export function totalsByDimension(
  rows: readonly ReferenceMinuteRow[],
): Map<string, Map<string, { checkouts: number; revenue: number; profit: number }>> {
  const out = new Map<string, Map<string, { checkouts: number; revenue: number; profit: number }>>();
  for (const r of rows) {
    let values = out.get(r.dimension);
    if (values === undefined) out.set(r.dimension, (values = new Map()));
    const s = values.get(r.value) ?? { checkouts: 0, revenue: 0, profit: 0 };
    s.checkouts += r.checkouts;
    s.revenue = (Math.round(s.revenue * 100) + Math.round(r.revenue * 100)) / 100;
    s.profit = (Math.round(s.profit * 100) + Math.round(r.profit * 100)) / 100;
    values.set(r.value, s);
  }
  return out;
}

/**
 * The minute rows of `checkouts`: per minute of checkout time, the total and one row per source
 * (`none`), category and gender (`unknown`), and per reason of the failed payments
 * (`unspecified`); sorted by minute, dimension and value.
 */
export function referenceMinutes(checkouts: readonly ReferenceCheckout[]): ReferenceMinuteRow[] {
  const sums = new Map<string, { checkouts: number; revenue: number; profit: number }>();
  const add = (minute: number, dimension: string, value: string, c: ReferenceCheckout) => {
    const key = JSON.stringify([new Date(minute).toISOString(), dimension, value]);
    const s = sums.get(key) ?? { checkouts: 0, revenue: 0, profit: 0 };
    s.checkouts += 1;
    s.revenue += c.revenueCents;
    s.profit += c.profitCents;
    sums.set(key, s);
  };
  for (const c of checkouts) {
    const minute = c.checkoutTimeMs - (((c.checkoutTimeMs % 60_000) + 60_000) % 60_000);
    add(minute, 'total', 'all', c);
    add(minute, 'source', c.source ?? 'none', c);
    add(minute, 'category', c.category ?? 'unknown', c);
    add(minute, 'gender', c.gender ?? 'unknown', c);
    if (c.failed) add(minute, 'failed_reason', c.description ?? 'unspecified', c);
  }
  return [...sums.entries()]
    .map(([key, s]) => {
      const [window_start, dimension, value] = JSON.parse(key) as [string, string, string];
      return {
        window_start,
        dimension,
        value,
        checkouts: s.checkouts,
        revenue: s.revenue / 100,
        profit: s.profit / 100,
      };
    })
    .sort(compareRows);
}

function compareRows(a: ReferenceMinuteRow, b: ReferenceMinuteRow): number {
  return (
    a.window_start.localeCompare(b.window_start) ||
    a.dimension.localeCompare(b.dimension) ||
    a.value.localeCompare(b.value)
  );
}

/**
 * `analytics_minute` rows as written (JSON lines or database rows, one per shard), summed over
 * shards into the reference's form and order.
 */
export function minuteRows(rows: readonly Record<string, unknown>[]): ReferenceMinuteRow[] {
  const sums = new Map<string, { checkouts: number; revenue: number; profit: number }>();
  for (const r of rows) {
    const key = JSON.stringify([new Date(r.window_start as string).toISOString(), r.dimension, r.value]);
    const s = sums.get(key) ?? { checkouts: 0, revenue: 0, profit: 0 };
    s.checkouts += Number(r.checkouts);
    s.revenue += Math.round(Number(r.revenue) * 100);
    s.profit += Math.round(Number(r.profit) * 100);
    sums.set(key, s);
  }
  return [...sums.entries()]
    .map(([key, s]) => {
      const [window_start, dimension, value] = JSON.parse(key) as [string, string, string];
      return {
        window_start,
        dimension,
        value,
        checkouts: s.checkouts,
        revenue: s.revenue / 100,
        profit: s.profit / 100,
      };
    })
    .sort(compareRows);
}

/** Every breakdown of the rows is there: a comparison of two empty breakdowns proves nothing. */
export function dimensionsOf(rows: readonly ReferenceMinuteRow[]): string[] {
  return [...new Set(rows.map((r) => r.dimension))].sort();
}
