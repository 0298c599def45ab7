/**
 * The dashboard's summary over real tables (in-memory PGlite, flowmark's own migrations, one
 * schema per test): the last hour is the event-time hour ending one minute after the newest
 * closed window of real data (not beyond the job's watermark nor the future bound), missing
 * minutes are zeros, breakdowns keep their top N and merge the rest as `other`, and the minutes in
 * progress come from the checkouts, provisional ones included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { outputMigrations } from '../../src/attribution/output-schema.ts';
import type { PgliteClient } from '../../src/connectors/pglite/pglite-client.ts';
import { type BreakdownEntry, querySummary, topN } from '../../src/server/index.ts';
import { sharedPglite } from '../connectors/pglite/pglite-fixtures.ts';

const db = sharedPglite();
let schemas = 0;

/** A new schema with flowmark's tables. */
async function freshSchema(): Promise<{ db: PgliteClient; schema: string }> {
  const client = await db;
  const schema = `summary_${++schemas}`;
  for (const m of outputMigrations(schema)) await client.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; ${m.sql}`);
  return { db: client, schema };
}

type Row = [minute: string, dimension: string, value: string, checkouts: number, revenue: number, profit: number];

async function insertWindows(client: PgliteClient, schema: string, rows: Row[]): Promise<void> {
  for (const [minute, dimension, value, checkouts, revenue, profit] of rows) {
    await client.query(
      `INSERT INTO ${schema}.analytics_minute (window_start, dimension, value, checkouts, revenue, profit)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [minute, dimension, value, checkouts, revenue, profit],
    );
  }
}

async function insertCheckout(
  client: PgliteClient,
  schema: string,
  id: string,
  time: string,
  extra: { source?: string; isFinal?: boolean; status?: string } = {},
): Promise<void> {
  await client.query(
    `INSERT INTO ${schema}.attributed_checkouts (checkout_id, user_id, product_id, quantity, discount, shipping_cost,
       payment_status, user_name, product_name, product_category, click_source, checkout_time, order_value, revenue,
       profit, attribution_model, is_final)
     VALUES ($1, 'u1', 'p1', 1, 0, 0, $2, 'Ada Lovelace', 'Lamp', 'Home', $3, $4, 19.99, 19.99, 2.8, 'first_click', $5)`,
    [id, extra.status ?? 'success', extra.source ?? null, time, extra.isFinal ?? true],
  );
}

test('with no closed window the summary says so (from/to null, zeros) and still lists the checkouts', async () => {
  const { db: client, schema } = await freshSchema();
  await insertCheckout(client, schema, 'c1', '2026-03-01T09:00:05.250Z', { isFinal: false });
  const s = await querySummary(client, { schema });
  assert.equal(s.from, null);
  assert.equal(s.to, null);
  assert.deepEqual([s.checkouts, s.revenue, s.profit, s.failedPayments], [0, 0, 0, 0]);
  assert.deepEqual(s.perMinute, []);
  assert.equal(s.latestCheckouts.length, 1);
  assert.deepEqual(s.latestCheckouts[0], {
    checkoutId: 'c1',
    checkoutTime: '2026-03-01T09:00:05.250Z',
    userName: 'Ada Lovelace',
    userGender: null,
    productName: 'Lamp',
    category: 'Home',
    source: null,
    orderValue: 19.99,
    revenue: 19.99,
    profit: 2.8,
    paymentStatus: 'success',
    paymentDescription: null,
    isFinal: false,
  });
});

test('the last hour is event time: it ends one minute after the newest window, older windows are left out', async () => {
  const { db: client, schema } = await freshSchema();
  await insertWindows(client, schema, [
    // 09:59 is the newest window: the hour is [09:00, 10:00).
    ['2026-03-01T09:59:00Z', 'total', 'all', 2, 30.5, 3.05],
    ['2026-03-01T09:00:00Z', 'total', 'all', 1, 10.25, 1.5],
    // 08:59 is one minute too old.
    ['2026-03-01T08:59:00Z', 'total', 'all', 100, 1000, 100],
    ['2026-03-01T08:59:00Z', 'source', 'facebook', 100, 1000, 100],
    ['2026-03-01T09:59:00Z', 'source', 'facebook', 2, 30.5, 3.05],
    ['2026-03-01T09:00:00Z', 'source', 'none', 1, 10.25, 1.5],
  ]);
  const s = await querySummary(client, { schema });
  assert.equal(s.from, '2026-03-01T09:00:00.000Z');
  assert.equal(s.to, '2026-03-01T10:00:00.000Z');
  assert.deepEqual([s.checkouts, s.revenue, s.profit], [3, 40.75, 4.55]);
  assert.deepEqual(s.bySource, [
    { value: 'facebook', checkouts: 2, revenue: 30.5, profit: 3.05 },
    { value: 'none', checkouts: 1, revenue: 10.25, profit: 1.5 },
  ]);
});

test('the per-minute series has all 60 minutes, oldest first, with zeros where no window exists', async () => {
  const { db: client, schema } = await freshSchema();
  await insertWindows(client, schema, [
    ['2026-03-01T10:30:00Z', 'total', 'all', 4, 99.96, 12.1],
    ['2026-03-01T10:00:00Z', 'total', 'all', 1, 5, 0.5],
  ]);
  const s = await querySummary(client, { schema });
  assert.equal(s.perMinute.length, 60);
  assert.equal(s.perMinute[0]?.minute, '2026-03-01T09:31:00.000Z');
  assert.equal(s.perMinute[59]?.minute, '2026-03-01T10:30:00.000Z');
  assert.deepEqual(s.perMinute[59], { minute: '2026-03-01T10:30:00.000Z', checkouts: 4, revenue: 99.96, profit: 12.1 });
  assert.deepEqual(s.perMinute[29], { minute: '2026-03-01T10:00:00.000Z', checkouts: 1, revenue: 5, profit: 0.5 });
  assert.equal(s.perMinute.filter((p) => p.checkouts === 0 && p.revenue === 0 && p.profit === 0).length, 58);
});

test('breakdowns keep the top N (by revenue, or by count for reasons and gender) and merge the rest as other', async () => {
  const { db: client, schema } = await freshSchema();
  const m = '2026-03-01T12:00:00Z';
  await insertWindows(client, schema, [
    [m, 'total', 'all', 20, 500, 50],
    [m, 'category', 'Books', 5, 50, 5],
    [m, 'category', 'Garden', 3, 300, 30],
    [m, 'category', 'Toys', 4, 100, 10],
    [m, 'category', 'Pets', 8, 50, 5],
    [m, 'failed_reason', 'Card Declined', 3, 0, 0],
    [m, 'failed_reason', 'unspecified', 1, 0, 0],
    [m, 'gender', 'female', 11, 300, 30],
    [m, 'gender', 'male', 9, 200, 20],
  ]);
  const s = await querySummary(client, { schema, top: { category: 2 } });
  assert.deepEqual(s.byCategory, [
    { value: 'Garden', checkouts: 3, revenue: 300, profit: 30 },
    { value: 'Toys', checkouts: 4, revenue: 100, profit: 10 },
    // Books and Pets tie on revenue; more checkouts first, then by name — merged either way.
    { value: 'other', other: true, merged: 2, checkouts: 13, revenue: 100, profit: 10 },
  ]);
  assert.deepEqual(
    s.failedByReason.map((e) => [e.value, e.checkouts]),
    [
      ['Card Declined', 3],
      ['unspecified', 1],
    ],
  );
  assert.equal(s.failedPayments, 4);
  assert.deepEqual(
    s.byGender.map((e) => e.value),
    ['female', 'male'],
  );
});

test('the latest checkouts are the newest by checkout time, provisional ones included', async () => {
  const { db: client, schema } = await freshSchema();
  await insertCheckout(client, schema, 'old', '2026-03-01T09:00:00Z');
  await insertCheckout(client, schema, 'new', '2026-03-01T09:00:02Z', { isFinal: false, source: 'email' });
  await insertCheckout(client, schema, 'mid', '2026-03-01T09:00:01Z', { status: 'failed' });
  const s = await querySummary(client, { schema, latest: 2 });
  assert.deepEqual(
    s.latestCheckouts.map((c) => [c.checkoutId, c.isFinal, c.source, c.paymentStatus]),
    [
      ['new', false, 'email', 'success'],
      ['mid', true, null, 'failed'],
    ],
  );
});

const ms = (iso: string) => Date.parse(iso);

test('one window and one checkout dated 2099 do not move the hour: it follows the watermark and the processing time (issue 12)', async () => {
  const { db: client, schema } = await freshSchema();
  await insertWindows(client, schema, [
    ['2026-03-01T09:59:00Z', 'total', 'all', 2, 30.5, 3.05],
    ['2026-03-01T09:59:00Z', 'source', 'email', 2, 30.5, 3.05],
    // A checkout dated 2099 that a drained replay closed (its watermark ended at +∞).
    ['2099-12-31T23:59:00Z', 'total', 'all', 1, 19.99, 2.8],
    ['2099-12-31T23:59:00Z', 'source', 'typo', 1, 19.99, 2.8],
  ]);
  await insertCheckout(client, schema, 'real', '2026-03-01T09:59:30Z');
  await insertCheckout(client, schema, 'future', '2099-12-31T23:59:30Z', { source: 'typo' });
  const live = { nowMs: ms('2026-03-01T10:00:40Z'), watermarkMs: ms('2026-03-01T10:00:25Z') };
  // No watermark (a drained job: +∞): the processing time bounds alone.
  const drained = { nowMs: ms('2026-03-01T10:00:40Z'), watermarkMs: null };
  for (const time of [live, drained]) {
    const s = await querySummary(client, { schema }, time);
    assert.equal(s.to, '2026-03-01T10:00:00.000Z', JSON.stringify(time));
    assert.deepEqual([s.checkouts, s.revenue], [2, 30.5]);
    assert.deepEqual(
      s.bySource.map((e) => e.value),
      ['email'],
    );
    assert.deepEqual(
      s.latestCheckouts.map((c) => c.checkoutId),
      ['real'],
    );
    assert.deepEqual(s.inProgress, []);
  }
});

test('the watermark alone bounds the hour: a window not closed by the job is not part of it', async () => {
  const { db: client, schema } = await freshSchema();
  await insertWindows(client, schema, [
    ['2026-03-01T09:59:00Z', 'total', 'all', 2, 30.5, 3.05],
    ['2026-03-01T10:00:00Z', 'total', 'all', 7, 70, 7],
  ]);
  // The clock says nothing useful here (far ahead); the watermark has not passed 10:01 yet.
  const s = await querySummary(
    client,
    { schema },
    { nowMs: ms('2099-01-01T00:00:00Z'), watermarkMs: ms('2026-03-01T10:00:59.999Z') },
  );
  assert.equal(s.to, '2026-03-01T10:00:00.000Z');
  assert.equal(s.checkouts, 2);
  const passed = await querySummary(
    client,
    { schema },
    { nowMs: ms('2099-01-01T00:00:00Z'), watermarkMs: ms('2026-03-01T10:01:00Z') },
  );
  assert.equal(passed.to, '2026-03-01T10:01:00.000Z');
});

test('before any window has closed, the minutes in progress show the checkouts so far, provisional ones included', async () => {
  const { db: client, schema } = await freshSchema();
  await insertCheckout(client, schema, 'a', '2026-03-01T09:00:05Z', { isFinal: false });
  await insertCheckout(client, schema, 'b', '2026-03-01T09:01:10Z', { isFinal: false, status: 'failed' });
  const s = await querySummary(
    client,
    { schema },
    { nowMs: ms('2026-03-01T09:01:12Z'), watermarkMs: ms('2026-03-01T09:00:55Z') },
  );
  assert.equal(s.from, null);
  assert.deepEqual([s.checkouts, s.revenue], [0, 0], 'the hour has no closed minute yet');
  assert.deepEqual(s.inProgress, [
    { minute: '2026-03-01T09:00:00.000Z', checkouts: 1, revenue: 19.99, profit: 2.8 },
    { minute: '2026-03-01T09:01:00.000Z', checkouts: 1, revenue: 19.99, profit: 2.8 },
  ]);
  assert.deepEqual(
    s.latestCheckouts.map((c) => [c.checkoutId, c.isFinal]),
    [
      ['b', false],
      ['a', false],
    ],
  );
});

test('the minutes in progress start where the hour ends, leave the hour as it is, and are at most three', async () => {
  const { db: client, schema } = await freshSchema();
  await insertWindows(client, schema, [['2026-03-01T09:59:00Z', 'total', 'all', 1, 19.99, 2.8]]);
  await insertCheckout(client, schema, 'closed', '2026-03-01T09:59:30Z');
  await insertCheckout(client, schema, 'final-open', '2026-03-01T10:00:10Z');
  await insertCheckout(client, schema, 'provisional', '2026-03-01T10:00:20Z', { isFinal: false });
  const time = { nowMs: ms('2026-03-01T10:00:21Z'), watermarkMs: ms('2026-03-01T10:00:05Z') };
  const s = await querySummary(client, { schema }, time);
  assert.equal(s.to, '2026-03-01T10:00:00.000Z');
  assert.deepEqual([s.checkouts, s.revenue, s.perMinute.length], [1, 19.99, 60]);
  assert.deepEqual(s.inProgress, [{ minute: '2026-03-01T10:00:00.000Z', checkouts: 2, revenue: 39.98, profit: 5.6 }]);

  // A long gap after the hour: only the newest minutes, zeros where no checkout is.
  await insertCheckout(client, schema, 'later', '2026-03-01T10:09:01Z', { isFinal: false });
  const later = await querySummary(client, { schema }, { ...time, nowMs: ms('2026-03-01T10:09:02Z') });
  assert.deepEqual(
    later.inProgress.map((p) => [p.minute.slice(11, 16), p.checkouts]),
    [
      ['10:07', 0],
      ['10:08', 0],
      ['10:09', 1],
    ],
  );
});

test('the schema name is checked before it reaches SQL text', async () => {
  const client = await db;
  await assert.rejects(querySummary(client, { schema: 'x"; DROP TABLE y; --' }), { code: 'FM_CONFIG_INVALID' });
});

test('topN keeps a single extra value under its own name instead of an "other" of one', () => {
  const e = (value: string, revenue: number): BreakdownEntry => ({ value, checkouts: 1, revenue, profit: 0 });
  assert.deepEqual(
    topN([e('a', 3), e('b', 2), e('c', 1)], 2, 'revenue').map((x) => x.value),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(
    topN([e('a', 3), e('b', 2), e('c', 1), e('d', 0.5)], 2, 'revenue').map((x) => [x.value, x.revenue, x.merged]),
    [
      ['a', 3, undefined],
      ['b', 2, undefined],
      ['other', 1.5, 2],
    ],
  );
});
