/**
 * Parsing of click and checkout lines (ARCHITECTURE §3.1, §3.4, §3.6): the canonical format and
 * both reference formats of ../shared/seed-formats, unchanged. A bad line is never thrown: it
 * comes back as a `Rejected` with one of the reasons below and a detail that names the field.
 *
 * | reason               | when                                                                 |
 * |----------------------|----------------------------------------------------------------------|
 * | `malformed_json`     | the line is not JSON, or JSON but not an object                      |
 * | `missing_field`      | an id or the event time is absent, null or empty                     |
 * | `invalid_field`      | a field has the wrong type, is out of range, or is longer than its   |
 * |                      | column can hold (storage-limits.ts: ids ≤ 256 bytes, labels ≤ 256)   |
 * | `invalid_event_time` | the event time is present but not one of the accepted forms, or      |
 * |                      | outside years 0001–9999                                              |
 * | `unknown_type`       | `type` is not click/checkout, or nothing tells what the line is      |
 *
 * The line is parsed once with `JSON.parse`, then validated by hand-written readers
 * (`event-fields.ts`). Measured on 1 M canonical lines (Node 24): parseEvent runs at two thirds
 * or more of the throughput of `JSON.parse` alone, `JSON.parse` + the equivalent zod schemas
 * (`event-schema.ts`) at about a fifth to a quarter. So zod is the reference, not the hot path: a property test
 * requires both to give the same verdict and the same values on random input.
 */
import { Rejected } from '../../engine/index.ts';
import type { Checkout, Click } from '../event-types.ts';
import {
  type JsonObject,
  readEventTime,
  readId,
  readNumber,
  readOptionalId,
  readOptionalLabel,
  readOptionalNumber,
  readPaymentDescription,
  readPaymentStatus,
  readSource,
  show,
} from './event-fields.ts';
import { MAX_AMOUNT, MAX_QUANTITY } from './storage-limits.ts';

/** Where the event time may be, in order of preference: the canonical name, then the seeds' names. */
export const CLICK_TIME_FIELDS = ['event_time', 'click_timestamp', 'datetime_occured'] as const;
export const CHECKOUT_TIME_FIELDS = ['event_time', 'checkout_timestamp', 'datetime_occured'] as const;

/** A line of a mixed stream, routed by `type` (or by which id it carries). */
export type ParsedEvent = { type: 'click'; click: Click } | { type: 'checkout'; checkout: Checkout };

/**
 * One line of a click source.
 *
 * @example
 * parseClick('{"click_id": "k1", "user_id": 42, "source": " Tiktok", "event_time": "2026-03-01T09:10:00Z"}');
 * // { clickId: 'k1', userId: '42', productId: null, source: 'tiktok', eventTimeMs: 1772356200000, raw: '…' }
 */
export function parseClick(raw: string): Click | Rejected {
  const o = parseObject(raw);
  if (o instanceof Rejected) return o;
  const type = o.type;
  if (type !== undefined && type !== null && type !== 'click' && normalizeType(type) !== 'click') {
    return new Rejected(
      'unknown_type',
      `type is ${show(type)} but this source reads clicks: send it to the checkouts source`,
    );
  }
  return clickOf(o, raw);
}

/**
 * One line of a checkout source.
 *
 * @example
 * parseCheckout('{"checkout_id": "c1", "user_id": "U1", "product_id": "P1", "checkout_timestamp": "2026-03-01 09:15:02.900", "payment_status": "Failed"}');
 * // { checkoutId: 'c1', …, eventTimeMs: 1772356502900, quantity: 1, discount: 0, paymentStatus: 'failed', … }
 */
export function parseCheckout(raw: string): Checkout | Rejected {
  const o = parseObject(raw);
  if (o instanceof Rejected) return o;
  const type = o.type;
  if (type !== undefined && type !== null && type !== 'checkout' && normalizeType(type) !== 'checkout') {
    return new Rejected(
      'unknown_type',
      `type is ${show(type)} but this source reads checkouts: send it to the clicks source`,
    );
  }
  return checkoutOf(o, raw);
}

/**
 * One line of a mixed stream: routed by `"type": "click" | "checkout"` (any case) when present,
 * else by the presence of `checkout_id` (a checkout, even if it also names its click) or
 * `click_id`.
 *
 * @example
 * parseEvent('{"type": "click", "click_id": "k1", "user_id": "u1", "event_time": 0}');
 * // { type: 'click', click: { clickId: 'k1', … } }
 * parseEvent('{"user_id": "u1"}'); // Rejected { reason: 'unknown_type', … }
 */
export function parseEvent(raw: string): ParsedEvent | Rejected {
  const o = parseObject(raw);
  if (o instanceof Rejected) return o;
  const type = o.type;
  let kind: 'click' | 'checkout' | undefined;
  if (type === 'click' || type === 'checkout') kind = type;
  else if (type !== undefined && type !== null) {
    kind = normalizeType(type);
    if (kind === undefined)
      return new Rejected('unknown_type', `type must be "click" or "checkout", got ${show(type)}`);
  } else if (o.checkout_id !== undefined) kind = 'checkout';
  else if (o.click_id !== undefined) kind = 'click';
  else {
    return new Rejected(
      'unknown_type',
      'the line has no type, checkout_id or click_id, so it is neither a click nor a checkout: add "type": "click" or "type": "checkout"',
    );
  }
  if (kind === 'click') {
    const click = clickOf(o, raw);
    return click instanceof Rejected ? click : { type: 'click', click };
  }
  const checkout = checkoutOf(o, raw);
  return checkout instanceof Rejected ? checkout : { type: 'checkout', checkout };
}

function normalizeType(type: unknown): 'click' | 'checkout' | undefined {
  if (typeof type !== 'string') return undefined;
  const t = type.trim().toLowerCase();
  return t === 'click' || t === 'checkout' ? t : undefined;
}

function parseObject(raw: string): JsonObject | Rejected {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    if (typeof raw === 'string' && raw.charCodeAt(0) === 0xfeff) return parseObject(raw.slice(1));
    const why = err instanceof Error ? err.message : String(err);
    const what =
      typeof raw !== 'string' ? `not text (${typeof raw})` : raw.trim() === '' ? 'empty' : `not valid JSON (${why})`;
    return new Rejected('malformed_json', `the line is ${what}: each line must be one JSON object`);
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as JsonObject;
  return new Rejected(
    'malformed_json',
    `the line is JSON but ${show(v) === 'an array' ? 'an array' : `the value ${show(v)}`}, not an object: each line must be one JSON object`,
  );
}

function clickOf(o: JsonObject, raw: string): Click | Rejected {
  const clickId = readId(o, 'click_id', 'click');
  if (typeof clickId !== 'string') return clickId;
  const userId = readId(o, 'user_id', 'click');
  if (typeof userId !== 'string') return userId;
  const productId = readOptionalId(o, 'product_id');
  if (productId instanceof Rejected) return productId;
  const eventTimeMs = readEventTime(o, CLICK_TIME_FIELDS, 'click');
  if (typeof eventTimeMs !== 'number') return eventTimeMs;
  const source = readSource(o);
  if (source instanceof Rejected) return source;
  return { clickId, userId, productId, source, eventTimeMs, raw };
}

function checkoutOf(o: JsonObject, raw: string): Checkout | Rejected {
  const checkoutId = readId(o, 'checkout_id', 'checkout');
  if (typeof checkoutId !== 'string') return checkoutId;
  const userId = readId(o, 'user_id', 'checkout');
  if (typeof userId !== 'string') return userId;
  const productId = readId(o, 'product_id', 'checkout');
  if (typeof productId !== 'string') return productId;
  const eventTimeMs = readEventTime(o, CHECKOUT_TIME_FIELDS, 'checkout');
  if (typeof eventTimeMs !== 'number') return eventTimeMs;
  const quantity = readNumber(o, 'quantity', 1, 1, MAX_QUANTITY, true);
  if (typeof quantity !== 'number') return quantity;
  const discount = readNumber(o, 'discount', 0, 0, 1, false);
  if (typeof discount !== 'number') return discount;
  const shippingCost = readNumber(o, 'shipping_cost', 0, 0, MAX_AMOUNT, false);
  if (typeof shippingCost !== 'number') return shippingCost;
  const totalAmount = readOptionalNumber(o, 'total_amount', 0, MAX_AMOUNT);
  if (totalAmount instanceof Rejected) return totalAmount;
  const paymentMethod = readOptionalLabel(o, 'payment_method');
  if (paymentMethod instanceof Rejected) return paymentMethod;
  const paymentStatus = readPaymentStatus(o);
  if (paymentStatus instanceof Rejected) return paymentStatus;
  const paymentDescription = readPaymentDescription(o);
  if (paymentDescription instanceof Rejected) return paymentDescription;
  return {
    checkoutId,
    userId,
    productId,
    eventTimeMs,
    quantity,
    discount,
    shippingCost,
    totalAmount,
    paymentMethod,
    paymentStatus,
    paymentDescription,
    raw,
  };
}
