import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProductRow } from '../../src/attribution/event-types.ts';
import { money, round2 } from '../../src/attribution/money.ts';
import { checkout } from './attribution-fixtures.ts';

const lamp: ProductRow = { productId: 'p1', name: 'lamp', category: 'home', price: 37.12, commissionRate: 0.1 };

test('round2 rounds half away from zero, despite binary representation', () => {
  assert.equal(round2(1.005), 1.01);
  assert.equal(round2(2.675), 2.68);
  assert.equal(round2(94.656), 94.66);
  assert.equal(round2(-1.005), -1.01);
  assert.equal(round2(0.1 + 0.2), 0.3);
});

test('order_value = round2(price × quantity × (1 − discount)); revenue; profit = round2(revenue × rate)', () => {
  const m = money(checkout('c', 0, { quantity: 3, discount: 0.15 }), lamp);
  assert.deepEqual(m, { orderValue: 94.66, revenue: 94.66, profit: 9.47 });
});

test('a failed payment has revenue 0 and profit 0, but keeps its order value', () => {
  assert.deepEqual(money(checkout('c', 0, { paymentStatus: 'failed' }), lamp), {
    orderValue: 37.12,
    revenue: 0,
    profit: 0,
  });
});

test('total_amount, when carried, is the order value', () => {
  assert.deepEqual(money(checkout('c', 0, { totalAmount: 512.77, quantity: 2 }), lamp), {
    orderValue: 512.77,
    revenue: 512.77,
    profit: 51.28,
  });
});

test('an unknown product gives nulls, never a dropped checkout', () => {
  assert.deepEqual(money(checkout('c', 0), undefined), { orderValue: null, revenue: null, profit: null });
  assert.deepEqual(money(checkout('c', 0, { totalAmount: 10 }), undefined), {
    orderValue: 10,
    revenue: 10,
    profit: null,
  });
});

test('no order value: revenue and profit stay null, for a failed payment and with a commission rate too', () => {
  // Found by mutation testing (npm run mutate -- src/attribution/money.ts): a failed payment of an
  // unknown product, and a product with a rate but no price, each gave 0 instead of null.
  assert.deepEqual(money(checkout('c', 0, { paymentStatus: 'failed' }), undefined), {
    orderValue: null,
    revenue: null,
    profit: null,
  });
  assert.deepEqual(money(checkout('c', 0), { ...lamp, price: null }), {
    orderValue: null,
    revenue: null,
    profit: null,
  });
});
