import type { Checkout, ProductRow } from './event-types.ts';
import { MAX_MONEY } from './events/storage-limits.ts';

/**
 * Rounds to cents, half away from zero. The 1e-9 nudge absorbs binary representation error
 * (1.005 is stored as 1.00499999999999989…, and must round to 1.01 as a person would).
 */
export function round2(x: number): number {
  return (Math.sign(x) * Math.round(Math.abs(x) * 100 + 1e-9)) / 100;
}

export interface Money {
  orderValue: number | null;
  revenue: number | null;
  profit: number | null;
}

/** A money value that a `numeric(14,2)` column holds; anything else (NaN, Infinity, too large) is null. */
function storable(x: number): number | null {
  return x >= -MAX_MONEY && x <= MAX_MONEY ? x : null;
}

/**
 * ARCHITECTURE §3.4: order_value = total_amount when the checkout carries it, else
 * round2(price × quantity × (1 − discount)); revenue = order_value if the payment succeeded,
 * else 0; profit = round2(revenue × commission_rate). An unknown product (no price) gives a null
 * order value unless total_amount is given; no commission rate gives a null profit.
 *
 * Each input is within its column (price ≤ 10¹⁰, quantity ≤ 10⁶), but their product may not be:
 * an order value beyond `numeric(14,2)` (999 999 999 999.99) is null, and so are the revenue and
 * profit computed from it — the checkout is still output, and {@link orderValueProblem} says why
 * (the pipeline makes it a dead letter). No NaN or Infinity ever leaves this function.
 */
export function money(checkout: Checkout, product: ProductRow | undefined): Money {
  let orderValue: number | null = null;
  if (checkout.totalAmount !== null) orderValue = storable(round2(checkout.totalAmount));
  else if (product?.price != null) orderValue = storable(orderValueOf(checkout, product.price));
  const revenue = orderValue === null ? null : checkout.paymentStatus === 'success' ? orderValue : 0;
  const rate = product?.commissionRate;
  const profit = revenue === null || rate == null ? null : storable(round2(revenue * rate));
  return { orderValue, revenue, profit };
}

function orderValueOf(checkout: Checkout, price: number): number {
  return round2(price * checkout.quantity * (1 - checkout.discount));
}

/**
 * Why {@link money} gave a null order value for a checkout that has a price, or undefined when
 * the order value fits. For the detail of a dead letter.
 *
 * @example
 * orderValueProblem(checkout({ quantity: 1_000_000 }), { …, price: 10_000_000_000 });
 * // 'order_value = round2(price 10000000000 × quantity 1000000 × (1 − discount 0)) = 10000000000000000 is beyond …'
 */
export function orderValueProblem(checkout: Checkout, product: ProductRow | undefined): string | undefined {
  if (checkout.totalAmount !== null || product?.price == null) return undefined;
  const value = orderValueOf(checkout, product.price);
  if (storable(value) !== null) return undefined;
  return (
    `order_value = round2(price ${product.price} × quantity ${checkout.quantity} × (1 − discount ${checkout.discount})) = ${value} ` +
    `is beyond what the money columns hold (numeric(14,2): at most ${MAX_MONEY}): checkout ${JSON.stringify(checkout.checkoutId)} ` +
    `is output with null order_value, revenue and profit`
  );
}
