/**
 * Watermarks of repartitioned topics are per SOURCE partition (docs/semantics.md "Repartitioned
 * topics"): source partition 0 holds the later half of the events, partition 1 the earlier half,
 * and partition 1's repartitioners wait until partition 0's are done — so the internal partitions
 * carry events up to a minute older after newer ones, and for seconds nothing of partition 1
 * while it is behind. With a watermark per internal partition those would be late; with an idle
 * timeout shorter than the wait, a behind source partition that turned idle would let them be
 * late too. Neither happens: the tables equal a replay, no `late` dead letter.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { attributionOptions } from '../../src/attribution/attribution-options.ts';
import { routeLine } from '../../src/attribution/events/index.ts';
import { runKafkaAttribution } from '../../src/cli/modes/kafka-job.ts';
import { internalTopics } from '../../src/cli/modes/kafka-repartition.ts';
import { KafkaAdmin } from '../../src/connectors/kafka/index.ts';
import { systemClock } from '../../src/engine/index.ts';
import { TestBroker } from '../connectors/kafka/kafka-source-fixtures.ts';
import { requireService } from '../support/services.ts';
import {
  analyticsLines,
  checkoutLine,
  generateShop,
  replayShop,
  shopDatabase,
  uniqueName,
} from './kafka-job-fixtures.ts';

test('repartitioned topics: a source partition far behind the others (and held back for a while) is not judged late', {
  timeout: 180_000,
}, async (t) => {
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (kafka === undefined || pg === undefined) return;
  const shop = generateShop(t, ['--events', '4000', '--users', '60', '--products', '20', '--rate', '50']);
  const broker = new TestBroker(kafka);
  t.after(() => broker.close());
  const topics = {
    clicks: await broker.createTopic('wm-clicks', 2),
    checkouts: await broker.createTopic('wm-checkouts', 2),
  };
  const group = uniqueName('g');
  t.after(async () => {
    const a = new KafkaAdmin({ bootstrap: [kafka] });
    await a.deleteTopics([...Object.values(topics), ...Object.values(internalTopics(group))]).catch(() => {});
    await a.close();
  });
  // The later half of the events in partition 0, the earlier half in partition 1; no key.
  const half = Math.floor(shop.lines.length / 2);
  const ends = { clicks: [0, 0], checkouts: [0, 0] };
  const records = {
    clicks: [] as { partition: number; value: string }[],
    checkouts: [] as { partition: number; value: string }[],
  };
  shop.lines.forEach((line, i) => {
    const r = routeLine(line);
    assert.ok(!('reason' in r), line);
    const kind = r.kind === 'click' ? 'clicks' : 'checkouts';
    const partition = i >= half ? 0 : 1;
    records[kind].push({ partition, value: line });
    ends[kind][partition] = (ends[kind][partition] ?? 0) + 1;
  });
  await broker.write(topics.clicks, records.clicks);
  await broker.write(topics.checkouts, records.checkouts);

  const stores = await shopDatabase(t, pg, shop);
  const zeroDone = { clicks: false, checkouts: false };
  let heldMs = 0;
  await runKafkaAttribution(stores, {
    bootstrap: [kafka],
    group,
    topics,
    // An idle timeout far shorter than the hold: a behind partition must not turn idle.
    attribution: attributionOptions({ provisional: false, idleTimeoutMs: 300 }),
    clock: systemClock,
    drain: true,
    checkpointIntervalMs: 100,
    onPartition: () => {},
    log: () => {},
    afterRepartitionAcknowledged: async (kind, partition, next) => {
      if (partition === 0) {
        if (next >= (ends[kind][0] ?? 0)) zeroDone[kind] = true;
        return;
      }
      // Partition 1 (the older events): held until partition 0 is in the internal topics, then a while longer.
      const start = Date.now();
      while (!(zeroDone.clicks && zeroDone.checkouts)) await sleep(20);
      await sleep(2000);
      heldMs = Math.max(heldMs, Date.now() - start);
    },
  });
  assert.ok(heldMs >= 2000, `partition 1 was held back (${heldMs} ms)`);

  const replay = replayShop(shop);
  const q = async (sql: string) => (await stores.db.query<Record<string, unknown>>(sql)).rows;
  const late = await q(`SELECT raw FROM ${stores.schema}.dead_letters WHERE reason = 'late'`);
  assert.equal(late.length, 0, `no event is late (${late.length} were)`);
  const rows = await q(`SELECT * FROM ${stores.schema}.attributed_checkouts`);
  assert.ok(rows.length > 20, `the data set has checkouts (${rows.length})`);
  assert.deepEqual(rows.map(checkoutLine).sort(), replay.checkouts.map(checkoutLine).sort());
  assert.deepEqual(
    analyticsLines(await q(`SELECT * FROM ${stores.schema}.analytics_minute`)),
    analyticsLines(replay.analytics),
  );
});
