/**
 * Exactly-once through the repartition topics without Kafka transactions (issue 16, item 3): a
 * worker SIGKILLed after its repartitioner's batch was acknowledged by the internal topic but
 * before the source offset was committed — the records are in the internal topic, and the next
 * owner writes them again. The jobs drop what they have already seen per source partition (their
 * checkpoint's positions), so nothing is doubled downstream: the tables equal a replay.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { attributionOptions } from '../../src/attribution/attribution-options.ts';
import { runKafkaAttribution } from '../../src/cli/modes/kafka-job.ts';
import { internalTopics } from '../../src/cli/modes/kafka-repartition.ts';
import { KafkaAdmin, KafkaSource } from '../../src/connectors/kafka/index.ts';
import { systemClock } from '../../src/engine/index.ts';
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

const CHILD = new URL('./fixtures/repartition-kill-child.ts', import.meta.url).pathname;

/** Records in every partition of `topic` (end − first offset, summed). */
async function recordCount(kafka: string, topic: string, partitions: number): Promise<number> {
  const source = KafkaSource.standalone({
    bootstrap: [kafka],
    topic,
    partitions: Array.from({ length: partitions }, (_, i) => i),
    endAtOpen: true,
  });
  try {
    await source.open();
    return [...source.bounds().values()].reduce((n, b) => n + b.end - b.start, 0);
  } finally {
    await source.close();
  }
}

test('a repartitioner killed between writing to the internal topic and committing its source offset: the re-sent records are dropped, nothing doubled', {
  timeout: 300_000,
}, async (t) => {
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (kafka === undefined || pg === undefined) return;
  const shop = generateShop(t, [
    ...['--events', '6000', '--users', '100', '--products', '30', '--rate', '50'],
    ...['--duplicates', '0.01', '--malformed', '0.005'],
  ]);
  const topics = await loadTopics(t, kafka, shop.lines, { partitions: 2, keyed: false });
  const stores = await shopDatabase(t, pg, shop);
  const group = uniqueName('g');
  const internal = internalTopics(group);
  t.after(async () => {
    const a = new KafkaAdmin({ bootstrap: [kafka] });
    await a.deleteTopics([internal.clicks, internal.checkouts]).catch(() => {});
    await a.close();
  });

  const child = spawn(process.execPath, [CHILD], {
    env: {
      ...process.env,
      KAFKA: kafka,
      PG_URL: pg,
      SCHEMA: stores.schema,
      GROUP: group,
      CLICKS: topics.clicks,
      CHECKOUTS: topics.checkouts,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const exit = await new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  assert.equal(exit, 'SIGKILL', output);
  assert.match(output, /killing: checkouts partition 0 acknowledged up to \d+ and checkpointed, not committed/);

  // The next worker of the group re-sends checkouts partition 0 from its (absent) committed offset.
  const summary = await runKafkaAttribution(stores, {
    bootstrap: [kafka],
    group,
    topics,
    attribution: attributionOptions({ provisional: false }),
    clock: systemClock,
    drain: true,
    onPartition: () => {},
    log: () => {},
  });
  assert.equal(summary.repartitioned, true);
  const sourceCheckouts = await recordCount(kafka, topics.checkouts, 2);
  const internalCheckouts = await recordCount(kafka, internal.checkouts, 2);
  assert.ok(
    internalCheckouts > sourceCheckouts,
    `the internal topic holds records twice (${internalCheckouts} records for ${sourceCheckouts} checkouts): the crash happened where it was meant to`,
  );

  t.diagnostic(
    `${internalCheckouts} records in ${internal.checkouts} for ${sourceCheckouts} checkouts; ${output.trim()}`,
  );
  const replay = replayShop(shop);
  const q = async (sql: string) => (await stores.db.query<Record<string, unknown>>(sql)).rows;
  const rows = await q(`SELECT * FROM ${stores.schema}.attributed_checkouts`);
  assert.deepEqual(rows.map(checkoutLine).sort(), replay.checkouts.map(checkoutLine).sort());
  assert.deepEqual(
    analyticsLines(await q(`SELECT * FROM ${stores.schema}.analytics_minute`)),
    analyticsLines(replay.analytics),
    'no checkout counted twice in the analytics',
  );
  const dead = await q(`SELECT reason, raw FROM ${stores.schema}.dead_letters`);
  t.diagnostic(`${dead.length} dead letters, a replay has ${replay.deadLetters.length}`);
  assert.deepEqual(
    dead.map((r) => `${r.reason} ${r.raw}`).sort(),
    replay.deadLetters.map((r) => `${r.reason} ${r.raw}`).sort(),
    'each dead letter once',
  );
});
