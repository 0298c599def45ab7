import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KafkaAdmin } from '../../../src/connectors/kafka/kafka-admin.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { requireKafka, uniqueTopic } from './kafka-producer-fixtures.ts';

test('ensureTopics creates the missing topics with their partitions and keeps existing ones as they are', async (t) => {
  const bootstrap = requireKafka(t);
  if (bootstrap === undefined) return;
  const admin = new KafkaAdmin({ bootstrap: [bootstrap] });
  const [a, b, missing] = [uniqueTopic('admin-a'), uniqueTopic('admin-b'), uniqueTopic('admin-none')];
  t.after(async () => {
    await admin.deleteTopics([a, b]);
    await admin.close();
  });

  assert.deepEqual(await admin.ensureTopics([{ name: a, partitions: 3 }]), [{ name: a, partitions: 3, created: true }]);
  // a exists with 3: kept (and reported) though 4 are asked; b is created with 4.
  assert.deepEqual(
    await admin.ensureTopics([
      { name: a, partitions: 4 },
      { name: b, partitions: 4 },
    ]),
    [
      { name: a, partitions: 3, created: false },
      { name: b, partitions: 4, created: true },
    ],
  );
  assert.deepEqual(
    await admin.partitionCounts([a, b, missing]),
    new Map<string, number | undefined>([
      [a, 3],
      [b, 4],
      [missing, undefined],
    ]),
  );

  await admin.deleteTopics([b, missing]);
  assert.equal((await admin.partitionCounts([b])).get(b), undefined);
});

test('ensureTopics refuses a partition count below 1 before it asks the broker', async () => {
  const admin = new KafkaAdmin({ bootstrap: ['127.0.0.1:1'] });
  try {
    await assert.rejects(admin.ensureTopics([{ name: 't', partitions: 0 }]), (err: unknown) =>
      isFlowmarkError(err, 'FM_CONFIG_INVALID'),
    );
  } finally {
    await admin.close();
  }
});

test('a broker that does not answer is FM_KAFKA_UNAVAILABLE naming the address', async () => {
  const admin = new KafkaAdmin({ bootstrap: ['127.0.0.1:1'] });
  try {
    await assert.rejects(
      admin.partitionCounts(['clicks']),
      (err: unknown) =>
        isFlowmarkError(err, 'FM_KAFKA_UNAVAILABLE') &&
        err.message.includes('at 127.0.0.1:1 failed') &&
        err.message.includes('is the broker running'),
    );
  } finally {
    await admin.close();
  }
});
