/**
 * The generated events and their canonical lines: one JSON object per line, keys in a fixed
 * order, `"type": "click" | "checkout"` first and `event_time` (ISO-8601 UTC with milliseconds)
 * last. `payment_description` is the string `"None"` on a successful payment, as the insights
 * seed writes it; flowmark's parser reads it as null (ARCHITECTURE §3.4).
 *
 * @example
 * {"type":"click","click_id":"3f9c…","user_id":"u000042","product_id":"p00007","source":"google_ads","event_time":"2026-03-01T00:00:01.250Z"}
 * {"type":"checkout","checkout_id":"9a1d…","user_id":"u000042","product_id":"p00007","quantity":1,"discount":0,"shipping_cost":4.99,"payment_method":"Visa","payment_status":"success","payment_description":"None","event_time":"2026-03-01T00:02:13.004Z"}
 */

/** A click as the simulator produces it. */
export interface GeneratedClick {
  type: 'click';
  clickId: string;
  userId: string;
  productId: string;
  source: string;
  eventTimeMs: number;
}

/** A checkout as the simulator produces it. */
export interface GeneratedCheckout {
  type: 'checkout';
  checkoutId: string;
  userId: string;
  productId: string;
  quantity: number;
  discount: number;
  shippingCost: number;
  paymentMethod: string;
  paymentStatus: 'success' | 'failed';
  /** `"None"` on success; the reason of a failed payment otherwise. */
  paymentDescription: string;
  eventTimeMs: number;
}

export type GeneratedEvent = GeneratedClick | GeneratedCheckout;

const MILLIS: string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/** Years 0001–9999: toISOString writes four digits of year (outside, six with a sign). */
const MIN_FAST_MS = Date.parse('0001-01-01T00:00:00.000Z');
const MAX_FAST_MS = Date.parse('9999-12-31T23:59:59.999Z');

let cachedSecond = Number.NaN;
let cachedPrefix = '';

/**
 * `ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the same text as `new Date(ms).toISOString()`, about five
 * times faster on nearly ordered times (the date and time of the current second are reused).
 *
 * @example isoTime(1772323200123) // '2026-03-01T00:00:00.123Z'
 */
export function isoTime(ms: number): string {
  if (!(ms >= MIN_FAST_MS && ms <= MAX_FAST_MS)) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  return `${cachedPrefix}${MILLIS[ms - second * 1000]}Z`;
}

/** The canonical line of a click (no trailing newline). */
export function clickLine(c: GeneratedClick): string {
  return `{"type":"click","click_id":"${c.clickId}","user_id":"${c.userId}","product_id":"${c.productId}","source":"${c.source}","event_time":"${isoTime(c.eventTimeMs)}"}`;
}

/** The canonical line of a checkout (no trailing newline). */
export function checkoutLine(c: GeneratedCheckout): string {
  return (
    `{"type":"checkout","checkout_id":"${c.checkoutId}","user_id":"${c.userId}","product_id":"${c.productId}",` +
    `"quantity":${c.quantity},"discount":${c.discount},"shipping_cost":${c.shippingCost},` +
    `"payment_method":"${c.paymentMethod}","payment_status":"${c.paymentStatus}",` +
    `"payment_description":"${c.paymentDescription}","event_time":"${isoTime(c.eventTimeMs)}"}`
  );
}

/** The canonical line of either kind of event. */
export function eventLine(e: GeneratedEvent): string {
  return e.type === 'click' ? clickLine(e) : checkoutLine(e);
}

/**
 * The canonical JSON object of an event (the same keys and order as its line): used to build
 * malformed variants, where speed does not matter.
 */
export function eventObject(e: GeneratedEvent): Record<string, unknown> {
  return JSON.parse(eventLine(e)) as Record<string, unknown>;
}
