/**
 * Partitions added to the topics of a running group (issue 16): a live worker picks them up
 * without a restart — keyed topics through the group's rebalance (a job per new partition, the
 * running ones left where they are), unkeyed ones by repartitioning the new ones and restarting
 * the jobs over them —
 * and every record of the new partitions is processed. A real broker and a real PostgreSQL server.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin } from '@platformatic/kafka';
import { attributionOptions } from '../../src/attribution/attribution-options.ts';
import { routeLine } from '../../src/attribution/events/index.ts';
import {
  type PartitionEvent,
  partitionJobName,
  placedPartition,
  runKafkaAttribution,
} from '../../src/cli/modes/kafka-job.ts';
import { KafkaProducer, partitionForKey } from '../../src/connectors/kafka/index.ts';
import { systemClock } from '../../src/engine/index.ts';
import { requireService } from '../support/services.ts';
import { generateShop, loadTopics, shopDatabase, uniqueName } from './kafka-job-fixtures.ts';

function services(t: TestContext): { kafka: string; pg: string } | undefined {
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (kafka === undefined || pg === undefined) return undefined;
  return { kafka, pg };
}

async function addPartitions(bootstrap: string, topics: readonly string[], count: number): Promise<void> {
  const admin = new Admin({ clientId: 'flowmark-test', bootstrapBrokers: [bootstrap] });
  try {
    await admin.createPartitions({ topics: topics.map((name) => ({ name, count })) });
  } finally {
    await admin.close();
  }
}

/**
 * Writes lines routed by kind, keyed by user id unless `keyed` is false, with a fresh producer
 * (fresh metadata), flushed every `batch` lines: unkeyed records of one batch go to one partition,
 * the next batch's to the next.
 */
async function write(
  bootstrap: string,
  topics: { clicks: string; checkouts: string },
  lines: string[],
  keyed: boolean,
  batch = lines.length,
) {
  const producer = new KafkaProducer({ bootstrap: [bootstrap] });
  try {
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      const r = routeLine(line);
      assert.ok(!('reason' in r), line);
      producer.append(r.kind === 'click' ? topics.clicks : topics.checkouts, line, keyed ? r.key : undefined);
      if ((i + 1) % batch === 0) await producer.flush();
    }
    await producer.flush();
  } finally {
    await producer.close();
  }
}

/** Until `check()` holds (polling), failing with `what` and the worker's lines if it never does. */
async function until(what: string, check: () => Promise<boolean> | boolean, lines: string[]): Promise<void> {
  const end = Date.now() + 90_000;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`never happened: ${what}\n${lines.join('\n')}`);
    await sleep(100);
  }
}

const checkoutIds = (lines: readonly string[]) =>
  lines.filter((l) => l.includes('"checkout_id"')).map((l) => JSON.parse(l).checkout_id as string);

test('placedPartition: a user is in its place under any partition count the topics had since the start', () => {
  const user = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].find(
    (u) => partitionForKey(u, 2) !== partitionForKey(u, 4),
  ) as string;
  const before = partitionForKey(user, 2);
  const after = partitionForKey(user, 4);
  assert.equal(placedPartition(user, before, [2]), before);
  assert.equal(placedPartition(user, after, [2]), before, 'under 2 partitions only, it belongs elsewhere');
  assert.equal(placedPartition(user, after, [2, 4]), after, 'written after the topics grew');
  assert.equal(placedPartition(user, before, [2, 4]), before, 'written before');
  const elsewhere = [0, 1, 2, 3].find((p) => p !== before && p !== after) as number;
  assert.equal(placedPartition(user, elsewhere, [2, 4]), after, 'misplaced: named where it goes now');
});

test('keyed topics: partitions added while a live worker runs get jobs of their own and are read, the others stay', {
  timeout: 240_000,
}, async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, ['--events', '4000', '--users', '200', '--products', '30', '--rate', '50']);
  const half = Math.floor(shop.lines.length / 2);
  const topics = await loadTopics(t, s.kafka, shop.lines.slice(0, half), { partitions: 2 });
  const stores = await shopDatabase(t, s.pg, shop);
  const group = uniqueName('g');
  const lines: string[] = [];
  const events: PartitionEvent[] = [];
  const stop = new AbortController();
  const run = runKafkaAttribution(stores, {
    bootstrap: [s.kafka],
    group,
    topics,
    attribution: attributionOptions({ provisional: true }),
    clock: systemClock,
    drain: false,
    signal: stop.signal,
    checkpointIntervalMs: 100,
    onPartition: (e) => events.push(e),
    log: (line) => lines.push(line),
  });
  t.after(async () => {
    stop.abort();
    await run.catch(() => {});
  });
  const q = async (sql: string) => (await stores.db.query<Record<string, unknown>>(sql)).rows;
  const rowIds = async () =>
    new Set(
      (await q(`SELECT checkout_id FROM ${stores.schema}.attributed_checkouts`)).map((r) => String(r.checkout_id)),
    );
  await until(
    'the first half is attributed',
    async () => (await rowIds()).size >= checkoutIds(shop.lines.slice(0, half)).length,
    lines,
  );

  await addPartitions(s.kafka, [topics.clicks, topics.checkouts], 4);
  await until('the worker noticed', () => lines.some((l) => /now have 4 partitions \(were 2\)/.test(l)), lines);
  // Written after the change, by a producer that knows 4 partitions: users land in all four.
  const second = shop.lines.slice(half);
  await write(s.kafka, topics, second, true);
  assert.ok(
    second.some((l) => {
      const r = routeLine(l);
      return !('reason' in r) && r.key !== undefined && partitionForKey(r.key, 4) >= 2;
    }),
    'some of the second half is in the new partitions',
  );
  const all = checkoutIds(shop.lines);
  await until('every checkout is attributed', async () => (await rowIds()).size === all.length, lines);
  assert.deepEqual([...(await rowIds())].sort(), [...all].sort());

  const started = events.filter((e) => e.kind === 'started').map((e) => e.partition);
  assert.deepEqual(started.sort(), [0, 1, 2, 3], 'each partition started once: 0 and 1 were never moved');
  assert.ok(!events.some((e) => e.kind === 'stopped'), JSON.stringify(events));
  const jobs = (await q(`SELECT job FROM ${stores.schema}.checkpoints ORDER BY job`)).map((r) => r.job);
  assert.deepEqual(
    jobs,
    [0, 1, 2, 3].map((p) => partitionJobName(group, p)),
  );
  const misplaced = await q(`SELECT raw FROM ${stores.schema}.dead_letters WHERE reason = 'misplaced'`);
  assert.deepEqual(misplaced, [], 'records written under either count are in their place');
});

test('unkeyed topics: partitions added while the live worker runs are repartitioned and read, from their start', {
  timeout: 240_000,
}, async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, ['--events', '3000', '--users', '100', '--products', '30', '--rate', '50']);
  const half = Math.floor(shop.lines.length / 2);
  const topics = await loadTopics(t, s.kafka, shop.lines.slice(0, half), { partitions: 2, keyed: false });
  const stores = await shopDatabase(t, s.pg, shop);
  const group = uniqueName('g');
  const lines: string[] = [];
  const events: PartitionEvent[] = [];
  const stop = new AbortController();
  const run = runKafkaAttribution(stores, {
    bootstrap: [s.kafka],
    group,
    topics,
    attribution: attributionOptions({ provisional: true }),
    clock: systemClock,
    drain: false,
    signal: stop.signal,
    checkpointIntervalMs: 100,
    onPartition: (e) => events.push(e),
    log: (line) => lines.push(line),
  });
  t.after(async () => {
    stop.abort();
    await run.catch(() => {});
  });
  const q = async (sql: string) => (await stores.db.query<Record<string, unknown>>(sql)).rows;
  const rowIds = async () =>
    new Set(
      (await q(`SELECT checkout_id FROM ${stores.schema}.attributed_checkouts`)).map((r) => String(r.checkout_id)),
    );
  await until(
    'the first half is attributed',
    async () => (await rowIds()).size >= checkoutIds(shop.lines.slice(0, half)).length,
    lines,
  );

  await addPartitions(s.kafka, [topics.clicks, topics.checkouts], 3);
  // Unkeyed records of a batch go to one partition, the next batch to the next: in small batches
  // the new partition gets some.
  const second = shop.lines.slice(half);
  await write(s.kafka, topics, second, false, 100);
  await until(
    'the job went on over 3 partitions',
    () => lines.some((l) => /now has 3 partitions .* go(es)? on with the new ones/.test(l)),
    lines,
  );
  const all = checkoutIds(shop.lines);
  await until('every checkout is attributed', async () => (await rowIds()).size === all.length, lines);
  assert.deepEqual([...(await rowIds())].sort(), [...all].sort());
  assert.ok(
    events.some((e) => e.kind === 'stopped' && e.reason === 'restarting'),
    JSON.stringify(events),
  );
  const offsetOfNew = async () => {
    const [row] = await q(`SELECT meta::text AS meta FROM ${stores.schema}.checkpoints`);
    const meta = JSON.parse(String(row?.meta)) as { sources: Record<string, { offsets: Record<string, number> }> };
    return (meta.sources.clicks?.offsets['2'] ?? 0) + (meta.sources.checkouts?.offsets['2'] ?? 0);
  };
  await until('partition 2 is read', async () => (await offsetOfNew()) > 0, lines);
});
