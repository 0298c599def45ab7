import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { Checkout, Click } from '../../../src/attribution/event-types.ts';
import { parseCheckout, parseClick, parseEvent } from '../../../src/attribution/events/index.ts';
import { Rejected } from '../../../src/engine/index.ts';
import { requirePath } from '../../support/services.ts';

const T = Date.UTC(2026, 2, 1, 9, 15, 2, 900); // 2026-03-01T09:15:02.900Z
const REASONS = new Set(['malformed_json', 'missing_field', 'invalid_field', 'invalid_event_time', 'unknown_type']);

function click(raw: string): Click {
  const c = parseClick(raw);
  if (c instanceof Rejected) assert.fail(`expected a click from ${raw}, got ${c.reason}: ${c.detail}`);
  return c;
}

function checkout(raw: string): Checkout {
  const c = parseCheckout(raw);
  if (c instanceof Rejected) assert.fail(`expected a checkout from ${raw}, got ${c.reason}: ${c.detail}`);
  return c;
}

function rejected(result: unknown): Rejected {
  assert.ok(result instanceof Rejected, `expected a Rejected, got ${JSON.stringify(result)}`);
  return result;
}

/** A canonical checkout line with `over` merged in (a value of undefined removes the field). */
function checkoutLine(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type: 'checkout',
    checkout_id: 'c1',
    user_id: 'u1',
    product_id: 'p1',
    event_time: '2026-03-01T09:15:02.900Z',
    ...over,
  });
}

function clickLine(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type: 'click',
    click_id: 'k1',
    user_id: 'u1',
    product_id: 'p1',
    source: 'google_ads',
    event_time: '2026-03-01T09:15:02.900Z',
    ...over,
  });
}

// ---------------------------------------------------------------------------------------------
// The seed formats, line for line as ../shared/seed-formats holds them (copied, so the tests
// need nothing outside the repository; a test below checks the copies against the originals).

const SEEDS = {
  'tutorial-clicks.jsonl': [
    '{"click_id": "6f1d3c1e-9a8b-4c52-8d0e-2f4b3a1c9e77", "user_id": 42, "product_id": "0c7b6a5e-1d2f-4e3a-9b8c-7d6e5f4a3b2c", "product": "lamp", "price": 37.12, "url": "https://www.example.com/lamp", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "ip_address": "203.0.113.7", "datetime_occured": "2026-03-01 09:14:03.512"}',
    '{"click_id": "0b9e8d7c-6a5b-4c3d-8e2f-1a0b9c8d7e6f", "user_id": 42, "product_id": "0c7b6a5e-1d2f-4e3a-9b8c-7d6e5f4a3b2c", "product": "lamp", "price": 37.12, "url": "https://www.example.com/lamp", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "ip_address": "203.0.113.7", "datetime_occured": "2026-03-01 09:20:41.007"}',
    '{"click_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "user_id": 7, "product_id": "5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b", "product": "chair", "price": 12.5, "url": "https://www.example.com/chair", "user_agent": "Opera/9.80 (Windows NT 6.1)", "ip_address": "198.51.100.23", "datetime_occured": "2026-03-01 09:21:00.000"}',
  ],
  'tutorial-checkouts.jsonl': [
    '{"checkout_id": "c3b2a190-8f7e-4d6c-9b5a-4f3e2d1c0b9a", "user_id": 42, "product_id": "0c7b6a5e-1d2f-4e3a-9b8c-7d6e5f4a3b2c", "payment_method": "VISA 16 digit", "total_amount": 512.77, "shipping_address": "12 Elm Street\\nSpringfield, IL 62704", "billing_address": "12 Elm Street\\nSpringfield, IL 62704", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "ip_address": "203.0.113.7", "datetime_occured": "2026-03-01 09:31:15.250"}',
    '{"checkout_id": "d4c3b2a1-9e8f-4a7b-8c6d-5e4f3a2b1c0d", "user_id": 7, "product_id": "ffffffff-0000-4000-8000-000000000000", "payment_method": "Discover", "total_amount": 88.1, "shipping_address": "1 Main St", "billing_address": "1 Main St", "user_agent": "Opera/9.80 (Windows NT 6.1)", "ip_address": "198.51.100.23", "datetime_occured": "2026-03-01 09:32:00.000"}',
  ],
  'insights-clicks.jsonl': [
    '{"click_id": "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b", "user_id": "U1007", "source": "Tiktok", "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "ip_address": "192.0.2.44", "click_timestamp": "2026-03-01 09:10:00.125"}',
    '{"click_id": "2f3e4d5c-6b7a-4899-8a1b-2c3d4e5f6a7b", "user_id": "U1007", "source": "Unknown", "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "ip_address": "192.0.2.44", "click_timestamp": "2026-03-01 09:12:30.000"}',
    '{"click_id": "3a4b5c6d-7e8f-49a0-8b1c-3d4e5f6a7b8c", "user_id": "U2001", "source": "Google", "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "ip_address": "192.0.2.90", "click_timestamp": "2026-03-01 09:13:00.000"}',
  ],
  'insights-checkouts.jsonl': [
    '{"checkout_id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "user_id": "U1007", "product_id": "P0042", "quantity": 3, "shipping_cost": 4.2, "discount": 0.15, "payment_method": "Paypal", "payment_status": "Success", "payment_description": "None", "shipping_address": "77 Harbour Rd\\nPort Town, ME 04101", "checkout_timestamp": "2026-03-01 09:15:02.900"}',
    '{"checkout_id": "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e", "user_id": "U2001", "product_id": "P0007", "quantity": 1, "shipping_cost": 9.99, "discount": 0.05, "payment_method": "Visa", "payment_status": "Failed", "payment_description": "Card Expired", "shipping_address": "5 Hill Ave", "checkout_timestamp": "2026-03-01 09:16:10.000"}',
  ],
} as const;

const SHARED_SEEDS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/seed-formats');

test('every line of the four seed files parses, with parseEvent and with the per-type parser', () => {
  for (const [file, lines] of Object.entries(SEEDS)) {
    const isClick = file.includes('clicks');
    for (const raw of lines) {
      const e = parseEvent(raw);
      assert.ok(!(e instanceof Rejected), `${file}: ${e instanceof Rejected ? e.detail : ''}`);
      assert.equal(e.type, isClick ? 'click' : 'checkout', file);
      const typed = isClick ? click(raw) : checkout(raw);
      assert.deepEqual(e.type === 'click' ? e.click : e.checkout, typed);
      assert.equal(typed.raw, raw, 'the original line is kept');
    }
  }
});

test('the copies above are the seed files of ../shared/seed-formats, line for line', (t) => {
  if (!requirePath(t, SHARED_SEEDS)) return;
  const files = readdirSync(SHARED_SEEDS).filter((f) => f.endsWith('.jsonl'));
  assert.deepEqual(files.sort(), Object.keys(SEEDS).sort());
  for (const f of files) {
    const lines = readFileSync(join(SHARED_SEEDS, f), 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    assert.deepEqual(lines, SEEDS[f as keyof typeof SEEDS], f);
  }
});

test('tutorial seed: numeric user ids, total_amount, naive datetime_occured as UTC, products on clicks', () => {
  const [k1] = SEEDS['tutorial-clicks.jsonl'];
  assert.deepEqual(click(k1), {
    clickId: '6f1d3c1e-9a8b-4c52-8d0e-2f4b3a1c9e77',
    userId: '42',
    productId: '0c7b6a5e-1d2f-4e3a-9b8c-7d6e5f4a3b2c',
    source: null,
    eventTimeMs: Date.UTC(2026, 2, 1, 9, 14, 3, 512),
    raw: k1,
  });
  const [c1, c2] = SEEDS['tutorial-checkouts.jsonl'];
  assert.deepEqual(checkout(c1), {
    checkoutId: 'c3b2a190-8f7e-4d6c-9b5a-4f3e2d1c0b9a',
    userId: '42',
    productId: '0c7b6a5e-1d2f-4e3a-9b8c-7d6e5f4a3b2c',
    eventTimeMs: Date.UTC(2026, 2, 1, 9, 31, 15, 250),
    quantity: 1,
    discount: 0,
    shippingCost: 0,
    totalAmount: 512.77,
    paymentMethod: 'VISA 16 digit',
    paymentStatus: 'success',
    paymentDescription: null,
    raw: c1,
  });
  assert.equal(checkout(c2).userId, '7');
  assert.equal(checkout(c2).totalAmount, 88.1);
  assert.equal(checkout(c2).eventTimeMs, Date.UTC(2026, 2, 1, 9, 32));
});

test('insights seed: ad source without product, click_timestamp/checkout_timestamp, Success/Failed, "None"', () => {
  const [k1, k2, k3] = SEEDS['insights-clicks.jsonl'];
  assert.deepEqual(click(k1), {
    clickId: '1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b',
    userId: 'U1007',
    productId: null,
    source: 'tiktok',
    eventTimeMs: Date.UTC(2026, 2, 1, 9, 10, 0, 125),
    raw: k1,
  });
  assert.equal(click(k2).source, 'unknown');
  assert.equal(click(k3).source, 'google');
  const [c1, c2] = SEEDS['insights-checkouts.jsonl'];
  assert.deepEqual(checkout(c1), {
    checkoutId: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
    userId: 'U1007',
    productId: 'P0042',
    eventTimeMs: T,
    quantity: 3,
    discount: 0.15,
    shippingCost: 4.2,
    totalAmount: null,
    paymentMethod: 'Paypal',
    paymentStatus: 'success',
    paymentDescription: null,
    raw: c1,
  });
  const failed = checkout(c2);
  assert.equal(failed.paymentStatus, 'failed');
  assert.equal(failed.paymentDescription, 'Card Expired');
  assert.equal(failed.eventTimeMs, Date.UTC(2026, 2, 1, 9, 16, 10));
});

// ---------------------------------------------------------------------------------------------
// The canonical format.

test('a canonical click and a canonical checkout, every field', () => {
  const k = clickLine({ source: '  Google_Ads ' });
  assert.deepEqual(click(k), {
    clickId: 'k1',
    userId: 'u1',
    productId: 'p1',
    source: 'google_ads',
    eventTimeMs: T,
    raw: k,
  });
  const c = checkoutLine({
    quantity: 2,
    discount: 0.25,
    shipping_cost: 4.99,
    payment_method: 'visa',
    payment_status: 'failed',
    payment_description: 'Insufficient funds',
    total_amount: 80.5,
  });
  assert.deepEqual(checkout(c), {
    checkoutId: 'c1',
    userId: 'u1',
    productId: 'p1',
    eventTimeMs: T,
    quantity: 2,
    discount: 0.25,
    shippingCost: 4.99,
    totalAmount: 80.5,
    paymentMethod: 'visa',
    paymentStatus: 'failed',
    paymentDescription: 'Insufficient funds',
    raw: c,
  });
});

test('defaults: quantity 1, discount 0, shipping_cost 0, no total_amount, payment success, no method or description', () => {
  const expected = {
    quantity: 1,
    discount: 0,
    shippingCost: 0,
    totalAmount: null,
    paymentMethod: null,
    paymentStatus: 'success',
    paymentDescription: null,
  };
  const pick = (c: Checkout) => ({
    quantity: c.quantity,
    discount: c.discount,
    shippingCost: c.shippingCost,
    totalAmount: c.totalAmount,
    paymentMethod: c.paymentMethod,
    paymentStatus: c.paymentStatus,
    paymentDescription: c.paymentDescription,
  });
  assert.deepEqual(pick(checkout(checkoutLine())), expected, 'absent fields');
  const nulls = checkoutLine({
    quantity: null,
    discount: null,
    shipping_cost: null,
    total_amount: null,
    payment_method: null,
    payment_status: null,
    payment_description: null,
  });
  assert.deepEqual(pick(checkout(nulls)), expected, 'null fields');
  const empties = checkoutLine({ payment_method: '', payment_description: '' });
  assert.deepEqual(pick(checkout(empties)), expected, 'empty strings');
});

test('click: no product is null, no source is null; source is trimmed and lower-cased', () => {
  for (const product_id of [undefined, null, '']) assert.equal(click(clickLine({ product_id })).productId, null);
  assert.equal(click(clickLine({ product_id: 7 })).productId, '7');
  const sources: Array<[unknown, string | null]> = [
    [undefined, null],
    [null, null],
    ['', null],
    ['   ', null],
    ['Tiktok', 'tiktok'],
    [' FACEBOOK\t', 'facebook'],
    ['google_ads', 'google_ads'],
  ];
  for (const [source, expected] of sources) assert.equal(click(clickLine({ source })).source, expected, String(source));
});

test('payment_status is case-insensitive; payment_description "None" in any case is null', () => {
  const statuses: Array<[string, 'success' | 'failed']> = [
    ['success', 'success'],
    ['Success', 'success'],
    ['SUCCESS', 'success'],
    [' success ', 'success'],
    ['failed', 'failed'],
    ['Failed', 'failed'],
    ['FAILED', 'failed'],
  ];
  for (const [payment_status, expected] of statuses) {
    assert.equal(checkout(checkoutLine({ payment_status })).paymentStatus, expected, payment_status);
  }
  for (const none of ['None', 'none', 'NONE', 'nOnE', '']) {
    assert.equal(checkout(checkoutLine({ payment_description: none })).paymentDescription, null, none);
  }
  assert.equal(
    checkout(checkoutLine({ payment_description: 'Nonexistent card' })).paymentDescription,
    'Nonexistent card',
  );
  assert.equal(checkout(checkoutLine({ payment_description: ' None ' })).paymentDescription, ' None ');
});

test('range rules at their boundaries', () => {
  const ok: Array<[string, unknown, keyof Checkout, unknown]> = [
    ['quantity', 1, 'quantity', 1],
    ['quantity', 1000, 'quantity', 1000],
    ['quantity', 2.0, 'quantity', 2],
    ['discount', 0, 'discount', 0],
    ['discount', 1, 'discount', 1],
    ['discount', 0.5, 'discount', 0.5],
    ['shipping_cost', 0, 'shippingCost', 0],
    ['shipping_cost', 0.01, 'shippingCost', 0.01],
    ['total_amount', 0, 'totalAmount', 0],
    ['total_amount', 512.77, 'totalAmount', 512.77],
  ];
  for (const [field, value, key, expected] of ok) {
    assert.equal(checkout(checkoutLine({ [field]: value }))[key], expected, `${field} ${value}`);
  }
  const bad: Array<[string, unknown, string]> = [
    ['quantity', 0, 'quantity must be an integer in [1, 1000000], got 0'],
    ['quantity', -1, 'quantity must be an integer in [1, 1000000], got -1'],
    ['quantity', 1.5, 'quantity must be an integer in [1, 1000000], got 1.5'],
    [
      'quantity',
      '3',
      'quantity must be an integer in [1, 1000000], got "3" (a string: write the number without quotes)',
    ],
    ['quantity', 2 ** 53, 'quantity must be an integer in [1, 1000000], got 9007199254740992'],
    ['discount', -0.01, 'discount must be a number in [0, 1], got -0.01'],
    ['discount', 1.01, 'discount must be a number in [0, 1], got 1.01'],
    ['discount', 15, 'discount must be a number in [0, 1], got 15'],
    ['discount', '0.1', 'discount must be a number in [0, 1], got "0.1" (a string: write the number without quotes)'],
    ['shipping_cost', -0.01, 'shipping_cost must be a number in [0, 10000000000], got -0.01'],
    ['shipping_cost', true, 'shipping_cost must be a number in [0, 10000000000], got true'],
    ['total_amount', -1, 'total_amount must be a number in [0, 10000000000], got -1'],
    ['total_amount', {}, 'total_amount must be a number in [0, 10000000000], got an object'],
    ['payment_status', 'pending', 'payment_status must be "success" or "failed" (any case), got "pending"'],
    ['payment_status', 1, 'payment_status must be "success" or "failed" (any case), got 1'],
    ['payment_method', 4, 'payment_method must be a string, got 4'],
    ['payment_description', ['x'], 'payment_description must be a string, got an array'],
  ];
  for (const [field, value, detail] of bad) {
    const r = rejected(parseCheckout(checkoutLine({ [field]: value })));
    assert.equal(r.reason, 'invalid_field', `${field} ${JSON.stringify(value)}`);
    assert.equal(r.detail, detail);
  }
  // A number too large for a double becomes Infinity in JSON.parse: refused, not taken as a cost.
  const huge = rejected(
    parseCheckout(checkoutLine({ shipping_cost: 1 }).replace('"shipping_cost":1', '"shipping_cost":1e400')),
  );
  assert.equal(huge.reason, 'invalid_field');
  assert.match(huge.detail, /^shipping_cost must be a number in \[0, 10000000000\]/);
  assert.equal(
    rejected(parseClick(clickLine({ source: 5 }))).detail,
    'source must be a string such as "google_ads", got 5',
  );
});

test('ids: a number is its decimal string, so 42 and "42" are the same user', () => {
  const a = checkout(checkoutLine({ checkout_id: 1001, user_id: 42, product_id: 7 }));
  const b = checkout(checkoutLine({ checkout_id: '1001', user_id: '42', product_id: '7' }));
  assert.deepEqual([a.checkoutId, a.userId, a.productId], ['1001', '42', '7']);
  assert.deepEqual([a.checkoutId, a.userId, a.productId], [b.checkoutId, b.userId, b.productId]);
  assert.equal(click(clickLine({ click_id: 0, user_id: 42 })).userId, '42');
  assert.equal(click(clickLine({ click_id: 0 })).clickId, '0');
  assert.equal(click(clickLine({ user_id: 9007199254740991 })).userId, '9007199254740991');
  assert.equal(click(clickLine({ user_id: 4.2e1 })).userId, '42');
  assert.equal(click(clickLine({ user_id: ' 42 ' })).userId, ' 42 ', 'a string id is taken as written');
});

test('ids: missing, null or empty is missing_field; any other non-id is invalid_field; each detail names the field', () => {
  const missing: Array<[() => unknown, string]> = [
    [
      () => parseCheckout(checkoutLine({ checkout_id: undefined })),
      'checkout_id is missing: every checkout needs a checkout_id',
    ],
    [
      () => parseCheckout(checkoutLine({ checkout_id: null })),
      'checkout_id is null: every checkout needs a checkout_id',
    ],
    [() => parseCheckout(checkoutLine({ user_id: '' })), 'user_id is empty: every checkout needs a user_id'],
    [
      () => parseCheckout(checkoutLine({ product_id: undefined })),
      'product_id is missing: every checkout needs a product_id',
    ],
    [() => parseCheckout(checkoutLine({ product_id: null })), 'product_id is null: every checkout needs a product_id'],
    [() => parseClick(clickLine({ click_id: '' })), 'click_id is empty: every click needs a click_id'],
    [() => parseClick(clickLine({ user_id: undefined })), 'user_id is missing: every click needs a user_id'],
  ];
  for (const [parse, detail] of missing) {
    const r = rejected(parse());
    assert.equal(r.reason, 'missing_field');
    assert.ok(r.detail.startsWith(detail), r.detail);
    assert.match(r.detail, /a non-empty string or a non-negative integer/);
  }
  const invalid: Array<[unknown, string]> = [
    [-1, '-1'],
    [1.5, '1.5'],
    [2 ** 53, '9007199254740992'],
    [true, 'true'],
    [{ id: 1 }, 'an object'],
    [[1], 'an array'],
  ];
  for (const [user_id, shown] of invalid) {
    const r = rejected(parseCheckout(checkoutLine({ user_id })));
    assert.equal(r.reason, 'invalid_field');
    assert.equal(r.detail, `user_id must be a non-empty string or a non-negative integer, got ${shown}`);
    assert.equal(rejected(parseClick(clickLine({ product_id: user_id }))).detail.split(' ')[0], 'product_id');
  }
});

test('event time: each alias, the canonical name first, and every accepted form', () => {
  assert.equal(click(clickLine({ event_time: undefined, click_timestamp: '2026-03-01 09:15:02.900' })).eventTimeMs, T);
  assert.equal(click(clickLine({ event_time: undefined, datetime_occured: '2026-03-01 09:15:02.900' })).eventTimeMs, T);
  assert.equal(
    checkout(checkoutLine({ event_time: undefined, checkout_timestamp: '2026-03-01 09:15:02.900' })).eventTimeMs,
    T,
  );
  assert.equal(
    checkout(checkoutLine({ event_time: undefined, datetime_occured: '2026-03-01 09:15:02.900' })).eventTimeMs,
    T,
  );
  // The canonical name wins over an alias; a null canonical field gives way to an alias.
  assert.equal(checkout(checkoutLine({ datetime_occured: '1999-01-01 00:00:00' })).eventTimeMs, T);
  assert.equal(
    checkout(checkoutLine({ event_time: null, datetime_occured: '2026-03-01 09:15:02.900' })).eventTimeMs,
    T,
  );
  // Forms.
  for (const event_time of [
    '2026-03-01T09:15:02.900Z',
    '2026-03-01T11:15:02.900+02:00',
    '2026-03-01T04:15:02.900-0500',
    '2026-03-01 09:15:02.900',
    '2026-03-01T09:15:02.900',
    '2026-03-01 09:15:02.900123',
    T,
  ]) {
    assert.equal(click(clickLine({ event_time })).eventTimeMs, T, String(event_time));
    assert.equal(checkout(checkoutLine({ event_time })).eventTimeMs, T, String(event_time));
  }
});

test('event time: absent is missing_field; present but not an accepted form is invalid_event_time', () => {
  const missing = rejected(parseCheckout(checkoutLine({ event_time: undefined })));
  assert.equal(missing.reason, 'missing_field');
  assert.match(
    missing.detail,
    /^the event time is missing: every checkout needs event_time \(or checkout_timestamp, datetime_occured\)/,
  );
  assert.match(missing.detail, /ISO-8601 with Z or an offset/);
  assert.equal(rejected(parseClick(clickLine({ event_time: null }))).reason, 'missing_field');
  // A click's time is not read from checkout_timestamp, nor a checkout's from click_timestamp.
  const misnamed = rejected(
    parseClick(clickLine({ event_time: undefined, checkout_timestamp: '2026-03-01 09:15:02' })),
  );
  assert.match(misnamed.detail, /every click needs event_time \(or click_timestamp, datetime_occured\)/);
  assert.equal(
    rejected(parseCheckout(checkoutLine({ event_time: undefined, click_timestamp: T }))).reason,
    'missing_field',
  );

  const bad: Array<[string, unknown, RegExp]> = [
    [
      'event_time',
      '2026-13-01 00:00:00',
      /^event_time "2026-13-01 00:00:00" is not a valid event time \(month 13 does not exist\)/,
    ],
    ['event_time', '2026-02-30 10:00:00', /day 30 does not exist in 2026-02/],
    ['event_time', '2026-03-01 24:00:00', /hour 24 is out of range/],
    ['event_time', '2026-03-01', /date but no time of day/],
    ['event_time', 'yesterday', /^event_time "yesterday" is not a valid event time/],
    ['event_time', '1772356502900', /number in a string/],
    ['event_time', 1772356502.9, /^event_time 1772356502.9 .*must be an integer/],
    ['event_time', true, /^event_time true is not a valid event time/],
    ['event_time', {}, /^event_time an object is not a valid event time/],
    ['datetime_occured', '2026-03-01 09:15', /^datetime_occured "2026-03-01 09:15" .*no seconds/],
    ['checkout_timestamp', '01/03/2026', /^checkout_timestamp "01\/03\/2026"/],
  ];
  for (const [field, value, detail] of bad) {
    const r = rejected(parseCheckout(checkoutLine({ event_time: undefined, [field]: value })));
    assert.equal(r.reason, 'invalid_event_time', `${field} ${JSON.stringify(value)}`);
    assert.match(r.detail, detail);
    assert.match(r.detail, /accepted forms: ISO-8601 with Z or an offset .*epoch milliseconds as an integer number$/);
  }
});

test('malformed_json: not JSON, empty, or JSON that is not an object', () => {
  const cases: Array<[string, RegExp]> = [
    ['not json', /^the line is not valid JSON \(.+\): each line must be one JSON object$/],
    ['{"click_id": "k1", "user_id": "u1"', /^the line is not valid JSON/],
    ["{'click_id': 'k1'}", /^the line is not valid JSON/],
    ['', /^the line is empty: each line must be one JSON object$/],
    ['   ', /^the line is empty/],
    ['[1, 2]', /^the line is JSON but an array, not an object/],
    ['42', /^the line is JSON but the value 42, not an object/],
    ['"a string"', /^the line is JSON but the value "a string", not an object/],
    ['null', /^the line is JSON but the value null, not an object/],
    ['true', /^the line is JSON but the value true, not an object/],
  ];
  for (const [raw, detail] of cases) {
    for (const parse of [parseEvent, parseClick, parseCheckout]) {
      const r = rejected(parse(raw));
      assert.equal(r.reason, 'malformed_json', raw);
      assert.match(r.detail, detail, raw);
    }
  }
});

test('a byte-order mark before the first line is ignored', () => {
  const raw = `\uFEFF${clickLine()}`;
  assert.equal(click(raw).clickId, 'k1');
  assert.equal(click(raw).raw, raw, 'the raw line is kept as received');
});

test('parseEvent routes by type (any case), else by checkout_id, else by click_id', () => {
  const route = (raw: string) => {
    const e = parseEvent(raw);
    return e instanceof Rejected ? e.reason : e.type;
  };
  assert.equal(route(clickLine()), 'click');
  assert.equal(route(checkoutLine()), 'checkout');
  assert.equal(route(clickLine({ type: 'Click' })), 'click');
  assert.equal(route(checkoutLine({ type: ' CHECKOUT ' })), 'checkout');
  assert.equal(route(clickLine({ type: undefined })), 'click');
  assert.equal(route(checkoutLine({ type: undefined })), 'checkout');
  assert.equal(route(checkoutLine({ type: null })), 'checkout');
  // A checkout that names its click (an attributed row) is a checkout.
  assert.equal(route(checkoutLine({ type: undefined, click_id: 'k1' })), 'checkout');
  // An explicit type wins over the ids.
  assert.equal(route(clickLine({ type: 'checkout', checkout_id: 'c1' })), 'checkout');
  // A line with the id of a click but typed as a checkout is a checkout missing its checkout_id.
  const typed = rejected(parseEvent(clickLine({ type: 'checkout' })));
  assert.equal(typed.reason, 'missing_field');
  assert.match(typed.detail, /^checkout_id is missing/);
});

test('unknown_type: a type that is neither, or nothing that tells what the line is', () => {
  const cases: Array<[() => unknown, string]> = [
    [() => parseEvent(clickLine({ type: 'view' })), 'type must be "click" or "checkout", got "view"'],
    [() => parseEvent(clickLine({ type: 5 })), 'type must be "click" or "checkout", got 5'],
    [() => parseEvent(clickLine({ type: '' })), 'type must be "click" or "checkout", got ""'],
    [
      () => parseEvent('{"user_id": "u1", "event_time": 0}'),
      'the line has no type, checkout_id or click_id, so it is neither a click nor a checkout: add "type": "click" or "type": "checkout"',
    ],
    [
      () => parseEvent('{}'),
      'the line has no type, checkout_id or click_id, so it is neither a click nor a checkout: add "type": "click" or "type": "checkout"',
    ],
    [
      () => parseClick(checkoutLine()),
      'type is "checkout" but this source reads clicks: send it to the checkouts source',
    ],
    [() => parseCheckout(clickLine()), 'type is "click" but this source reads checkouts: send it to the clicks source'],
    [
      () => parseClick(clickLine({ type: 'impression' })),
      'type is "impression" but this source reads clicks: send it to the checkouts source',
    ],
  ];
  for (const [parse, detail] of cases) {
    const r = rejected(parse());
    assert.equal(r.reason, 'unknown_type');
    assert.equal(r.detail, detail);
  }
  // The per-type parsers accept their own type in any case, and lines with no type.
  assert.equal(click(clickLine({ type: 'CLICK' })).clickId, 'k1');
  assert.equal(checkout(checkoutLine({ type: undefined })).checkoutId, 'c1');
});

test('extra fields are ignored, including ones named like Object.prototype members', () => {
  const raw =
    '{"__proto__": {"user_id": "evil"}, "constructor": 1, "toString": 2, "click_id": "k", "user_id": "u", "event_time": 0, "url": "x"}';
  const k = click(raw);
  assert.equal(k.userId, 'u');
  assert.equal(k.source, null);
  assert.equal(({} as Record<string, unknown>).user_id, undefined, 'no prototype was polluted');
});

test('the first problem in field order is the one reported: ids, then time, then the rest', () => {
  const raw = checkoutLine({ checkout_id: null, user_id: -1, event_time: 'x', quantity: 0 });
  assert.equal(rejected(parseCheckout(raw)).reason, 'missing_field');
  assert.equal(rejected(parseCheckout(checkoutLine({ user_id: -1, event_time: 'x' }))).reason, 'invalid_field');
  assert.equal(rejected(parseCheckout(checkoutLine({ event_time: 'x', quantity: 0 }))).reason, 'invalid_event_time');
});

// ---------------------------------------------------------------------------------------------
// Properties.

const idArb = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.nat());
const timeArb = fc
  .integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(2100, 0, 1) })
  .chain((ms) =>
    fc.constantFrom<[unknown, number]>(
      [ms, ms],
      [new Date(ms).toISOString(), ms],
      [new Date(ms).toISOString().replace('T', ' ').replace('Z', ''), ms],
      [new Date(ms + 2 * 3_600_000).toISOString().replace('Z', '+02:00'), ms],
    ),
  );
const caseVariants = (s: string) => fc.constantFrom(s, s.toUpperCase(), s[0]!.toUpperCase() + s.slice(1));

test('property: a valid canonical event, serialized, parses back to the same fields', () => {
  const clickArb = fc.record({
    click_id: idArb,
    user_id: idArb,
    product_id: fc.option(idArb, { nil: undefined }),
    source: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    time: timeArb,
  });
  fc.assert(
    fc.property(clickArb, ({ time, ...k }) => {
      const raw = JSON.stringify({ type: 'click', ...k, event_time: time[0] });
      const e = parseEvent(raw);
      if (e instanceof Rejected || e.type !== 'click') return assert.fail(`${raw}: ${JSON.stringify(e)}`);
      const source = k.source?.trim().toLowerCase();
      assert.deepEqual(e.click, {
        clickId: String(k.click_id),
        userId: String(k.user_id),
        productId: k.product_id === undefined || k.product_id === '' ? null : String(k.product_id),
        source: source ? source : null,
        eventTimeMs: time[1],
        raw,
      });
    }),
    { numRuns: 1000 },
  );

  const money = (max: number) => fc.double({ min: 0, max, noNaN: true, noDefaultInfinity: true });
  const checkoutArb = fc.record({
    checkout_id: idArb,
    user_id: idArb,
    product_id: idArb,
    time: timeArb,
    quantity: fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: undefined }),
    discount: fc.option(money(1), { nil: undefined }),
    shipping_cost: fc.option(money(1e6), { nil: undefined }),
    total_amount: fc.option(money(1e9), { nil: undefined }),
    payment_method: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
    payment_status: fc.option(fc.oneof(caseVariants('success'), caseVariants('failed')), { nil: undefined }),
    payment_description: fc.option(fc.oneof(caseVariants('none'), fc.string({ minLength: 1, maxLength: 30 })), {
      nil: undefined,
    }),
  });
  fc.assert(
    fc.property(checkoutArb, ({ time, ...c }) => {
      const raw = JSON.stringify({ type: 'checkout', ...c, event_time: time[0] });
      const e = parseEvent(raw);
      if (e instanceof Rejected || e.type !== 'checkout') return assert.fail(`${raw}: ${JSON.stringify(e)}`);
      const description = c.payment_description;
      assert.deepEqual(e.checkout, {
        checkoutId: String(c.checkout_id),
        userId: String(c.user_id),
        productId: String(c.product_id),
        eventTimeMs: time[1],
        quantity: c.quantity ?? 1,
        discount: c.discount ?? 0,
        shippingCost: c.shipping_cost ?? 0,
        totalAmount: c.total_amount ?? null,
        paymentMethod: c.payment_method ?? null,
        paymentStatus: (c.payment_status?.toLowerCase() ?? 'success') as 'success' | 'failed',
        paymentDescription: description === undefined || description.toLowerCase() === 'none' ? null : description,
        raw,
      });
    }),
    { numRuns: 1000 },
  );
});

/** A valid line with one character removed, changed or inserted: the likeliest real garbage. */
const mutatedLine = fc
  .tuple(
    fc.constantFrom(clickLine(), checkoutLine(), ...Object.values(SEEDS).flat()),
    fc.nat(),
    fc.string({ maxLength: 3 }),
    fc.nat(3),
  )
  .map(([line, at, text, cut]) => {
    const i = at % (line.length + 1);
    return line.slice(0, i) + text + line.slice(i + cut);
  });

test('property: parseEvent never throws: any input gives an event or a Rejected with a known reason and a detail', () => {
  const input = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.json(),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc
      .dictionary(
        fc.constantFrom(
          'type',
          'click_id',
          'checkout_id',
          'user_id',
          'product_id',
          'event_time',
          'quantity',
          'discount',
          'source',
          'payment_status',
          'payment_description',
          'total_amount',
          'datetime_occured',
        ),
        fc.jsonValue(),
      )
      .map((o) => JSON.stringify(o)),
    mutatedLine,
  );
  fc.assert(
    fc.property(input, (raw) => {
      for (const parse of [parseEvent, parseClick, parseCheckout]) {
        const r = parse(raw);
        if (r instanceof Rejected) {
          assert.ok(REASONS.has(r.reason), r.reason);
          assert.ok(r.detail.length > 10, r.detail);
        } else {
          assert.equal(typeof r, 'object');
        }
      }
    }),
    { numRuns: 5000 },
  );
});

test('amounts beyond what the output columns hold are invalid input, not poison rows', async () => {
  const { parseCheckout } = await import('../../../src/attribution/events/index.ts');
  const { Rejected } = await import('../../../src/engine/index.ts');
  const line = (extra: Record<string, unknown>) =>
    JSON.stringify({ checkout_id: 'c', user_id: 'u', product_id: 'p', event_time: 0, ...extra });
  for (const extra of [{ quantity: 1_000_001 }, { total_amount: 1e13 }, { shipping_cost: 1e11 }]) {
    const r = parseCheckout(line(extra));
    assert.ok(r instanceof Rejected && r.reason === 'invalid_field', JSON.stringify(extra));
    assert.match((r as InstanceType<typeof Rejected>).detail, new RegExp(Object.keys(extra)[0] as string));
  }
  assert.ok(!(parseCheckout(line({ quantity: 1_000_000, total_amount: 10_000_000_000 })) instanceof Rejected));
});

/** A random-looking id of `bytes` ASCII bytes (random text does not compress in an index). */
function noise(bytes: number): string {
  let s = '';
  let x = 12345;
  while (s.length < bytes) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += (x % 36).toString(36);
  }
  return s;
}

test('issue 12: ids longer than 256 bytes of UTF-8 (3 kB, 1 MB) are invalid_field, naming the field and the limit', () => {
  for (const [field, value] of [
    ['checkout_id', noise(3024)],
    ['checkout_id', noise(4096).repeat(256)], // 1 MiB
    ['user_id', noise(257)],
    ['product_id', 'é'.repeat(129)], // 258 bytes in 129 characters
  ] as const) {
    const r = rejected(parseEvent(checkoutLine({ [field]: value })));
    assert.equal(r.reason, 'invalid_field');
    assert.match(
      r.detail,
      new RegExp(`^${field} ".*… is \\d+ bytes long, more than the 256 bytes of UTF-8 an id may have`),
    );
    assert.ok(r.detail.length < 300, 'the detail shows the head of the value, not all of it');
  }
  const clickLine = (over: Record<string, unknown>) =>
    JSON.stringify({ click_id: 'k1', user_id: 'u1', product_id: 'p1', event_time: T, ...over });
  assert.equal(rejected(parseClick(clickLine({ click_id: noise(3000) }))).reason, 'invalid_field');
  assert.match(rejected(parseClick(clickLine({ product_id: noise(300) }))).detail, /^product_id/);
  // At the limit: accepted, in bytes, whatever the characters.
  assert.equal(checkout(checkoutLine({ checkout_id: 'x'.repeat(256) })).checkoutId.length, 256);
  assert.equal(checkout(checkoutLine({ checkout_id: 'é'.repeat(128) })).checkoutId.length, 128);
  assert.equal(checkout(checkoutLine({ checkout_id: '😀'.repeat(64) })).checkoutId.length, 128);
  assert.equal(rejected(parseCheckout(checkoutLine({ checkout_id: `${'😀'.repeat(64)}x` }))).reason, 'invalid_field');
});

test('issue 12: text PostgreSQL cannot hold (U+0000) is invalid_field, in ids and labels', () => {
  for (const field of ['checkout_id', 'user_id', 'product_id', 'payment_method', 'payment_description']) {
    const r = rejected(parseCheckout(checkoutLine({ [field]: 'a\u0000b' })));
    assert.equal(r.reason, 'invalid_field', field);
    assert.match(r.detail, new RegExp(`^${field} .* contains the character U\\+0000`));
  }
  const r = rejected(parseClick(JSON.stringify({ click_id: 'k', user_id: 'u', source: 'x\u0000', event_time: T })));
  assert.match(r.detail, /^source .* U\+0000/);
});

test('issue 12: a lone surrogate in an id or a label is invalid_field (two such ids would be one key in PostgreSQL)', () => {
  // 'a\ud800' and 'a\udbff' are distinct strings here, both 'a\ufffd' in the database: one
  // upsert batch holding both fails ("ON CONFLICT DO UPDATE command cannot affect row a second time").
  for (const field of ['checkout_id', 'user_id', 'product_id', 'payment_method', 'payment_description']) {
    const r = rejected(parseCheckout(checkoutLine({ [field]: 'a\ud800' })));
    assert.equal(r.reason, 'invalid_field', field);
    assert.match(r.detail, new RegExp(`^${field} .* contains a lone UTF-16 surrogate`));
  }
  assert.equal(
    checkout(checkoutLine({ checkout_id: 'a\ud83d\ude00' })).checkoutId,
    'a😀',
    'a surrogate pair is a character',
  );
});

test('issue 12: labels (source, payment_method, payment_description) are at most 256 bytes', () => {
  for (const field of ['payment_method', 'payment_description']) {
    assert.equal(
      checkout(checkoutLine({ [field]: 'm'.repeat(256) }))[
        field === 'payment_method' ? 'paymentMethod' : 'paymentDescription'
      ]?.length,
      256,
    );
    const r = rejected(parseCheckout(checkoutLine({ [field]: 'm'.repeat(257) })));
    assert.match(r.detail, new RegExp(`^${field} .* more than the 256 bytes of UTF-8 a label may have`));
  }
  // source is checked as stored: trimmed first.
  const clickOf = (source: string) =>
    parseClick(JSON.stringify({ click_id: 'k', user_id: 'u', source, event_time: T }));
  assert.equal(
    click(JSON.stringify({ click_id: 'k', user_id: 'u', source: ` ${'S'.repeat(256)} `, event_time: T })).source
      ?.length,
    256,
  );
  assert.equal(rejected(clickOf('s'.repeat(257))).reason, 'invalid_field');
});

test('issue 12: event times PostgreSQL cannot store are invalid_event_time, naming the field and the range', () => {
  for (const [field, value] of [
    ['event_time', '0000-01-01T00:00:00Z'],
    ['event_time', -8_640_000_000_000_000],
    ['event_time', 8_640_000_000_000_000], // +275760-09-13
    ['checkout_timestamp', '0000-06-01 12:00:00'],
  ] as const) {
    const r = rejected(parseCheckout(checkoutLine({ event_time: undefined, [field]: value })));
    assert.equal(r.reason, 'invalid_event_time', `${field} ${value}`);
    assert.match(r.detail, new RegExp(`^${field} .* years 0001 to 9999`));
  }
  assert.equal(checkout(checkoutLine({ event_time: '9999-12-31T23:59:59.999Z' })).eventTimeMs, 253_402_300_799_999);
  assert.equal(checkout(checkoutLine({ event_time: '0001-01-01T00:00:00Z' })).eventTimeMs, -62_135_596_800_000);
});
