/**
 * The pipeline's checks at the door and at enrichment (issue 12), with an injected clock: the
 * far-future rule reads processing time from the clock the pipeline is given, never Date.now().
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attributionOptions } from '../../src/attribution/attribution-options.ts';
import { buildAttributionPipeline, SINK } from '../../src/attribution/attribution-pipeline.ts';
import type { ProductRow, UserRow } from '../../src/attribution/event-types.ts';
import type { AttributedCheckoutRow } from '../../src/attribution/output-rows.ts';
import { MemoryCommitter } from '../../src/connectors/memory/memory-committer.ts';
import { MemorySource } from '../../src/connectors/memory/memory-source.ts';
import { type LookupFn, ManualClock, Runtime } from '../../src/engine/index.ts';

const T0 = Date.UTC(2026, 2, 1, 10);
const HOUR = 3_600_000;

const line = (type: string, id: string, ms: number, product = 'p1') =>
  JSON.stringify({
    type,
    [`${type}_id`]: id,
    user_id: 'u1',
    product_id: product,
    event_time: new Date(ms).toISOString(),
  });

function lookup<V>(rows: Record<string, V>): LookupFn<V> {
  return async (keys) => new Map(keys.flatMap((k) => (rows[k] === undefined ? [] : [[k, rows[k]] as const])));
}

const USERS = lookup<UserRow>({ u1: { userId: 'u1', name: 'Ada', gender: 'female' } });
const PRODUCTS = lookup<ProductRow>({
  p1: { productId: 'p1', name: 'Lamp', category: 'home', price: 10, commissionRate: 0.1 },
  'p-inf': { productId: 'p-inf', name: 'Lamp', category: 'home', price: Number.POSITIVE_INFINITY, commissionRate: 0.1 },
});

async function run(lines: string[], clockMs: number, maxFutureSkewMs = HOUR) {
  const committer = new MemoryCommitter();
  const clock = new ManualClock(clockMs);
  const pipeline = buildAttributionPipeline(
    { events: MemorySource.of(lines) },
    { users: USERS, products: PRODUCTS },
    attributionOptions({ maxFutureSkewMs }),
    clock,
  );
  const runtime = new Runtime(pipeline, { committer, clock, checkpointIntervalMs: 1000 });
  await runtime.run();
  await runtime.close();
  return {
    rows: committer.rows<AttributedCheckoutRow>(SINK.attributed),
    dead: committer.rows<{ source: string; reason: string; raw: string; detail: string }>(SINK.deadLetters),
  };
}

test('an event more than max_future_skew ahead of the injected clock is future_event_time, and does not move the watermark', async () => {
  const ahead = line('click', 'k-ahead', T0 + HOUR + 1);
  const lines = [line('click', 'k1', T0), ahead, line('checkout', 'c1', T0 + 60_000)];

  const now = await run(lines, T0);
  assert.deepEqual(
    now.dead.map((d) => [d.reason, d.raw]),
    [['future_event_time', ahead]],
  );
  assert.match(
    now.dead[0]?.detail ?? '',
    /click at 2026-03-01T11:00:00\.001Z is 60 min ahead of processing time \(2026-03-01T10:00:00\.000Z\), more than max_future_skew 1 h/,
  );
  assert.deepEqual(
    now.rows.map((r) => [r.checkout_id, r.click_id]),
    [['c1', 'k1']],
    'c1 is on time: the refused click did not move the watermark',
  );

  // The same lines when the clock says two hours later: the click is not ahead, and moves the
  // watermark past c1 as any accepted event would. Processing time is the clock's, not Date.now().
  const later = await run(lines, T0 + 2 * HOUR);
  assert.deepEqual(
    later.dead.map((d) => [d.reason, JSON.parse(d.raw).checkout_id]),
    [['late', 'c1']],
  );
});

test('max_future_skew: exactly that far ahead is accepted; Infinity turns the check off', async () => {
  const lines = [line('click', 'k1', T0 + HOUR), line('click', 'k2', T0 + 10 * 365 * 24 * HOUR)];
  assert.deepEqual(
    (await run(lines, T0)).dead.map((d) => [d.reason, JSON.parse(d.raw).click_id]),
    [['future_event_time', 'k2']],
  );
  assert.deepEqual((await run(lines, T0, Number.POSITIVE_INFINITY)).dead, []);
});

test('a product row that cannot be stored: nulls in its columns, one dead letter naming it, the checkouts kept', async () => {
  const lines = [
    line('click', 'k1', T0, 'p-inf'),
    line('checkout', 'c1', T0 + 1000, 'p-inf'),
    line('checkout', 'c2', T0 + 2000, 'p-inf'),
    line('checkout', 'c3', T0 + 3000, 'p1'),
  ];
  const { rows, dead } = await run(lines, T0);
  assert.deepEqual(
    rows.map((r) => [
      r.checkout_id,
      r.click_id,
      r.product_price,
      r.order_value,
      r.revenue,
      r.profit,
      r.commission_rate,
    ]),
    [
      ['c1', 'k1', null, null, null, null, 0.1],
      ['c2', 'k1', null, null, null, null, 0.1],
      ['c3', null, 10, 10, 10, 1, 0.1],
    ],
  );
  assert.deepEqual(
    dead.map((d) => [d.source, d.reason, JSON.parse(d.raw).product_id, JSON.parse(d.raw).price]),
    [['products', 'invalid_field', 'p-inf', 'Infinity']],
  );
  assert.match(
    dead[0]?.detail ?? '',
    /^products row "p-inf": price Infinity is not a price .* \(first used by checkout "c1"\)$/,
  );
});

test('maxFutureSkewMs: 1 h by default, a duration ≥ 0 or Infinity (off); anything else names the option', () => {
  assert.equal(attributionOptions().maxFutureSkewMs, HOUR);
  assert.equal(
    attributionOptions({ maxFutureSkewMs: Number.POSITIVE_INFINITY }).maxFutureSkewMs,
    Number.POSITIVE_INFINITY,
  );
  for (const bad of [-1, Number.NaN])
    assert.throws(
      () => attributionOptions({ maxFutureSkewMs: bad }),
      /attribution option maxFutureSkewMs: must be a duration ≥ 0/,
    );
});
