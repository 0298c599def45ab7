/**
 * The event formats as zod schemas: the declarative statement of the rules that the hand-written
 * readers of `event-fields.ts` implement for speed. The property tests run both on random input
 * and require the same verdict and the same values, so the two cannot drift apart; the schemas
 * are not on the hot path (see `event-parser.ts` for the measured reason).
 */
import * as z from 'zod';
import type { Checkout, Click } from '../event-types.ts';
import { CHECKOUT_TIME_FIELDS, CLICK_TIME_FIELDS } from './event-parser.ts';
import { eventTimeMsOrNaN } from './event-time.ts';
import { fitsText, MAX_AMOUNT, MAX_ID_BYTES, MAX_LABEL_BYTES, MAX_QUANTITY } from './storage-limits.ts';

/** Text the output columns can hold: at most `maxBytes` bytes of UTF-8, and no U+0000. */
const storable = (maxBytes: number) => (s: string) => fitsText(s, maxBytes);

/**
 * An id: a non-empty string of at most MAX_ID_BYTES bytes, or a non-negative integer taken as
 * its decimal string.
 */
const id = z.union([
  z.string().min(1).refine(storable(MAX_ID_BYTES)),
  z
    .number()
    .int()
    .nonnegative()
    .max(Number.MAX_SAFE_INTEGER)
    .transform((n) => String(n)),
]);

/** An optional label: absent, null or empty is null; else at most MAX_LABEL_BYTES bytes. */
const optionalLabel = z
  .string()
  .refine((s) => s === '' || fitsText(s, MAX_LABEL_BYTES))
  .nullish()
  .transform((s) => (s === undefined || s === null || s === '' ? null : s));

/**
 * The event time: the first of `fields` that is present and not null, in one of the accepted
 * forms (event-time.ts), as epoch milliseconds; the other names are then ignored.
 */
function eventTimeOf(o: Record<string, unknown>, fields: readonly string[], ctx: z.RefinementCtx): number {
  for (const f of fields) {
    const v = o[f];
    if (v === undefined || v === null) continue;
    const ms = eventTimeMsOrNaN(v);
    if (Number.isNaN(ms))
      ctx.addIssue({ code: 'custom', message: `${f} is not an accepted event time`, input: v, path: [f] });
    return ms;
  }
  ctx.addIssue({ code: 'custom', message: 'no event time', input: o });
  return Number.NaN;
}

export const clickSchema = z
  .object({
    click_id: id,
    user_id: id,
    product_id: id.nullish().or(z.literal('')),
    source: z.string().nullish(),
  })
  .loose()
  .transform((o, ctx): Omit<Click, 'raw'> => {
    const eventTimeMs = eventTimeOf(o, CLICK_TIME_FIELDS, ctx);
    const source = o.source?.trim().toLowerCase();
    // The stored value (trimmed, lower-cased) is what must fit.
    if (source !== undefined && !fitsText(source, MAX_LABEL_BYTES))
      ctx.addIssue({
        code: 'custom',
        message: 'source is longer than a label may be',
        input: o.source,
        path: ['source'],
      });
    return {
      clickId: o.click_id,
      userId: o.user_id,
      productId: o.product_id === '' || o.product_id === undefined ? null : o.product_id,
      source: source === undefined || source === '' ? null : source,
      eventTimeMs,
    };
  });

export const checkoutSchema = z
  .object({
    checkout_id: id,
    user_id: id,
    product_id: id,
    quantity: z.number().int().min(1).max(MAX_QUANTITY).nullish(),
    discount: z.number().min(0).max(1).nullish(),
    shipping_cost: z.number().min(0).max(MAX_AMOUNT).nullish(),
    total_amount: z.number().min(0).max(MAX_AMOUNT).nullish(),
    payment_method: optionalLabel,
    payment_status: z
      .string()
      .transform((s) => s.trim().toLowerCase())
      .pipe(z.enum(['success', 'failed']))
      .nullish(),
    payment_description: optionalLabel.transform((s) => (s?.toLowerCase() === 'none' ? null : s)),
  })
  .loose()
  .transform((o, ctx): Omit<Checkout, 'raw'> => {
    const eventTimeMs = eventTimeOf(o, CHECKOUT_TIME_FIELDS, ctx);
    return {
      checkoutId: o.checkout_id,
      userId: o.user_id,
      productId: o.product_id,
      eventTimeMs,
      quantity: o.quantity ?? 1,
      discount: o.discount ?? 0,
      shippingCost: o.shipping_cost ?? 0,
      totalAmount: o.total_amount ?? null,
      paymentMethod: o.payment_method,
      paymentStatus: o.payment_status ?? 'success',
      paymentDescription: o.payment_description,
    };
  });
