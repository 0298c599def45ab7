/**
 * Unkeyed topics repartitioned by user id (issue 16, item 3): one worker's drain equals a replay,
 * its jobs are the internal partitions' (`kafka:<group>:r<N>`), the internal topics exist with
 * the job's partition count, and `flowmark kafka cleanup` removes them. A real broker and a real
 * PostgreSQL server.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { type TestContext, test } from 'node:test';
import { attributionOptions } from '../../src/attribution/attribution-options.ts';
import { routeLine } from '../../src/attribution/events/index.ts';
import { runKafkaAttribution } from '../../src/cli/modes/kafka-job.ts';
import { internalTopics, repartitionedJobName } from '../../src/cli/modes/kafka-repartition.ts';
import { KafkaAdmin, KafkaProducer } from '../../src/connectors/kafka/index.ts';
import { systemClock } from '../../src/engine/index.ts';
import { BIN } from '../connectors/postgres/pg-job-fixtures.ts';
import { requireService } from '../support/services.ts';
import {
  analyticsLines,
  checkoutLine,
  generateShop,
  loadTopics,
  replayShop,
  shopDatabase,
  uniqueName,
} from './kafka-job-fixtures.ts';

function services(t: TestContext): { kafka: string; pg: string } | undefined {
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (kafka === undefined || pg === undefined) return undefined;
  return { kafka, pg };
}

async function partitionCounts(kafka: string, names: string[]) {
  const admin = new KafkaAdmin({ bootstrap: [kafka] });
  try {
    return await admin.partitionCounts(names);
  } finally {
    await admin.close();
  }
}

test('unkeyed topics are repartitioned into the group’s internal topics: one worker’s drain equals a replay; kafka cleanup removes them', {
  timeout: 180_000,
}, async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, [
    ...['--events', '6000', '--users', '100', '--products', '30', '--rate', '50'],
    ...['--disorder', '0.05', '--max-disorder', '5s', '--duplicates', '0.01', '--malformed', '0.005'],
  ]);
  // Different partition counts: no co-partitioning is possible at all.
  const topics = await loadTopics(t, s.kafka, shop.lines, { partitions: 3, checkoutPartitions: 2, keyed: false });
  const stores = await shopDatabase(t, s.pg, shop);
  const group = uniqueName('g');
  const internal = internalTopics(group);
  t.after(async () => {
    const a = new KafkaAdmin({ bootstrap: [s.kafka] });
    await a.deleteTopics([internal.clicks, internal.checkouts]).catch(() => {});
    await a.close();
  });
  const lines: string[] = [];
  const summary = await runKafkaAttribution(stores, {
    bootstrap: [s.kafka],
    group,
    topics,
    attribution: attributionOptions({ provisional: false }),
    clock: systemClock,
    drain: true,
    onPartition: () => {},
    log: (line) => lines.push(line),
  });
  assert.equal(summary.keyedByUser, false);
  assert.equal(summary.repartitioned, true);
  assert.deepEqual([...summary.partitionsRun].sort(), [0, 1, 2]);
  assert.match(lines.join('\n'), /repartition them by user_id into .*-repartition-clicks/);

  const replay = replayShop(shop);
  const q = async (sql: string) => (await stores.db.query<Record<string, unknown>>(sql)).rows;
  const rows = await q(`SELECT * FROM ${stores.schema}.attributed_checkouts`);
  assert.deepEqual(rows.map(checkoutLine).sort(), replay.checkouts.map(checkoutLine).sort());
  assert.ok(
    rows.every((r) => r.is_final === true),
    'every row final',
  );
  const analytics = await q(`SELECT * FROM ${stores.schema}.analytics_minute`);
  assert.deepEqual(analyticsLines(analytics), analyticsLines(replay.analytics));
  const dead = await q(`SELECT reason, raw FROM ${stores.schema}.dead_letters`);
  assert.deepEqual(
    dead.map((r) => `${r.reason} ${r.raw}`).sort(),
    replay.deadLetters.map((r) => `${r.reason} ${r.raw}`).sort(),
    'the same dead letters, each once',
  );
  const jobs = (await q(`SELECT job FROM ${stores.schema}.checkpoints ORDER BY job`)).map((r) => r.job);
  assert.deepEqual(
    jobs,
    [0, 1, 2].map((p) => repartitionedJobName(group, p)),
  );
  const counts = await partitionCounts(s.kafka, [internal.clicks, internal.checkouts]);
  assert.deepEqual([...counts.values()], [3, 3], 'the internal topics have the job’s partition count');

  const out = execFileSync(process.execPath, [BIN, 'kafka', 'cleanup', '--kafka', s.kafka, '--group', group], {
    encoding: 'utf8',
  });
  assert.match(out, new RegExp(`deleted ${internal.clicks} and ${internal.checkouts}`));
  for (let i = 0; i < 50; i++) {
    const left = await partitionCounts(s.kafka, [internal.clicks, internal.checkouts]);
    if ([...left.values()].every((n) => n === undefined)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const after = await partitionCounts(s.kafka, [internal.clicks, internal.checkouts]);
  assert.deepEqual([...after.values()], [undefined, undefined], 'the internal topics are gone');
  const again = execFileSync(process.execPath, [BIN, 'kafka', 'cleanup', '--kafka', s.kafka, '--group', group], {
    encoding: 'utf8',
  });
  assert.match(again, /has no internal topics .*nothing to do/);
});

test('a second drain of a repartitioned group reads what was produced since the first, and only that', {
  timeout: 180_000,
}, async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, ['--events', '4000', '--users', '100', '--products', '20', '--rate', '50']);
  const half = Math.floor(shop.lines.length / 2);
  const topics = await loadTopics(t, s.kafka, shop.lines.slice(0, half), { partitions: 2, keyed: false });
  const stores = await shopDatabase(t, s.pg, shop);
  const group = uniqueName('g');
  t.after(async () => {
    const a = new KafkaAdmin({ bootstrap: [s.kafka] });
    await a.deleteTopics(Object.values(internalTopics(group))).catch(() => {});
    await a.close();
  });
  const run = () =>
    runKafkaAttribution(stores, {
      bootstrap: [s.kafka],
      group,
      topics,
      attribution: attributionOptions({ provisional: false }),
      clock: systemClock,
      drain: true,
      checkpointIntervalMs: 100,
      onPartition: () => {},
      log: () => {},
    });
  const first = await run();
  // Unkeyed, in small batches: spread over both partitions.
  const producer = new KafkaProducer({ bootstrap: [s.kafka] });
  try {
    for (const [i, line] of shop.lines.slice(half).entries()) {
      const r = routeLine(line);
      producer.append('reason' in r || r.kind === 'click' ? topics.clicks : topics.checkouts, line);
      if (i % 200 === 199) await producer.flush();
    }
    await producer.flush();
  } finally {
    await producer.close();
  }
  const second = await run();
  assert.equal(second.repartitioned, true);
  assert.ok(first.recordsRead > 0 && second.recordsRead > 0, `${first.recordsRead} then ${second.recordsRead}`);
  assert.equal(first.recordsRead + second.recordsRead, shop.lines.length, 'each record once over the two drains');
});
