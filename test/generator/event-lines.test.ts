import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkoutLine, clickLine, isoTime } from '../../src/generator/event-lines.ts';
import { RandomSource } from '../../src/generator/random-source.ts';

test('isoTime is toISOString, on nearly ordered times, random times and the edges of its range', () => {
  const rng = new RandomSource(1, 'iso');
  let t = Date.UTC(2026, 2, 1);
  for (let i = 0; i < 20_000; i++) {
    t += rng.int(0, 1500);
    assert.equal(isoTime(t), new Date(t).toISOString());
  }
  for (let i = 0; i < 5000; i++) {
    const r = Math.floor(rng.uniform(-5e13, 2e14));
    assert.equal(isoTime(r), new Date(r).toISOString());
  }
  for (const edge of [
    0,
    -1,
    999,
    1000,
    Date.parse('0001-01-01T00:00:00.000Z'),
    Date.parse('9999-12-31T23:59:59.999Z'),
    8.64e15,
  ]) {
    assert.equal(isoTime(edge), new Date(edge).toISOString());
  }
});

test('the canonical lines', () => {
  const t = Date.UTC(2026, 2, 1, 9, 15, 2, 900);
  assert.equal(
    clickLine({
      type: 'click',
      clickId: 'k1',
      userId: 'u000001',
      productId: 'p00001',
      source: 'email',
      eventTimeMs: t,
    }),
    '{"type":"click","click_id":"k1","user_id":"u000001","product_id":"p00001","source":"email","event_time":"2026-03-01T09:15:02.900Z"}',
  );
  assert.equal(
    checkoutLine({
      type: 'checkout',
      checkoutId: 'c1',
      userId: 'u000001',
      productId: 'p00001',
      quantity: 2,
      discount: 0.15,
      shippingCost: 4.99,
      paymentMethod: 'Apple Pay',
      paymentStatus: 'failed',
      paymentDescription: 'Card Expired',
      eventTimeMs: t,
    }),
    '{"type":"checkout","checkout_id":"c1","user_id":"u000001","product_id":"p00001","quantity":2,"discount":0.15,"shipping_cost":4.99,"payment_method":"Apple Pay","payment_status":"failed","payment_description":"Card Expired","event_time":"2026-03-01T09:15:02.900Z"}',
  );
});
