/**
 * Scale-out on unkeyed topics (issue 16, item 3), over a real broker and a real PostgreSQL server:
 * three `flowmark run --drain` workers of one group over topics the reference producers write (no
 * key), one SIGKILLed in the middle of its partitions' input, one more added later. Every worker
 * repartitions the source partitions it owns into the group's internal topics and runs the jobs of
 * the internal partitions it owns; the four tables must equal those of a single worker and of a
 * replay, every row final.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { attributionOptions } from '../../src/attribution/attribution-options.ts';
import { runKafkaAttribution } from '../../src/cli/modes/kafka-job.ts';
import { internalTopics } from '../../src/cli/modes/kafka-repartition.ts';
import { KafkaAdmin } from '../../src/connectors/kafka/index.ts';
import { reviveInfinity, type SnapshotMeta, systemClock } from '../../src/engine/index.ts';
import { jobEnv, resultTables, startFlowmark } from '../connectors/postgres/pg-job-fixtures.ts';
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

test('unkeyed topics, 3 workers, one SIGKILLed mid-stream and one added later: the tables equal one worker’s and a replay, every row final', {
  timeout: 600_000,
}, async (t) => {
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (kafka === undefined || pg === undefined) return;
  const shop = generateShop(t, [
    ...['--events', '30000', '--users', '300', '--products', '60', '--rate', '100'],
    ...['--disorder', '0.05', '--max-disorder', '5s', '--duplicates', '0.01', '--malformed', '0.005'],
  ]);
  const topics = await loadTopics(t, kafka, shop.lines, { partitions: 4, keyed: false });
  const dropInternal = (group: string) => async () => {
    const a = new KafkaAdmin({ bootstrap: [kafka] });
    await a.deleteTopics(Object.values(internalTopics(group))).catch(() => {});
    await a.close();
  };

  // The reference: one worker repartitions every source partition and runs every job.
  const one = await shopDatabase(t, pg, shop);
  const oneGroup = uniqueName('g1');
  t.after(dropInternal(oneGroup));
  const single = await runKafkaAttribution(one, {
    bootstrap: [kafka],
    group: oneGroup,
    topics,
    attribution: attributionOptions({ provisional: false }),
    clock: systemClock,
    drain: true,
    onPartition: () => {},
    log: () => {},
  });
  assert.equal(single.repartitioned, true);

  const many = await shopDatabase(t, pg, shop);
  const group = uniqueName('g3');
  t.after(dropInternal(group));
  const env = jobEnv(pg, many.schema, {
    FLOWMARK_KAFKA_BOOTSTRAP: kafka,
    FLOWMARK_KAFKA_GROUP: group,
    FLOWMARK_KAFKA_TOPICS_CLICKS: topics.clicks,
    FLOWMARK_KAFKA_TOPICS_CHECKOUTS: topics.checkouts,
    FLOWMARK_DATA_DIR: shop.dir,
  });
  const start = () => startFlowmark(['run', '--drain'], env);
  const workers = [start(), start(), start()];
  t.after(() => {
    for (const w of workers) w.child.kill('SIGKILL');
  });

  // Kill a worker once one of its internal partitions' jobs has committed progress but is not
  // final yet. The current owner of p: the worker whose last line about p says it started it.
  const owner = (p: number) =>
    workers.findIndex((w) => {
      const lines = w
        .output()
        .match(new RegExp(`partition ${p} (started|finished|handed over|taken over|stopped)`, 'g'));
      return lines?.at(-1) === `partition ${p} started`;
    });
  let victim = -1;
  let killedAt = '';
  let victimPartition = -1;
  for (let i = 0; i < 3000 && victim < 0; i++) {
    const { rows } = await many.db.query<{ job: string; meta: string | null }>(
      `SELECT job, meta::text AS meta FROM ${many.schema}.checkpoints`,
    );
    for (const r of rows) {
      if (r.meta === null) continue;
      const meta = JSON.parse(r.meta, reviveInfinity) as SnapshotMeta;
      const final = Object.values(meta.nodes).every((n) => n.inputWatermarksMs.every((w) => w === Infinity));
      const read = Object.values(meta.sources).reduce(
        (n, s) => n + Object.values(s.offsets).reduce((a, b) => a + b, 0),
        0,
      );
      const p = Number(/r(\d+)$/.exec(r.job)?.[1]);
      const w = owner(p);
      if (!final && read > 0 && w >= 0 && workers[w]?.child.exitCode === null) {
        victim = w;
        victimPartition = p;
        killedAt = `${r.job} after ${read} records`;
        break;
      }
    }
    if (victim < 0) await sleep(20);
  }
  assert.ok(
    victim >= 0,
    `a worker was caught in the middle of its input\n${workers.map((w) => w.output()).join('\n---\n')}`,
  );
  const before = workers.map((w) => w.output().length);
  workers[victim]?.child.kill('SIGKILL');
  await workers[victim]?.exited;
  t.diagnostic(`SIGKILLed worker ${victim} holding ${killedAt}`);

  await sleep(1000);
  workers.push(start());
  const results = await Promise.all(workers.map((w, i) => (i === victim ? undefined : w.exited)));
  results.forEach((r, i) => {
    if (r !== undefined) assert.deepEqual(r, { code: 0, signal: null }, `worker ${i}: ${workers[i]?.output()}`);
  });

  // Sorted whole lines: the four tables, as one worker wrote them.
  const sorted = (tables: Record<string, string[]>) =>
    Object.fromEntries(Object.entries(tables).map(([k, v]) => [k, [...v].sort()]));
  const expected = sorted(await resultTables(one.db, one.schema));
  const got = sorted(await resultTables(many.db, many.schema));
  assert.ok((expected.attributed_checkouts?.length ?? 0) > 100, 'the data set has checkouts');
  assert.deepEqual(Object.keys(got).sort(), [
    'analytics_minute',
    'attributed_checkouts',
    'attribution_credits',
    'dead_letters',
  ]);
  for (const table of Object.keys(expected)) {
    const a = got[table] ?? [];
    const b = expected[table] ?? [];
    assert.equal(a.length, b.length, `${table}: ${a.length} rows, one worker wrote ${b.length}`);
    const differ = a.filter((line, i) => line !== b[i]);
    assert.deepEqual(differ.slice(0, 3), [], `${table}: ${differ.length} rows differ from one worker's`);
  }
  // And a replay of the same events.
  const replay = replayShop(shop);
  const q = async (sql: string) => (await many.db.query<Record<string, unknown>>(sql)).rows;
  const rows = await q(`SELECT * FROM ${many.schema}.attributed_checkouts`);
  assert.deepEqual(rows.map(checkoutLine).sort(), replay.checkouts.map(checkoutLine).sort());
  assert.deepEqual(
    analyticsLines(await q(`SELECT * FROM ${many.schema}.analytics_minute`)),
    analyticsLines(replay.analytics),
  );
  const dead = await q(`SELECT reason, raw FROM ${many.schema}.dead_letters`);
  assert.deepEqual(
    dead.map((r) => `${r.reason} ${r.raw}`).sort(),
    replay.deadLetters.map((r) => `${r.reason} ${r.raw}`).sort(),
  );
  assert.ok(
    rows.every((r) => r.is_final === true),
    'every row is final',
  );
  // The killed worker's internal partition was restored and finished by another worker.
  const tookOver = workers.some(
    (w, i) =>
      i !== victim &&
      w
        .output()
        .slice(before[i] ?? 0)
        .includes(`partition ${victimPartition} started`),
  );
  assert.ok(tookOver, `another worker took partition ${victimPartition} over after the kill`);
  assert.match(workers[3]?.output() ?? '', /partition \d+ started/, 'the worker added later ran a partition');
});
