/**
 * KafkaSource against a real broker: the source contract (the same suite as the embedded log's),
 * then what only Kafka does: the read schedule under resumption, drain, lag, the group-offset
 * mirror, tombstones and bad UTF-8, oversized records, and a broker restart mid-read.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Producer } from '@platformatic/kafka';
import { KafkaSource, READ_CHUNK } from '../../../src/connectors/kafka/kafka-source.ts';
import type { SourceRecord } from '../../../src/engine/source.ts';
import { type ContractRecord, sourceContract } from '../source-contract.ts';
import { freePortPair, privateBroker, TestBroker, uniqueName, withKafka } from './kafka-source-fixtures.ts';

/** Polls until `ended` (drain) and returns every record. */
async function readToEnd(reader: KafkaSource, maxRecords = 1000): Promise<SourceRecord<string>[]> {
  const out: SourceRecord<string>[] = [];
  for (let i = 0; i < 100_000; i++) {
    const res = await reader.poll(maxRecords);
    out.push(...res.records);
    if (res.ended === true) return out;
  }
  throw new Error('the source did not end');
}

withKafka('KafkaSource', (bootstrap) => {
  const broker = TestBroker.shared(bootstrap);

  sourceContract('KafkaSource', async (records: ContractRecord[], { partitions, drain }) => {
    const topic = await broker.createTopic('contract', partitions);
    await broker.write(
      topic,
      records.map((r) => ({ partition: r.partition, value: r.payload })),
    );
    const reader = KafkaSource.standalone({
      bootstrap: [bootstrap],
      topic,
      partitions: Array.from({ length: partitions }, (_, i) => i),
      endAtOpen: drain,
      fetchMaxWaitMs: 200,
    });
    await reader.open();
    return {
      reader,
      append: async (more) => {
        await broker.write(
          topic,
          more.map((r) => ({ partition: r.partition, value: r.payload })),
        );
      },
      close: () => reader.close(),
    };
  });

  /** A topic with `sizes[p]` records `p:i` in partition p. */
  async function filledTopic(sizes: number[]): Promise<string> {
    const topic = await broker.createTopic('schedule', sizes.length);
    const records: { partition: number; value: string }[] = [];
    sizes.forEach((n, p) => {
      for (let i = 0; i < n; i++) records.push({ partition: p, value: `${p}:${i}` });
    });
    await broker.write(topic, records);
    return topic;
  }

  function reader(topic: string, partitions: number[], extra: { groupId?: string; partitionMaxBytes?: number } = {}) {
    return KafkaSource.standalone({
      bootstrap: [bootstrap],
      topic,
      partitions,
      endAtOpen: true,
      fetchMaxWaitMs: 200,
      ...extra,
    });
  }

  test('records come in the fixed schedule: rounds of READ_CHUNK offsets per partition, whatever the poll sizes', async (t) => {
    const sizes = [300, 130, 601];
    const topic = await filledTopic(sizes);
    const expected: string[] = [];
    for (let round = 0; round * READ_CHUNK < 601; round++) {
      for (let p = 0; p < 3; p++) {
        for (let i = round * READ_CHUNK; i < Math.min((round + 1) * READ_CHUNK, sizes[p] as number); i++)
          expected.push(`${p}:${i}`);
      }
    }
    for (const pollSize of [10_000, 7, 100]) {
      const r = reader(topic, [0, 1, 2]);
      t.after(() => r.close());
      assert.deepEqual(
        (await readToEnd(r, pollSize)).map((x) => x.value),
        expected,
        `poll size ${pollSize}`,
      );
    }
  });

  test('§3.7 a reader resumed by seek at any position continues the order of an uninterrupted one', async (t) => {
    const topic = await filledTopic([420, 200, 333]);
    const first = reader(topic, [0, 1, 2]);
    t.after(() => first.close());
    const all = (await readToEnd(first, 64)).map((r) => r.value);
    for (const cut of [0, 1, 255, 256, 257, 500, 700, all.length - 1, all.length]) {
      const positions = new Map([0, 1, 2].map((p) => [p, 0]));
      for (const v of all.slice(0, cut)) {
        const p = Number(v.split(':')[0]);
        positions.set(p, (positions.get(p) as number) + 1);
      }
      const resumed = reader(topic, [0, 1, 2]);
      t.after(() => resumed.close());
      await resumed.seek(positions);
      assert.deepEqual(
        (await readToEnd(resumed, 50)).map((r) => r.value),
        all.slice(cut),
        `resumed after ${cut} records`,
      );
    }
  });

  test('drain ends at the offsets of open time, even when more is written later; an empty partition ends at once', async (t) => {
    const topic = await broker.createTopic('drain', 3);
    await broker.write(topic, [
      { partition: 0, value: 'a' },
      { partition: 1, value: 'b' },
    ]);
    const r = reader(topic, [0, 1, 2]);
    t.after(() => r.close());
    await r.open();
    await broker.write(topic, [{ partition: 0, value: 'later' }]);
    const records = await readToEnd(r);
    assert.deepEqual(records.map((x) => x.value).sort(), ['a', 'b']);
    const again = await r.poll(10);
    assert.deepEqual(again.records, []);
    assert.equal(again.ended, true);
    const empty = reader(topic, [2]);
    t.after(() => empty.close());
    assert.equal((await empty.poll(10)).ended, true);
  });

  test('lag is the last known end minus the next offset, summed over the partitions', async (t) => {
    const topic = await filledTopic([30, 12]);
    const r = KafkaSource.standalone({ bootstrap: [bootstrap], topic, partitions: [0, 1], fetchMaxWaitMs: 200 });
    t.after(() => r.close());
    await r.open();
    assert.equal(r.lag(), 42);
    const res = await r.poll(5);
    assert.equal(res.records.length, 5);
    assert.equal(r.lag(), 37);
    for (let i = 0; i < 50 && r.lag() > 0; i++) await r.poll(100);
    assert.equal(r.lag(), 0);
    await broker.write(topic, [{ partition: 1, value: 'x' }]);
    // The live reader learns of the new record with its next fetch reply.
    const more = await r.poll(10);
    assert.deepEqual(
      more.records.map((x) => [x.partition, x.offset]),
      [[1, 12]],
    );
    assert.equal(r.lag(), 0);
  });

  test('commit mirrors the offsets to the consumer group, where lag tools read them', async (t) => {
    const topic = await filledTopic([5, 5]);
    const groupId = uniqueName('mirror');
    const r = reader(topic, [0, 1], { groupId });
    t.after(() => r.close());
    await readToEnd(r);
    await r.commit(
      new Map([
        [0, 5],
        [1, 3],
      ]),
    );
    const [group] = await broker.admin.listConsumerGroupOffsets({ groups: [groupId] });
    const parts = group?.topics.find((x) => x.name === topic)?.partitions ?? [];
    assert.deepEqual(parts.map((p) => [p.partitionIndex, Number(p.committedOffset)]).sort(), [
      [0, 5],
      [1, 3],
    ]);
  });

  test('a failed mirror is reported once and never thrown', async (t) => {
    const topic = await filledTopic([1]);
    const warnings: string[] = [];
    const r = KafkaSource.standalone({
      bootstrap: [bootstrap],
      topic,
      partitions: [0],
      groupId: uniqueName('mirror-fails'),
      onWarning: (m) => warnings.push(m),
    });
    t.after(() => r.close());
    // Offset of a partition that does not exist: the broker refuses it.
    await r.commit(new Map([[7, 1]]));
    await r.commit(new Map([[7, 1]]));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0] as string, /could not mirror offsets/);
  });

  test('tombstones and invalid UTF-8 are delivered (as "" and with U+FFFD), never thrown', async (t) => {
    const topic = await broker.createTopic('bad', 1);
    // Raw bytes: no serializer, so that a null value and bytes that are not UTF-8 reach the broker as they are.
    const raw = new Producer({ clientId: 'flowmark-test-raw', bootstrapBrokers: [bootstrap], idempotent: true });
    t.after(() => raw.close());
    await raw.send({
      messages: [
        { topic, partition: 0, value: Buffer.from('ok') },
        { topic, partition: 0 },
        { topic, partition: 0, value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) },
      ],
    });
    const r = reader(topic, [0]);
    t.after(() => r.close());
    const records = await readToEnd(r);
    assert.deepEqual(
      records.map((x) => x.value),
      ['ok', '', '{\uFFFD\uFFFD}'],
    );
    assert.ok(records.every((x) => typeof x.timestampMs === 'number' && x.timestampMs > 0));
  });

  test('a record larger than partitionMaxBytes is still read, and the ones after it', async (t) => {
    const topic = await broker.createTopic('big', 2);
    const big = 'é'.repeat(50_000);
    await broker.write(topic, [
      { partition: 1, value: 'p1-small' },
      { partition: 0, value: 'small' },
      { partition: 0, value: big },
      { partition: 0, value: 'after' },
      { partition: 1, value: 'p1-big'.repeat(5000) },
    ]);
    const r = reader(topic, [0, 1], { partitionMaxBytes: 1024 });
    t.after(() => r.close());
    const records = await readToEnd(r, 2);
    assert.deepEqual(
      records.map((x) => `${x.partition}:${x.value.length}`),
      ['0:5', `0:${big.length}`, '0:5', '1:8', '1:30000'],
    );
  });

  test('a missing topic and a partition it does not have are refused with a clear message', async (t) => {
    const missing = reader(uniqueName('nope'), [0]);
    t.after(() => missing.close());
    await assert.rejects(missing.open(), (e: Error) => /does not exist/.test(e.message));
    const topic = await broker.createTopic('two', 2);
    const wrong = reader(topic, [2]);
    t.after(() => wrong.close());
    await assert.rejects(wrong.open(), (e: Error) => /has 2 partitions: there is no partition 2/.test(e.message));
  });

  test('seek past the end of a partition throws FM_SOURCE_FAILED: the topic lost processed records', async (t) => {
    const topic = await filledTopic([3]);
    const r = reader(topic, [0]);
    t.after(() => r.close());
    await r.seek(new Map([[0, 3]]));
    await assert.rejects(r.seek(new Map([[0, 9]])), (e: Error & { code?: string }) => e.code === 'FM_SOURCE_FAILED');
  });
});

withKafka('KafkaSource across a broker restart', () => {
  test('a broker restarted mid-read: the reader reconnects and goes on from its own offsets, nothing lost or doubled', async (t) => {
    const own = await privateBroker(t, await freePortPair());
    const broker = new TestBroker(own.bootstrap);
    const topic = await broker.createTopic('restart', 2);
    const input = Array.from({ length: 3000 }, (_, i) => ({ partition: i % 2, value: `r${i}` }));
    await broker.write(topic, input);
    await broker.close();
    const warnings: string[] = [];
    // Small buffers: most records must be fetched after the restart.
    const r = KafkaSource.standalone({
      bootstrap: [own.bootstrap],
      topic,
      partitions: [0, 1],
      endAtOpen: true,
      bufferBytes: 1024,
      partitionMaxBytes: 1024,
      fetchMaxWaitMs: 200,
      onWarning: (m) => warnings.push(m),
    });
    t.after(() => r.close());
    const head: SourceRecord<string>[] = [];
    while (head.length < 1000) head.push(...(await r.poll(100)).records);
    await own.stop();
    const tail = readToEnd(r, 100); // waits while the broker is down
    await own.start();
    const records = [...head, ...(await tail)];
    for (const p of [0, 1]) {
      assert.deepEqual(
        records.filter((x) => x.partition === p).map((x) => x.value),
        input.filter((x) => x.partition === p).map((x) => x.value),
        `partition ${p}`,
      );
    }
    assert.ok(
      warnings.some((w) => /reading .* failed/.test(w)),
      `the outage was reported: ${warnings.join(' | ')}`,
    );
    assert.ok(
      warnings.some((w) => /works again/.test(w)),
      `the recovery was reported: ${warnings.join(' | ')}`,
    );
  });
});
