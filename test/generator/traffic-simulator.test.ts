import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GeneratedCheckout, GeneratedClick, GeneratedEvent } from '../../src/generator/index.ts';
import { FAILURE_REASONS, PAYMENT_METHODS, SOURCES, TrafficSimulator } from '../../src/generator/index.ts';
import { meanEventsPerSession } from '../../src/generator/traffic-simulator.ts';
import { CATALOG } from './generator-fixtures.ts';

const START = Date.UTC(2026, 2, 1);
const HOUR = 3_600_000;

function simulate(n: number, seed = 1, ratePerSecond = 100): GeneratedEvent[] {
  const sim = new TrafficSimulator({
    users: CATALOG.users,
    products: CATALOG.products,
    seed,
    startMs: START,
    ratePerSecond,
  });
  return Array.from({ length: n }, () => sim.next());
}

// 20 events/s: two hours of event time, so purchases made hours after their clicks are in it.
const EVENTS = simulate(150_000, 1, 20);
const CLICKS = EVENTS.filter((e): e is GeneratedClick => e.type === 'click');
const CHECKOUTS = EVENTS.filter((e): e is GeneratedCheckout => e.type === 'checkout');

test('events come in event-time order, from startMs on, with ids that never repeat', () => {
  assert.ok(EVENTS[0]!.eventTimeMs >= START);
  for (let i = 1; i < EVENTS.length; i++) assert.ok(EVENTS[i]!.eventTimeMs >= EVENTS[i - 1]!.eventTimeMs);
  assert.equal(new Set(CLICKS.map((c) => c.clickId)).size, CLICKS.length);
  assert.equal(new Set(CHECKOUTS.map((c) => c.checkoutId)).size, CHECKOUTS.length);
  const users = new Set(CATALOG.users.map((u) => u.userId));
  const products = new Set(CATALOG.products.map((p) => p.productId));
  for (const e of EVENTS) assert.ok(users.has(e.userId) && products.has(e.productId));
});

test('a few percent of sessions convert: checkouts are about 1 % of events', () => {
  const share = CHECKOUTS.length / EVENTS.length;
  assert.ok(share > 0.005 && share < 0.02, `checkout share ${share}`);
  // Sessions ≈ events / events per session; a few percent of them convert.
  const sessions = EVENTS.length / meanEventsPerSession();
  const conversion = CHECKOUTS.length / sessions;
  assert.ok(conversion > 0.02 && conversion < 0.06, `conversion ${conversion}`);
});

test('sources: every ad source appears, in a realistic mix led by google_ads', () => {
  const bySource = new Map<string, number>();
  for (const c of CLICKS) bySource.set(c.source, (bySource.get(c.source) ?? 0) + 1);
  assert.deepEqual([...bySource.keys()].sort(), SOURCES.map((s) => s[0]).sort());
  const top = [...bySource].sort((a, b) => b[1] - a[1])[0]![0];
  assert.equal(top, 'google_ads');
});

test('checkouts: attributable within the hour, beyond the hour only, and with no click at all', () => {
  // Brute force: the clicks of the same user and product before each checkout.
  const clicksOf = new Map<string, number[]>();
  for (const c of CLICKS) {
    const key = `${c.userId}/${c.productId}`;
    const list = clicksOf.get(key) ?? [];
    list.push(c.eventTimeMs);
    clicksOf.set(key, list);
  }
  let within = 0;
  let onlyOlder = 0;
  let none = 0;
  for (const c of CHECKOUTS) {
    const times = (clicksOf.get(`${c.userId}/${c.productId}`) ?? []).filter((t) => t <= c.eventTimeMs);
    if (times.some((t) => c.eventTimeMs - t <= HOUR)) within++;
    else if (times.length > 0) onlyOlder++;
    else none++;
  }
  const n = CHECKOUTS.length;
  assert.ok(within / n > 0.6 && within / n < 0.95, `attributable ${within}/${n}`);
  assert.ok(onlyOlder > 0, `some checkouts come more than an hour after their clicks (${onlyOlder}/${n})`);
  assert.ok(none > 0, `some checkouts have no click (${none}/${n})`);
});

test('checkout fields: quantities, discounts, shipping, payment methods, failures with reasons', () => {
  const n = CHECKOUTS.length;
  const ones = CHECKOUTS.filter((c) => c.quantity === 1).length;
  assert.ok(ones / n > 0.6 && ones / n < 0.9, `quantity 1: ${ones}/${n}`);
  assert.ok(CHECKOUTS.some((c) => c.quantity >= 3));
  const discounted = CHECKOUTS.filter((c) => c.discount > 0);
  assert.ok(discounted.length / n > 0.1 && discounted.length / n < 0.4, `discounted ${discounted.length}/${n}`);
  for (const c of discounted) assert.ok(c.discount >= 0.05 && c.discount <= 0.3);
  assert.ok(CHECKOUTS.some((c) => c.shippingCost === 0) && CHECKOUTS.some((c) => c.shippingCost > 0));
  const methods = new Set(PAYMENT_METHODS.map((m) => m[0]));
  for (const c of CHECKOUTS) assert.ok(methods.has(c.paymentMethod));
  const failed = CHECKOUTS.filter((c) => c.paymentStatus === 'failed');
  assert.ok(failed.length / n > 0.02 && failed.length / n < 0.1, `failed ${failed.length}/${n}`);
  const reasons = new Set(FAILURE_REASONS.map((r) => r[0]));
  for (const c of failed) assert.ok(reasons.has(c.paymentDescription), c.paymentDescription);
  for (const c of CHECKOUTS) if (c.paymentStatus === 'success') assert.equal(c.paymentDescription, 'None');
  // After a failure, some users retry the same order with a new checkout.
  const retried = failed.filter((f) =>
    CHECKOUTS.some(
      (c) =>
        c.checkoutId !== f.checkoutId &&
        c.userId === f.userId &&
        c.productId === f.productId &&
        c.eventTimeMs > f.eventTimeMs &&
        c.eventTimeMs - f.eventTimeMs <= 4 * 60_000,
    ),
  );
  assert.ok(retried.length > 0, 'some failed payments are retried');
});

test('sessions browse: users click several products, often in one category, sometimes the same one twice', () => {
  const byUser = new Map<string, GeneratedClick[]>();
  for (const c of CLICKS) byUser.set(c.userId, [...(byUser.get(c.userId) ?? []), c]);
  const busiest = Math.max(...[...byUser.values()].map((l) => l.length));
  const median = [...byUser.values()].map((l) => l.length).sort((a, b) => a - b)[Math.floor(byUser.size / 2)]!;
  assert.ok(busiest > 3 * median, `some users are far more active (${busiest} vs a median of ${median})`);
  const repeats = [...byUser.values()].filter((l) => new Set(l.map((c) => c.productId)).size < l.length).length;
  assert.ok(repeats > 0);
});

test('nextUpTo gives the same events as next, stopping at the limit without consuming', () => {
  const a = new TrafficSimulator({
    users: CATALOG.users,
    products: CATALOG.products,
    seed: 4,
    startMs: START,
    ratePerSecond: 50,
  });
  const b = new TrafficSimulator({
    users: CATALOG.users,
    products: CATALOG.products,
    seed: 4,
    startMs: START,
    ratePerSecond: 50,
  });
  const viaNext = Array.from({ length: 3000 }, () => a.next());
  const viaLimit: GeneratedEvent[] = [];
  for (let limit = START; viaLimit.length < 3000; limit += 777) {
    for (let e = b.nextUpTo(limit); e !== undefined && viaLimit.length < 3000; e = b.nextUpTo(limit)) {
      assert.ok(e.eventTimeMs <= limit);
      viaLimit.push(e);
    }
  }
  assert.deepEqual(viaLimit, viaNext);
});

test('the simulation needs users and products and a positive rate', () => {
  const base = { users: CATALOG.users, products: CATALOG.products, seed: 1, startMs: START, ratePerSecond: 10 };
  assert.throws(() => new TrafficSimulator({ ...base, users: [] }), /at least one user/);
  assert.throws(() => new TrafficSimulator({ ...base, products: [] }), /at least one product/);
  assert.throws(() => new TrafficSimulator({ ...base, ratePerSecond: 0 }), /positive number/);
  // Products read from a shop's table may lack a category or a price.
  const sim = new TrafficSimulator({ ...base, products: [{ productId: 'x', category: null, price: null }] });
  assert.equal(sim.next().productId, 'x');
});
