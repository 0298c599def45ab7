import type { Checkout, ProductRow } from './event-types.ts';

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

/**
 * ARCHITECTURE §3.4: order_value = total_amount when the checkout carries it, else
 * round2(price × quantity × (1 − discount)); revenue = order_value if the payment succeeded,
 * else 0; profit = round2(revenue × commission_rate). An unknown product (no price) gives a null
 * order value unless total_amount is given; no commission rate gives a null profit.
 */
export function money(checkout: Checkout, product: ProductRow | undefined): Money {
  let orderValue: number | null = null;
  if (checkout.totalAmount !== null) orderValue = round2(checkout.totalAmount);
  else if (product?.price != null) orderValue = round2(product.price * checkout.quantity * (1 - checkout.discount));
  const revenue = orderValue === null ? null : checkout.paymentStatus === 'success' ? orderValue : 0;
  const rate = product?.commissionRate;
  const profit = revenue === null || rate == null ? null : round2(revenue * rate);
  return { orderValue, revenue, profit };
}
