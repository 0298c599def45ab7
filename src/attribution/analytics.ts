import type { AggregateFunction, WindowResult } from '../engine/index.ts';
import type { AttributedCheckoutRow } from './output-rows.ts';

/** The breakdowns kept per minute (ARCHITECTURE §3.5). */
export type AnalyticsDimension = 'total' | 'source' | 'category' | 'failed_reason' | 'gender';

/** One (dimension, value) contribution of one final checkout. */
export interface AnalyticsFact {
  dimension: AnalyticsDimension;
  value: string;
  revenue: number;
  profit: number;
}

export interface AnalyticsAcc {
  checkouts: number;
  /** In cents, so that sums of many rows stay exact. */
  revenueCents: number;
  profitCents: number;
}

/** A row of `analytics_minute`. */
export interface AnalyticsRow {
  window_start: string;
  /**
   * Which job computed the window: {@link ALL_SHARDS} for a job over all of the input, `p<N>` for
   * the job of partition N when Kafka workers split the partitions. A window's figures are the
   * sum over its shards (each checkout is counted by exactly one).
   */
  shard: string;
  dimension: AnalyticsDimension;
  value: string;
  checkouts: number;
  revenue: number;
  profit: number;
}

export const ANALYTICS_WINDOW_MS = 60_000;

/** The shard of a job that reads all of its input (embedded mode, replay). */
export const ALL_SHARDS = 'all';

/**
 * The facts of a final row: one for the total, one per breakdown. A checkout without a click
 * counts under source `none`; unknown category/gender under `unknown`; failed payments by their
 * description (`unspecified` when none).
 */
export function analyticsFacts(row: AttributedCheckoutRow): AnalyticsFact[] {
  const revenue = row.revenue ?? 0;
  const profit = row.profit ?? 0;
  const facts: AnalyticsFact[] = [
    { dimension: 'total', value: 'all', revenue, profit },
    { dimension: 'source', value: row.click_source ?? 'none', revenue, profit },
    { dimension: 'category', value: row.product_category ?? 'unknown', revenue, profit },
    { dimension: 'gender', value: row.user_gender ?? 'unknown', revenue, profit },
  ];
  if (row.payment_status === 'failed') {
    facts.push({ dimension: 'failed_reason', value: row.payment_description ?? 'unspecified', revenue, profit });
  }
  return facts;
}

export const analyticsAggregate: AggregateFunction<AnalyticsFact, AnalyticsAcc, AnalyticsAcc> = {
  create: () => ({ checkouts: 0, revenueCents: 0, profitCents: 0 }),
  add: (acc, f) => {
    acc.checkouts++;
    acc.revenueCents += Math.round(f.revenue * 100);
    acc.profitCents += Math.round(f.profit * 100);
    return acc;
  },
  merge: (a, b) => ({
    checkouts: a.checkouts + b.checkouts,
    revenueCents: a.revenueCents + b.revenueCents,
    profitCents: a.profitCents + b.profitCents,
  }),
  result: (acc) => ({ ...acc }),
};

export function factKey(f: AnalyticsFact): string {
  return `${f.dimension}\u0000${f.value}`;
}

export function analyticsRow(w: WindowResult<AnalyticsAcc>, shard: string = ALL_SHARDS): AnalyticsRow {
  const sep = w.key.indexOf('\u0000');
  return {
    window_start: new Date(w.windowStartMs).toISOString(),
    shard,
    dimension: w.key.slice(0, sep) as AnalyticsDimension,
    value: w.key.slice(sep + 1),
    checkouts: w.value.checkouts,
    revenue: w.value.revenueCents / 100,
    profit: w.value.profitCents / 100,
  };
}
