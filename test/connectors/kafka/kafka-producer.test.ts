import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KafkaAdmin } from '../../../src/connectors/kafka/kafka-admin.ts';
import { partitionForKey } from '../../../src/connectors/kafka/kafka-partitioner.ts';
import { KafkaProducer } from '../../../src/connectors/kafka/kafka-producer.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { readBack, requireKafka, requireKafkaJars, uniqueTopic } from './kafka-producer-fixtures.ts';

const run = promisify(execFile);

test('keyed records land in murmur2(key) % partitions on the broker, in append order per key', async (t) => {
  const bootstrap = requireKafka(t);
  if (bootstrap === undefined) return;
  const admin = new KafkaAdmin({ bootstrap: [bootstrap] });
  const [clicks, checkouts] = [uniqueTopic('producer-clicks'), uniqueTopic('producer-checkouts')];
  const producer = new KafkaProducer({ bootstrap: [bootstrap], batchRecords: 64 });
  t.after(async () => {
    await producer.close();
    await admin.deleteTopics([clicks, checkouts]);
    await admin.close();
  });
  await admin.ensureTopics([
    { name: clicks, partitions: 5 },
    { name: checkouts, partitions: 5 },
  ]);

  const users = Array.from({ length: 40 }, (_, i) => `u${String(i).padStart(6, '0')}`);
  for (let i = 0; i < 600; i++) {
    const user = users[i % users.length] as string;
    producer.append(i % 3 === 0 ? checkouts : clicks, JSON.stringify({ user_id: user, seq: i }), user);
    if (i % 100 === 99) await producer.ready();
  }
  await producer.flush();
  assert.deepEqual(producer.stats, { appended: 600, acknowledged: 600 });

  const read = await readBack(bootstrap, [clicks, checkouts], 600);
  assert.equal(read.get(checkouts)?.length, 200);
  assert.equal(read.get(clicks)?.length, 400);
  const lastSeq = new Map<string, number>();
  for (const [topic, records] of read) {
    for (const r of records.sort((a, b) => Number(a.offset - b.offset))) {
      const v = JSON.parse(r.value) as { user_id: string; seq: number };
      assert.equal(r.key, v.user_id);
      assert.equal(r.partition, partitionForKey(v.user_id, 5), `${topic} ${r.value}`);
      const k = `${topic}/${v.user_id}`;
      assert.ok(v.seq > (lastSeq.get(k) ?? -1), `${k}: ${v.seq} after ${lastSeq.get(k)}`);
      lastSeq.set(k, v.seq);
    }
  }
  // A user's clicks and checkouts share a partition number: co-partitioned.
  const partitionsOf = (topic: string, user: string) =>
    new Set(
      read
        .get(topic)
        ?.filter((r) => r.key === user)
        .map((r) => r.partition),
    );
  for (const u of users) assert.deepEqual(partitionsOf(clicks, u), partitionsOf(checkouts, u));
});

test("the Java client's producer puts a key where partitionForKey says", async (t) => {
  const bootstrap = requireKafka(t);
  if (bootstrap === undefined) return;
  const libs = requireKafkaJars(t);
  if (libs === undefined) return;
  const admin = new KafkaAdmin({ bootstrap: [bootstrap] });
  const topic = uniqueTopic('producer-java');
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-java-'));
  t.after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await admin.deleteTopics([topic]);
    await admin.close();
  });
  await admin.ensureTopics([{ name: topic, partitions: 7 }]);
  // Keys of every tail length, multi-byte UTF-8 and numeric ids as the seeds write them.
  const keys = ['u000001', 'u000048', '21', '42', 'abc', 'a', 'ab', 'abcd', 'é', 'ユーザー', '1234567890123'];
  for (let i = 0; i < 40; i++) keys.push(`user-${i * 7919}`);
  const source = join(dir, 'KeyedProduce.java');
  writeFileSync(
    source,
    `import java.util.Properties;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.StringSerializer;
public class KeyedProduce {
  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", a[0]);
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    p.put("acks", "all");
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      for (int i = 2; i < a.length; i++) producer.send(new ProducerRecord<>(a[1], a[i], a[i]));
      producer.flush();
    }
  }
}
`,
  );
  const log4j = fileURLToPath(new URL('../../../scripts/kafka/log4j2.properties', import.meta.url));
  await run('java', [`-Dlog4j2.configurationFile=${log4j}`, '-cp', `${libs}/*`, source, bootstrap, topic, ...keys], {
    timeout: 120_000,
  });
  const records = (await readBack(bootstrap, [topic], keys.length)).get(topic) ?? [];
  assert.equal(records.length, keys.length);
  for (const r of records) assert.equal(r.partition, partitionForKey(r.value, 7), `key ${r.value}`);
});

test('unkeyed records are spread over the partitions batch by batch', async (t) => {
  const bootstrap = requireKafka(t);
  if (bootstrap === undefined) return;
  const admin = new KafkaAdmin({ bootstrap: [bootstrap] });
  const topic = uniqueTopic('producer-unkeyed');
  const producer = new KafkaProducer({ bootstrap: [bootstrap] });
  t.after(async () => {
    await producer.close();
    await admin.deleteTopics([topic]);
    await admin.close();
  });
  await admin.ensureTopics([{ name: topic, partitions: 3 }]);
  for (let batch = 0; batch < 6; batch++) {
    for (let i = 0; i < 10; i++) producer.append(topic, `{"batch":${batch},"i":${i}}`);
    await producer.flush();
  }
  const records = (await readBack(bootstrap, [topic], 60)).get(topic) ?? [];
  const perPartition = [0, 1, 2].map((p) => records.filter((r) => r.partition === p).length);
  assert.deepEqual(perPartition, [20, 20, 20]);
  for (const r of records) assert.equal(r.key, undefined);
});

test('more than the broker takes in one record batch is split into several requests', async (t) => {
  const bootstrap = requireKafka(t);
  if (bootstrap === undefined) return;
  const admin = new KafkaAdmin({ bootstrap: [bootstrap] });
  const topic = uniqueTopic('producer-big');
  const producer = new KafkaProducer({ bootstrap: [bootstrap], batchRecords: 100_000 });
  t.after(async () => {
    await producer.close();
    await admin.deleteTopics([topic]);
    await admin.close();
  });
  await admin.ensureTopics([{ name: topic, partitions: 1 }]);
  // 3 MB for one partition in one flush: the broker refuses a record batch above 1 MiB.
  const pad = 'x'.repeat(1000);
  for (let i = 0; i < 3000; i++) producer.append(topic, `{"i":${i},"pad":"${pad}"}`, 'same-user');
  await producer.flush();
  const records = (await readBack(bootstrap, [topic], 3000)).get(topic) ?? [];
  assert.deepEqual(
    records.map((r) => (JSON.parse(r.value) as { i: number }).i),
    Array.from({ length: 3000 }, (_, i) => i),
  );
});

test('a topic that does not exist fails flush with FM_SINK_FAILED naming it; the producer stays failed', async (t) => {
  const bootstrap = requireKafka(t);
  if (bootstrap === undefined) return;
  const producer = new KafkaProducer({ bootstrap: [bootstrap] });
  t.after(() => producer.close().catch(() => undefined));
  const topic = uniqueTopic('producer-missing');
  producer.append(topic, '{}', 'k');
  const named = (err: unknown) =>
    isFlowmarkError(err, 'FM_SINK_FAILED') && err.message.includes(`has no topic ${topic}: create it first`);
  await assert.rejects(producer.flush(), named);
  assert.throws(() => producer.append(topic, '{}'), named);
  await assert.rejects(producer.ready(), named);
});

test('a broker that does not answer fails flush with FM_KAFKA_UNAVAILABLE', async () => {
  const producer = new KafkaProducer({ bootstrap: ['127.0.0.1:1'] });
  producer.append('clicks', '{}', 'k');
  await assert.rejects(
    producer.flush(),
    (err: unknown) => isFlowmarkError(err, 'FM_KAFKA_UNAVAILABLE') && err.message.includes('127.0.0.1:1'),
  );
  await producer.close();
});
