import type { Checkout, Click } from '../../src/attribution/event-types.ts';

export const MIN = 60_000;
export const T0 = Date.UTC(2026, 2, 1, 10, 0, 0);

export function click(id: string, t: number, over: Partial<Click> = {}): Click {
  return {
    clickId: id,
    userId: 'u1',
    productId: 'p1',
    source: 'google_ads',
    eventTimeMs: t,
    raw: `click ${id}`,
    ...over,
  };
}

export function checkout(id: string, t: number, over: Partial<Checkout> = {}): Checkout {
  return {
    checkoutId: id,
    userId: 'u1',
    productId: 'p1',
    eventTimeMs: t,
    quantity: 1,
    discount: 0,
    shippingCost: 0,
    totalAmount: null,
    paymentMethod: 'visa',
    paymentStatus: 'success',
    paymentDescription: null,
    raw: `checkout ${id}`,
    ...over,
  };
}
