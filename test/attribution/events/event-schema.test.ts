/**
 * The zod schemas (the declarative statement of the formats) and the hand-written parser (the
 * fast path) must agree on every line: same verdict, and on acceptance the same values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseCheckout, parseClick } from '../../../src/attribution/events/event-parser.ts';
import { checkoutSchema, clickSchema } from '../../../src/attribution/events/event-schema.ts';
import { Rejected } from '../../../src/engine/index.ts';

/** Mostly valid values (so that both verdicts are common), else values on the wrong side of a rule. */
const anyOf = (...values: unknown[]) => fc.constantFrom(...values);
const mostly = (valid: fc.Arbitrary<unknown>, other: fc.Arbitrary<unknown>) =>
  fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: other, weight: 1 });
/**
 * Strings at the edges of the storage limits (256 bytes of UTF-8, no U+0000): ASCII, 2- and
 * 3-byte characters and surrogate pairs on both sides of the limit.
 */
const atLimit = anyOf(
  'x'.repeat(256),
  'x'.repeat(257),
  'é'.repeat(128),
  'é'.repeat(129),
  '€'.repeat(85),
  '€'.repeat(86),
  '😀'.repeat(64),
  `${'😀'.repeat(64)}x`,
  'a\u0000b',
  'a\ud800b',
  'x'.repeat(3000),
);
const longish = fc.string({ unit: 'binary', minLength: 1, maxLength: 120 });
const id = mostly(
  fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.nat()),
  fc.oneof(anyOf(-1, 1.5, 2 ** 53, null, undefined, true, {}, [], ''), atLimit, longish),
);
const goodTime = fc.oneof(
  fc.integer({ min: 0, max: 4e12 }),
  fc.integer({ min: 0, max: 4e12 }).map((ms) => new Date(ms).toISOString()),
  anyOf('2026-03-01 09:15:02.900', '2026-03-01T11:15:02+02:00', null, undefined),
);
const time = mostly(
  goodTime,
  anyOf('2026-02-30 10:00:00', '2026-03-01 24:00:00', '2026-03-01', '1772356502900', 1.5, true, {}),
);
const num = (valid: fc.Arbitrary<unknown>, ...edges: unknown[]) =>
  mostly(fc.oneof(valid, anyOf(null, undefined)), fc.oneof(fc.double({ min: -2, max: 3 }), anyOf(...edges, '1', true)));
const str = (valid: fc.Arbitrary<unknown>, ...edges: unknown[]) =>
  mostly(fc.oneof(valid, anyOf(null, undefined, '')), fc.oneof(anyOf(...edges, 4, [], {}), atLimit, longish));

const clickObject = fc.record({
  click_id: id,
  user_id: id,
  product_id: id,
  source: str(fc.oneof(fc.string({ maxLength: 6 }), anyOf(' Tiktok ', 'GOOGLE', '  '))),
  event_time: time,
  click_timestamp: time,
  datetime_occured: time,
});

const checkoutObject = fc.record({
  checkout_id: id,
  user_id: id,
  product_id: id,
  event_time: time,
  checkout_timestamp: time,
  datetime_occured: time,
  quantity: num(fc.integer({ min: 1, max: 100 }), 0, -1, 1.5, 2 ** 53),
  discount: num(fc.double({ min: 0, max: 1, noNaN: true }), -0.01, 1.01),
  shipping_cost: num(fc.double({ min: 0, max: 1e6, noNaN: true }), -0.01),
  total_amount: num(fc.double({ min: 0, max: 1e6, noNaN: true }), -1),
  payment_method: str(fc.string({ maxLength: 6 })),
  payment_status: str(anyOf('Success', 'FAILED', 'failed', ' success '), 'pending', 'ok'),
  payment_description: str(fc.oneof(fc.string({ maxLength: 6 }), anyOf('None', 'NONE', 'Card Expired'))),
});

function agree<T>(raw: string, hand: T | Rejected, zod: { success: boolean; data?: unknown; error?: unknown }): void {
  if (hand instanceof Rejected) {
    assert.equal(zod.success, false, `the parser refused (${hand.reason}: ${hand.detail}) but zod accepted ${raw}`);
  } else {
    assert.equal(zod.success, true, `the parser accepted but zod refused ${raw}: ${String(zod.error)}`);
    const { raw: _raw, ...values } = hand as T & { raw: string };
    assert.deepEqual(values, zod.data);
  }
}

test('the click parser and clickSchema agree on random near-valid clicks', () => {
  fc.assert(
    fc.property(clickObject, (o) => {
      const raw = JSON.stringify(o);
      agree(raw, parseClick(raw), clickSchema.safeParse(JSON.parse(raw)));
    }),
    { numRuns: 5000 },
  );
});

test('the checkout parser and checkoutSchema agree on random near-valid checkouts', () => {
  fc.assert(
    fc.property(checkoutObject, (o) => {
      const raw = JSON.stringify(o);
      agree(raw, parseCheckout(raw), checkoutSchema.safeParse(JSON.parse(raw)));
    }),
    { numRuns: 5000 },
  );
});

test('the random inputs reach both verdicts often (the agreement above is not vacuous)', () => {
  const sample = fc.sample(checkoutObject, { numRuns: 2000, seed: 1 });
  const accepted = sample.filter((o) => !(parseCheckout(JSON.stringify(o)) instanceof Rejected)).length;
  assert.ok(accepted > 20 && accepted < 1980, `accepted ${accepted} of 2000`);
});
