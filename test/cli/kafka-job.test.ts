/**
 * The attribution job over a real Kafka broker into a real PostgreSQL server (ARCHITECTURE §1
 * production mode): the tables equal a `flowmark replay` of the same events, whatever the
 * partitioning, and bad records on the topics become dead letters without stopping the run.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { attributionOptions } from '../../src/attribution/attribution-options.ts';
import { routeLine } from '../../src/attribution/events/index.ts';
import { loadProducts, loadUsers } from '../../src/cli/dimension-loading.ts';
import {
  checkKeyedByUser,
  type KafkaRunOptions,
  partitionJobName,
  runKafkaAttribution,
} from '../../src/cli/modes/kafka-job.ts';
import { KafkaProducer, KafkaSource, partitionForKey } from '../../src/connectors/kafka/index.ts';
import type { SqlClient } from '../../src/connectors/sql/index.ts';
import { systemClock } from '../../src/engine/index.ts';
import { checkoutsFromEvents, dimensionsOf, minuteRows, referenceMinutes } from '../attribution/analytics-reference.ts';
import { PG_URL } from '../connectors/postgres/pg-fixtures.ts';
import { requireService } from '../support/services.ts';
import {
  analyticsLines,
  checkoutLine,
  type GeneratedShop,
  generateShop,
  KAFKA,
  loadTopics,
  replayShop,
  shopDatabase,
  uniqueName,
} from './kafka-job-fixtures.ts';

/**
 * The minute analytics worked out independently (test/attribution/analytics-reference.ts) from the
 * shop's events and tables, for the checkouts and clicks of the job's attributed rows (which the
 * test compares with a replay).
 */
async function independentMinutes(shop: GeneratedShop, rows: readonly Record<string, unknown>[]) {
  const attributed = new Map(rows.map((r) => [String(r.checkout_id), r.click_id === null ? null : String(r.click_id)]));
  const expected = referenceMinutes(
    checkoutsFromEvents(shop.lines, await loadUsers(shop.users), await loadProducts(shop.products), attributed),
  );
  assert.deepEqual(dimensionsOf(expected), ['category', 'failed_reason', 'gender', 'source', 'total']);
  return expected;
}

/** `flowmark run --kafka --drain` as a function: final rows only, quiet, over the given topics. */
function drain(
  stores: { db: SqlClient; schema: string },
  kafka: string,
  group: string,
  topics: { clicks: string; checkouts: string },
  extra: Partial<KafkaRunOptions> = {},
) {
  return runKafkaAttribution(stores, {
    bootstrap: [kafka],
    group,
    topics,
    attribution: attributionOptions({ provisional: false }),
    clock: systemClock,
    drain: true,
    onPartition: () => {},
    ...extra,
  });
}

function services(t: TestContext): { kafka: string; pg: string } | undefined {
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (kafka === undefined || pg === undefined || KAFKA === undefined || PG_URL === undefined) return undefined;
  return { kafka, pg };
}

test('4 partitions → run --drain into PostgreSQL: the same checkouts, dead letters and analytics as a replay; bad records are dead letters', async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, [
    ...['--events', '12000', '--users', '200', '--products', '50', '--rate', '50'],
    ...['--disorder', '0.05', '--max-disorder', '5s', '--duplicates', '0.02', '--malformed', '0.01'],
  ]);
  const bad = [
    '{not json',
    '{"type":"click","click_id":"bad-types","user_id":{"a":1},"product_id":"p1","source":"x","event_time":"2026-03-01T00:00:01Z"}',
    '{"type":"refund","refund_id":"r1","user_id":"u000001","event_time":"2026-03-01T00:00:01Z"}',
    `{"type":"click","click_id":"oversized","user_id":"u000001","product_id":"p00001","padding":"${'x'.repeat(600_000)}"}`,
    '',
  ];
  // A valid click keyed by another user's id, in a partition its own user is not in, past
  // the records that the start samples: only the per-event check can catch it.
  const user = 'u000007';
  const wrongKey = ['a', 'b', 'c', 'd', 'e'].find((k) => partitionForKey(k, 4) !== partitionForKey(user, 4)) as string;
  const misplaced = `{"type":"click","click_id":"misplaced-1","user_id":"${user}","product_id":"p00001","source":"email","event_time":"2026-03-01T00:00:30Z"}`;
  const topics = await loadTopics(t, s.kafka, shop.lines, {
    partitions: 4,
    extra: bad,
    extraKeyed: [{ topic: 'clicks', value: misplaced, key: wrongKey }],
  });
  const stores = await shopDatabase(t, s.pg, shop);
  const group = uniqueName('g');
  const summary = await drain(stores, s.kafka, group, topics, { checkpointIntervalMs: 100 });
  assert.deepEqual([...summary.partitionsRun].sort(), [0, 1, 2, 3]);
  assert.equal(summary.recordsRead, shop.lines.length + bad.length + 1);

  const replay = replayShop(shop);
  const q = async (sql: string) => (await stores.db.query<Record<string, unknown>>(sql)).rows;
  const rows = await q(`SELECT * FROM ${stores.schema}.attributed_checkouts`);
  assert.ok(replay.checkouts.length > 50, `the data set has checkouts (${replay.checkouts.length})`);
  assert.deepEqual(rows.map(checkoutLine).sort(), replay.checkouts.map(checkoutLine).sort());
  assert.ok(
    rows.every((r) => r.is_final === true),
    'a drain writes only final rows',
  );

  const dead = await q(`SELECT raw, reason FROM ${stores.schema}.dead_letters`);
  const expectedRaw = [...replay.deadLetters.map((d) => String(d.raw)), ...bad, misplaced].sort();
  assert.deepEqual(dead.map((d) => String(d.raw)).sort(), expectedRaw);
  const reasonOf = (raw: string) => dead.find((d) => d.raw === raw)?.reason;
  assert.equal(reasonOf('{not json'), 'malformed_json');
  assert.equal(reasonOf(bad[2] as string), 'unknown_type');
  assert.equal(reasonOf(misplaced), 'misplaced');

  const analytics = await q(`SELECT * FROM ${stores.schema}.analytics_minute`);
  assert.deepEqual(
    new Set(analytics.map((r) => r.shard)),
    new Set(['p0', 'p1', 'p2', 'p3']),
    'each partition job aggregates its own share',
  );
  assert.deepEqual(analyticsLines(analytics), analyticsLines(replay.analytics));
  assert.deepEqual(minuteRows(analytics), await independentMinutes(shop, rows), 'every breakdown of every minute');

  const checkpoints = await q(`SELECT job FROM ${stores.schema}.checkpoints ORDER BY job`);
  assert.deepEqual(
    checkpoints.map((r) => r.job),
    [0, 1, 2, 3].map((p) => partitionJobName(group, p)),
  );
});

test('unkeyed topics without repartitioning (the fallback) are read by one job over all partitions: the same rows as a replay; a second worker waits as a standby while one runs', async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, ['--events', '6000', '--users', '100', '--products', '30', '--rate', '50']);
  // Different partition counts as well: no co-partitioning is possible at all.
  const topics = await loadTopics(t, s.kafka, shop.lines, { partitions: 3, checkoutPartitions: 2, keyed: false });
  const stores = await shopDatabase(t, s.pg, shop);
  const group = uniqueName('g');
  const summary = await drain(stores, s.kafka, group, topics, { repartition: false });
  assert.equal(summary.keyedByUser, false);
  const replay = replayShop(shop);
  const q = async (sql: string) => (await stores.db.query<Record<string, unknown>>(sql)).rows;
  const rows = await q(`SELECT * FROM ${stores.schema}.attributed_checkouts`);
  assert.deepEqual(rows.map(checkoutLine).sort(), replay.checkouts.map(checkoutLine).sort());
  const analytics = await q(`SELECT * FROM ${stores.schema}.analytics_minute`);
  assert.deepEqual(new Set(analytics.map((r) => r.shard)), new Set(['all']));
  assert.deepEqual(analyticsLines(analytics), analyticsLines(replay.analytics));
  assert.deepEqual(minuteRows(analytics), await independentMinutes(shop, rows), 'every breakdown of every minute');
  const checkpoints = await q(`SELECT job FROM ${stores.schema}.checkpoints`);
  assert.deepEqual(
    checkpoints.map((r) => r.job),
    [partitionJobName(group, -1)],
  );

  // A live worker of these topics (provisional rows, no drain): while it runs, a second worker of
  // the group waits as a standby, saying why, and reads and writes nothing; stopped, it returns.
  const live = new AbortController();
  const first = drain(stores, s.kafka, group, topics, {
    attribution: attributionOptions({ provisional: true }),
    drain: false,
    signal: live.signal,
    checkpointIntervalMs: 100,
    log: () => {},
    repartition: false,
  });
  for (let i = 0; i < 500; i++) {
    const [row] = await q(
      `SELECT extract(epoch FROM now() - committed_at) < 1 AS recent FROM ${stores.schema}.checkpoints`,
    );
    if (row?.recent === true) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const epochOf = async () => (await q(`SELECT epoch::text AS epoch FROM ${stores.schema}.checkpoints`))[0]?.epoch;
  const liveEpoch = await epochOf();
  const standby = new AbortController();
  const lines: string[] = [];
  const second = drain(stores, s.kafka, group, topics, {
    signal: standby.signal,
    log: (line) => lines.push(line),
    repartition: false,
  });
  while (lines.length === 0) await new Promise((r) => setTimeout(r, 20));
  assert.match(lines[0]!, /waiting: another worker of group .* is reading .* \(its last checkpoint was [\d.]+ s ago\)/);
  assert.match(lines[0]!, /takes the job over once that one has been silent for 10 s/);
  assert.match(lines[0]!, /key both topics by user_id/);
  standby.abort();
  assert.deepEqual(await second, { recordsRead: 0, checkpoints: 0, partitionsRun: [], keyedByUser: false });
  assert.equal(await epochOf(), liveEpoch, 'the standby took no epoch: the live worker is still the owner');
  assert.equal(lines.length, 1, 'it never started the job');
  live.abort();
  await first;
});

test('checkKeyedByUser: keyed topics pass; unkeyed ones are caught by the first misplaced user, named', async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, ['--events', '2000', '--users', '50', '--products', '10']);
  const keyed = await loadTopics(t, s.kafka, shop.lines, { partitions: 4 });
  const counts = { clicks: 4, checkouts: 4 };
  const ok = await checkKeyedByUser([s.kafka], keyed, counts);
  assert.equal(ok.keyed, true);
  assert.deepEqual(ok.keyed && [...ok.ends.clicks.keys()].sort(), [0, 1, 2, 3], 'and says where each partition ends');
  const unkeyed = await loadTopics(t, s.kafka, shop.lines, { partitions: 4, keyed: false });
  const r = await checkKeyedByUser([s.kafka], unkeyed, counts);
  assert.equal(r.keyed, false);
  assert.match(
    r.why,
    /partition \d+ offset \d+ holds user "u\d+", which a producer keyed by user_id puts in partition \d+/,
  );
});

test('run names a missing topic and what to do, before reading anything', async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, ['--events', '100', '--users', '10', '--products', '5']);
  const stores = await shopDatabase(t, s.pg, shop);
  const existing = await loadTopics(t, s.kafka, [], { partitions: 2 });
  await assert.rejects(
    drain(stores, s.kafka, uniqueName('g'), { clicks: existing.clicks, checkouts: 'fm_no_such_topic' }),
    (err: Error & { code?: string }) =>
      err.code === 'FM_KAFKA_TOPIC_MISSING' &&
      /fm_no_such_topic/.test(err.message) &&
      /kafka\.topics/.test(err.message),
  );
  const { rows } = await stores.db.query(`SELECT 1 FROM ${stores.schema}.checkpoints`);
  assert.equal(rows.length, 0, 'nothing was started');
});

test('checkKeyedByUser samples from each partition’s first retained record: retention does not hide unkeyed data', async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, ['--events', '8000', '--users', '100', '--products', '20']);
  const topics = await loadTopics(t, s.kafka, shop.lines, { partitions: 2, keyed: false });
  const counts = { clicks: 2, checkouts: 2 };
  assert.equal((await checkKeyedByUser([s.kafka], topics, counts)).keyed, false, 'before retention');
  // As retention would: the first 300 offsets of every partition are gone (all of a shorter one),
  // so every record left to sample is at offset 300 or more.
  const admin = new Admin({ clientId: 'flowmark-test', bootstrapBrokers: [s.kafka] });
  t.after(() => admin.close().catch(() => {}));
  let left = 0;
  for (const topic of [topics.clicks, topics.checkouts]) {
    const reader = KafkaSource.standalone({ bootstrap: [s.kafka], topic, partitions: [0, 1] });
    await reader.open();
    const bounds = [...reader.bounds()].filter(([, b]) => b.end > 0);
    await reader.close();
    left += bounds.reduce((n, [, b]) => n + Math.max(0, b.end - 300), 0);
    await admin.deleteRecords({
      topics: [
        {
          name: topic,
          partitions: bounds.map(([partition, b]) => ({ partition, offset: BigInt(Math.min(300, b.end)) })),
        },
      ],
    });
  }
  assert.ok(left > 100, `records are left after the deletion (${left})`);
  const after = await checkKeyedByUser([s.kafka], topics, counts);
  assert.equal(after.keyed, false, `after retention: ${JSON.stringify(after)}`);
  assert.match(after.why, /offset (3\d\d|[4-9]\d\d|\d{4,}) holds user/);
});

test('a second run --drain of the same group reads what was produced since the first, and only that', async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, ['--events', '4000', '--users', '100', '--products', '20', '--rate', '50']);
  const half = Math.floor(shop.lines.length / 2);
  const topics = await loadTopics(t, s.kafka, shop.lines.slice(0, half), { partitions: 2 });
  const stores = await shopDatabase(t, s.pg, shop);
  const group = uniqueName('g');
  const run = () => drain(stores, s.kafka, group, topics, { checkpointIntervalMs: 100 });
  const first = await run();
  const producer = new KafkaProducer({ bootstrap: [s.kafka] });
  for (const line of shop.lines.slice(half)) {
    const r = routeLine(line);
    if ('reason' in r) producer.append(topics.clicks, line);
    else producer.append(r.kind === 'click' ? topics.clicks : topics.checkouts, line, r.key);
  }
  await producer.flush();
  await producer.close();
  const second = await run();
  assert.ok(first.recordsRead > 0 && second.recordsRead > 0, `${first.recordsRead} then ${second.recordsRead}`);
  assert.equal(first.recordsRead + second.recordsRead, shop.lines.length);
});
