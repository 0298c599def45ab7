/**
 * The broker goes away in the middle of a `flowmark run --kafka --drain` and comes back (issue 7):
 * the run waits, reconnects, rejoins its group and completes with the same tables as a run that
 * saw no outage. A private broker (scripts/kafka.sh, data kept across the restart).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { attributionOptions } from '../../src/attribution/attribution-options.ts';
import { runKafkaAttribution } from '../../src/cli/modes/kafka-job.ts';
import { reviveInfinity, type SnapshotMeta, systemClock } from '../../src/engine/index.ts';
import { generateShop, loadTopics, shopDatabase, uniqueName } from '../cli/kafka-job-fixtures.ts';
import { freePortPair, privateBroker } from '../connectors/kafka/kafka-source-fixtures.ts';
import { jobEnv, resultTables, startFlowmark } from '../connectors/postgres/pg-job-fixtures.ts';
import { requireService } from '../support/services.ts';

test('the broker restarted mid-run: the run completes by itself with the same tables', async (t) => {
  // The shared broker only says that Kafka can run here; this test starts its own.
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (kafka === undefined || pg === undefined) return;
  const own = await privateBroker(t, await freePortPair());
  // More than the readers prefetch (4 MiB per partition, ~10 MiB of clicks each here): a backlog
  // is left on the broker when it stops, to be read after it is back.
  const shop = generateShop(t, [
    ...['--events', '100000', '--users', '300', '--products', '50', '--rate', '100'],
    ...['--disorder', '0.05', '--max-disorder', '5s'],
  ]);
  const topics = await loadTopics(t, own.bootstrap, shop.lines, { partitions: 2 });

  const reference = await shopDatabase(t, pg, shop);
  await runKafkaAttribution(reference, {
    bootstrap: [own.bootstrap],
    group: uniqueName('ref'),
    topics,
    attribution: attributionOptions({ provisional: false }),
    clock: systemClock,
    drain: true,
    onPartition: () => {},
  });

  const db = await shopDatabase(t, pg, shop);
  const run = startFlowmark(
    ['run', '--drain'],
    jobEnv(pg, db.schema, {
      FLOWMARK_KAFKA_BOOTSTRAP: own.bootstrap,
      FLOWMARK_KAFKA_GROUP: uniqueName('g'),
      FLOWMARK_KAFKA_TOPICS_CLICKS: topics.clicks,
      FLOWMARK_KAFKA_TOPICS_CHECKOUTS: topics.checkouts,
      FLOWMARK_DATA_DIR: shop.dir,
    }),
  );
  t.after(() => run.child.kill('SIGKILL'));

  // Stop the broker once a checkpoint has committed progress that is not final yet.
  let caught = false;
  for (let i = 0; i < 3000 && !caught && run.child.exitCode === null; i++) {
    const { rows } = await db.db.query<{ meta: string | null }>(
      `SELECT meta::text AS meta FROM ${db.schema}.checkpoints WHERE meta IS NOT NULL`,
    );
    caught = rows.some((r) => {
      const meta = JSON.parse(r.meta as string, reviveInfinity) as SnapshotMeta;
      const final = Object.values(meta.nodes).every((n) => n.inputWatermarksMs.every((w) => w === Infinity));
      return !final && Object.values(meta.sources).some((s) => Object.values(s.offsets).some((o) => o > 0));
    });
    if (!caught) await sleep(10);
  }
  assert.ok(caught, `the run was caught in the middle of its input:\n${run.output()}`);
  await own.stop();
  await sleep(3000);
  await own.start();

  const exit = await run.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, run.output());
  // The run saw the outage: a fetch failed while the broker was away, and one succeeded after it
  // came back. In a drain a fetch asks only for partitions with records left before their end,
  // so the one that worked again brought records read after the restart.
  assert.match(run.output(), new RegExp(`kafka: reading ${topics.clicks} failed`), run.output());
  assert.match(run.output(), new RegExp(`kafka: reading ${topics.clicks} works again after`), run.output());
  t.diagnostic(
    run
      .output()
      .split('\n')
      .filter((l) => /kafka: reading/.test(l))
      .join(' | '),
  );
  const sorted = (tables: Record<string, string[]>) =>
    Object.fromEntries(Object.entries(tables).map(([k, v]) => [k, [...v].sort()]));
  const expected = sorted(await resultTables(reference.db, reference.schema));
  const got = sorted(await resultTables(db.db, db.schema));
  assert.ok((expected.attributed_checkouts?.length ?? 0) > 100, 'the data set has checkouts');
  for (const table of Object.keys(expected)) {
    assert.equal(got[table]?.length, expected[table]?.length, `${table}: row count`);
    assert.deepEqual(got[table], expected[table], `${table} differs`);
  }
});

test('a worker stopped while the broker is away stops at its checkpoint without waiting for the broker', {
  timeout: 300_000,
}, async (t) => {
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (kafka === undefined || pg === undefined) return;
  const own = await privateBroker(t, await freePortPair());
  // More than the readers prefetch (4 MiB per partition): a backlog is left on the broker.
  const shop = generateShop(t, ['--events', '200000', '--users', '300', '--products', '50', '--rate', '100']);
  const topics = await loadTopics(t, own.bootstrap, shop.lines, { partitions: 2 });
  const db = await shopDatabase(t, pg, shop);
  const stop = new AbortController();
  const warnings: string[] = [];
  const run = runKafkaAttribution(db, {
    bootstrap: [own.bootstrap],
    group: uniqueName('g'),
    topics,
    attribution: attributionOptions({ provisional: true }),
    clock: systemClock,
    drain: false,
    signal: stop.signal,
    checkpointIntervalMs: 100,
    onPartition: () => {},
    onHealth: (_h, change) => warnings.push(change.kind),
  });
  let committed = 0;
  for (let i = 0; i < 3000 && committed === 0; i++) {
    const { rows } = await db.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${db.schema}.checkpoints WHERE meta IS NOT NULL`,
    );
    committed = rows[0]?.n ?? 0;
    if (committed === 0) await sleep(10);
  }
  assert.ok(committed > 0, 'a checkpoint was committed before the broker went away');
  await own.stop();
  stop.abort();
  const summary = await run; // would wait for the broker before interrupt() existed
  assert.ok(summary.recordsRead > 0, `it had read ${summary.recordsRead} records`);
  // Started again afterwards, so that the test's clean-up finds it as it left it.
  await own.start();
});
