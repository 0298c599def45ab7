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
  return withRawEvent<AttributedCheckoutRow>(
    {
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
    },
    c.raw,
  );
}

/** The credit rows of a final multi-touch result (none for single-touch models). */
export function creditRows(r: AttributionResult, model: AttributionModel): CreditRow[] {
  if (!r.isFinal || !MULTI_TOUCH_MODELS.has(model)) return [];
  return r.credits.map((c) =>
    withRawEvent<CreditRow>(
      { checkout_id: r.checkout.checkoutId, click_id: c.click.clickId, model, credit: c.credit },
      r.checkout.raw,
    ),
  );
}

/** The most of a payload a dead letter keeps, in UTF-8 bytes (1 MiB). */
export const DEAD_LETTER_RAW_MAX_BYTES = 1024 * 1024;

/**
 * A payload as a dead letter keeps it: at most `maxBytes` of its UTF-8 encoding, cut before the
 * first character that does not fit whole, and the size of the whole payload. A 50 MB garbage
 * line costs 1 MiB of `dead_letters`, and its size says what was cut.
 *
 * @example
 * capRaw('aé€', 4) // { raw: 'aé', bytes: 6 } — '€' (3 bytes) does not fit in the last byte
 */
export function capRaw(raw: string, maxBytes = DEAD_LETTER_RAW_MAX_BYTES): { raw: string; bytes: number } {
  const bytes = Buffer.byteLength(raw, 'utf8');
  if (bytes <= maxBytes) return { raw, bytes };
  // Encode only a head that surely covers maxBytes: each UTF-16 unit is at least one byte.
  const head = Buffer.from(raw.slice(0, maxBytes), 'utf8');
  let end = Math.min(maxBytes, head.length);
  // A continuation byte (10xxxxxx) just past the cut means the cut splits a character: back off to
  // its first byte, which is then excluded too.
  while (end > 0 && end < head.length && ((head[end] as number) & 0xc0) === 0x80) end--;
  return { raw: head.toString('utf8', 0, end), bytes };
}

/**
 * A dead letter: `raw` is the payload as received, capped by {@link capRaw} — the one place a
 * dead letter's payload is cut, so the replay's JSON lines and the database hold the same row.
 */
export function deadLetter(
  source: string,
  reason: string,
  raw: string,
  detail: string,
  receivedAtMs: number,
): DeadLetterRow {
  const capped = capRaw(raw);
  return { source, reason, raw: capped.raw, detail, received_at: isoTime(receivedAtMs), raw_bytes: capped.bytes };
}

/** Where a row keeps the raw line of the event it was made from (not a column: never written). */
const RAW_EVENT = Symbol('flowmark.rawEvent');

/**
 * Attaches the raw line of the event a row was made from, as a hidden property: serialising the
 * row (JSON lines, the `unnest` arrays, `deepEqual`) does not see it. Should the database refuse
 * the row, its dead letter carries this line (see `SINK_TABLES.dead_letters.fromRefusedRow`).
 */
export function withRawEvent<T extends object>(row: T, raw: string): T {
  Object.defineProperty(row, RAW_EVENT, { value: raw });
  return row;
}

/** The raw line of the event a row was made from, when the row carries it. */
export function rawEventOf(row: unknown): string | undefined {
  if (typeof row !== 'object' || row === null) return undefined;
  const raw = (row as { [RAW_EVENT]?: unknown })[RAW_EVENT];
  return typeof raw === 'string' ? raw : undefined;
}
