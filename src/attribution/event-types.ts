/**
 * The events and rows of the attribution application, after parsing. Field names are camelCase
 * in code; the output rows use the snake_case column names of the tables (ARCHITECTURE §3.5).
 * Every parsed event keeps its original line (`raw`), so that a late event can become a dead
 * letter with the full original payload.
 */

/** A click on an ad or a product page. */
export interface Click {
  clickId: string;
  userId: string;
  /** Null when the click names no product (the insights seed): it can match only with `scope: user`. */
  productId: string | null;
  /** The ad source (`google_ads`, `tiktok_ads`, `direct`, …), lower-cased; null when absent. */
  source: string | null;
  eventTimeMs: number;
  raw: string;
}

/** A checkout (an order). */
export interface Checkout {
  checkoutId: string;
  userId: string;
  productId: string;
  eventTimeMs: number;
  /** ≥ 1, default 1. */
  quantity: number;
  /** In [0, 1], default 0. */
  discount: number;
  /** ≥ 0, default 0. */
  shippingCost: number;
  /** The order value carried by the event (the tutorial seed's `total_amount`), if any. */
  totalAmount: number | null;
  paymentMethod: string | null;
  /** Case-insensitive on input; default success. */
  paymentStatus: 'success' | 'failed';
  /** `"None"` on input means null. */
  paymentDescription: string | null;
  raw: string;
}

/** A user row, as read from the shop's users table (never its password). */
export interface UserRow {
  userId: string;
  name: string | null;
  gender: string | null;
}

/** A product row, as read from the shop's products table. */
export interface ProductRow {
  productId: string;
  name: string | null;
  category: string | null;
  price: number | null;
  commissionRate: number | null;
}

/** Why a line became a dead letter (ARCHITECTURE §3.6). */
export type DeadLetterReason =
  | 'malformed_json'
  | 'missing_field'
  | 'invalid_field'
  | 'invalid_event_time'
  | 'unknown_type'
  | 'late'
  | 'duplicate';

/** A row of `dead_letters`. */
export interface DeadLetterRow {
  source: string;
  reason: DeadLetterReason | string;
  /** The payload, at most 1 MiB of it (cut at a character boundary): see `raw_bytes`. */
  raw: string;
  detail: string;
  received_at: string;
  /** The size of the whole payload in UTF-8 bytes; more than the bytes of `raw` when it was cut. */
  raw_bytes: number;
}
