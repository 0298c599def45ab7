import type { AttributionResult } from './attribution-function.ts';
import type { AttributionModel } from './attribution-options.ts';
import type { DeadLetterRow, ProductRow, UserRow } from './event-types.ts';
import { headlineClick } from './models/attribution-models.ts';
import { money } from './money.ts';

/** A row of `attributed_checkouts`: keys are the table's column names (ARCHITECTURE §3.5). */
export interface AttributedCheckoutRow {
  checkout_id: string;
  user_id: string;
  product_id: string;
  quantity: number;
  discount: number;
  shipping_cost: number;
  payment_method: string | null;
  payment_status: 'success' | 'failed';
  payment_description: string | null;
  user_name: string | null;
  user_gender: string | null;
  product_name: string | null;
  product_category: string | null;
  product_price: number | null;
  commission_rate: number | null;
  click_id: string | null;
  click_source: string | null;
  /** ISO-8601 UTC with milliseconds. */
  click_time: string | null;
  checkout_time: string;
  order_value: number | null;
  revenue: number | null;
  profit: number | null;
  attribution_model: AttributionModel;
  is_final: boolean;
}

/** A row of `attribution_credits` (multi-touch models). */
export interface CreditRow {
  checkout_id: string;
  click_id: string;
  model: AttributionModel;
  credit: number;
}

/** An attribution result with its looked-up dimension rows. */
export interface EnrichedResult {
  result: AttributionResult;
  user: UserRow | undefined;
  product: ProductRow | undefined;
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export const MULTI_TOUCH_MODELS: ReadonlySet<AttributionModel> = new Set(['linear', 'time_decay', 'position_based']);

/** The `attributed_checkouts` row of an enriched result. Unknown user or product: nulls. */
export function attributedRow(e: EnrichedResult, model: AttributionModel): AttributedCheckoutRow {
  const c = e.result.checkout;
  const click = headlineClick(e.result.credits);
  const m = money(c, e.product);
  return {
    checkout_id: c.checkoutId,
    user_id: c.userId,
    product_id: c.productId,
    quantity: c.quantity,
    discount: c.discount,
    shipping_cost: c.shippingCost,
    payment_method: c.paymentMethod,
    payment_status: c.paymentStatus,
    payment_description: c.paymentDescription,
    user_name: e.user?.name ?? null,
    user_gender: e.user?.gender ?? null,
    product_name: e.product?.name ?? null,
    product_category: e.product?.category ?? null,
    product_price: e.product?.price ?? null,
    commission_rate: e.product?.commissionRate ?? null,
    click_id: click?.clickId ?? null,
    click_source: click?.source ?? null,
    click_time: click === undefined ? null : isoTime(click.eventTimeMs),
    checkout_time: isoTime(c.eventTimeMs),
    order_value: m.orderValue,
    revenue: m.revenue,
    profit: m.profit,
    attribution_model: model,
    is_final: e.result.isFinal,
  };
}

/** The credit rows of a final multi-touch result (none for single-touch models). */
export function creditRows(r: AttributionResult, model: AttributionModel): CreditRow[] {
  if (!r.isFinal || !MULTI_TOUCH_MODELS.has(model)) return [];
  return r.credits.map((c) => ({
    checkout_id: r.checkout.checkoutId,
    click_id: c.click.clickId,
    model,
    credit: c.credit,
  }));
}

/** A dead letter for a record that never reached the pipeline's logic. */
export function deadLetter(
  source: string,
  reason: string,
  raw: string,
  detail: string,
  receivedAtMs: number,
): DeadLetterRow {
  return { source, reason, raw, detail, received_at: isoTime(receivedAtMs) };
}
