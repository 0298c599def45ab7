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

test('issue 12: an order value beyond numeric(14,2) is null with its revenue and profit, and orderValueProblem says why', async () => {
  const { orderValueProblem } = await import('../../src/attribution/money.ts');
  const gold: ProductRow = { ...lamp, price: 10_000_000_000 };
  const c = checkout('c', 0, { quantity: 1_000_000 });
  assert.deepEqual(money(c, gold), { orderValue: null, revenue: null, profit: null });
  assert.match(
    orderValueProblem(c, gold) ?? '',
    /^order_value = round2\(price 10000000000 × quantity 1000000 × \(1 − discount 0\)\) = 10000000000000000 is beyond what the money columns hold \(numeric\(14,2\): at most 999999999999\.99\): checkout "c" is output with null order_value, revenue and profit$/,
  );
  // The largest value that fits, and one cent more.
  const edge = { ...lamp, price: 999_999_999_999.99 };
  assert.equal(money(checkout('c', 0), edge).orderValue, 999_999_999_999.99);
  assert.equal(orderValueProblem(checkout('c', 0), edge), undefined);
  assert.equal(money(checkout('c', 0, { quantity: 2 }), { ...lamp, price: 500_000_000_000 }).orderValue, null);
  // Nothing to say when it fits, or when the price does not count (total_amount, unknown product).
  assert.equal(orderValueProblem(checkout('c', 0), lamp), undefined);
  assert.equal(orderValueProblem(checkout('c', 0, { totalAmount: 5, quantity: 1_000_000 }), gold), undefined);
  assert.equal(orderValueProblem(checkout('c', 0), undefined), undefined);
});

test('property: money never gives NaN, Infinity or a value numeric(14,2) cannot hold, whatever the product row', async () => {
  const fc = (await import('fast-check')).default;
  const number = fc.oneof(
    fc.double(),
    fc.constantFrom(1e308, Number.NaN, Number.POSITIVE_INFINITY, 1e10, 0, 1),
    fc.constant(null),
  );
  fc.assert(
    fc.property(
      number,
      number,
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.boolean(),
      (price, rate, quantity, discount, failed) => {
        const m = money(checkout('c', 0, { quantity, discount, paymentStatus: failed ? 'failed' : 'success' }), {
          ...lamp,
          price,
          commissionRate: rate,
        });
        for (const v of [m.orderValue, m.revenue, m.profit])
          assert.ok(v === null || (Number.isFinite(v) && Math.abs(v) <= 999_999_999_999.99), String(v));
      },
    ),
    { numRuns: 3000 },
  );
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
