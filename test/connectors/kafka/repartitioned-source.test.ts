/**
 * `RepartitionedSource` over a real broker: an internal partition holding two source partitions'
 * records interleaved, with a repartitioner's re-sends, is delivered as the source partitions —
 * each source offset once, in order — and its `commit` mirrors only an internal offset whose
 * records a checkpoint covers; after a restore it drops what the checkpoint had passed; a record
 * from a source partition it does not present stops it before that record. And the envelope.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeEnvelope,
  encodeEnvelope,
  KafkaSource,
  RepartitionedSource,
  type RepartitionedSourceOptions,
} from '../../../src/connectors/kafka/index.ts';
import { TestBroker, withKafka } from './kafka-source-fixtures.ts';

test('the envelope: source partition, offset and arrival time, then the value byte for byte', () => {
  const value = '{"user_id":"u1",\n"note":"two lines"}';
  const raw = encodeEnvelope({ partition: 2, offset: 17, timestampMs: 1767225600000 }, value);
  assert.equal(raw, `2 17 1767225600000\n${value}`);
  assert.deepEqual(decodeEnvelope(raw), { partition: 2, offset: 17, timestampMs: 1767225600000, value });
  assert.deepEqual(decodeEnvelope('0 0 0\n'), { partition: 0, offset: 0, timestampMs: 0, value: '' });
  for (const foreign of ['{"user_id":"u1"}', 'x 1 2\n{}', '-1 0 0\n{}', '1 2.5 0\n{}', '']) {
    assert.equal(decodeEnvelope(foreign), undefined, foreign);
  }
});

withKafka('RepartitionedSource', (bootstrap) => {
  const broker = TestBroker.shared(bootstrap);
  // Internal offsets 0..9: source partition 0 and 1 interleaved, then a re-send of some of them.
  const layout: Array<[number, number]> = [
    [0, 0],
    [0, 1],
    [0, 2],
    [1, 0],
    [1, 1],
    [0, 1], // re-sent
    [0, 2], // re-sent
    [0, 3],
    [1, 1], // re-sent
    [1, 2],
  ];
  const env = ([p, o]: [number, number]) =>
    encodeEnvelope({ partition: p, offset: o, timestampMs: 1000 + o }, `v${p}.${o}`);

  async function internalTopic(extra: string[] = []): Promise<string> {
    const topic = await broker.createTopic('internal', 1);
    await broker.write(
      topic,
      [...layout.map(env), ...extra].map((value) => ({ partition: 0, value })),
    );
    return topic;
  }

  function reader(topic: string, o: Partial<RepartitionedSourceOptions> = {}) {
    const inner = KafkaSource.standalone({ bootstrap: [bootstrap], topic, partitions: [0] });
    const mirrored: number[] = [];
    // The mirror to the group, observed: what `commit` would write as the internal offset.
    inner.commit = async (next) => {
      mirrored.push(next.get(0) as number);
    };
    const warnings: string[] = [];
    const source = new RepartitionedSource({
      inner,
      sourcePartitions: 2,
      committedOffset: async () => undefined,
      onWarning: (m) => warnings.push(m),
      ...o,
    });
    return { source, mirrored, warnings };
  }

  async function readAll(source: RepartitionedSource, batch: number, until: number) {
    const got: string[] = [];
    for (let i = 0; i < 50 && got.length < until; i++) {
      const r = await source.poll(batch);
      for (const rec of r.records) got.push(`${rec.partition}@${rec.offset}=${rec.value}/${rec.timestampMs}`);
      if (r.records.length === 0 && r.caughtUp?.length === 2) break;
    }
    return got;
  }

  test('delivers each source offset once, in order, under its source partition; re-sends and foreign records are dropped', async (t) => {
    const topic = await internalTopic(['not an envelope']);
    const { source, warnings } = reader(topic);
    t.after(() => source.close());
    assert.deepEqual(source.partitions, [0, 1]);
    const got = await readAll(source, 2, 7);
    assert.deepEqual(got, [
      '0@0=v0.0/1000',
      '0@1=v0.1/1001',
      '0@2=v0.2/1002',
      '1@0=v1.0/1000',
      '1@1=v1.1/1001',
      '0@3=v0.3/1003',
      '1@2=v1.2/1002',
    ]);
    assert.equal(source.duplicatesDropped, 3);
    // The foreign record is at the end: read it, then it is skipped with one warning.
    await readAll(source, 2, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] as string, /offset 10 was not written by a flowmark repartitioner/);
  });

  test('commit mirrors the furthest internal offset all of whose records the checkpoint covers', async (t) => {
    const topic = await internalTopic();
    const { source, mirrored } = reader(topic);
    t.after(() => source.close());
    // Polls of 2 internal records: after them the source positions are
    // [2,0] @2, [3,1] @4, [3,2] @6, [4,2] @8, [4,3] @10.
    for (let i = 0; i < 5; i++) await source.poll(2);
    await source.commit(
      new Map([
        [0, 3],
        [1, 1],
      ]),
    );
    assert.deepEqual(mirrored, [4], 'offsets 4 and 5 (1@1, a re-send of 0@1) are not covered by [3, 1]');
    await source.commit(
      new Map([
        [0, 3],
        [1, 1],
      ]),
    );
    assert.deepEqual(mirrored, [4], 'nothing new is covered: nothing mirrored');
    await source.commit(
      new Map([
        [0, 4],
        [1, 3],
      ]),
    );
    assert.deepEqual(mirrored, [4, 10]);
  });

  test('after a restore: resumes at the committed internal offset and drops what the checkpoint had passed', async (t) => {
    const topic = await internalTopic();
    // The checkpoint had passed 0@2 and 1@1; the group's internal offset says 5 (behind it).
    const { source } = reader(topic, { committedOffset: async () => 5 });
    t.after(() => source.close());
    await source.seek(
      new Map([
        [0, 3],
        [1, 2],
      ]),
    );
    assert.deepEqual(await readAll(source, 100, 2), ['0@3=v0.3/1003', '1@2=v1.2/1002']);
    assert.equal(source.duplicatesDropped, 3, '0@1, 0@2 and 1@1 again');
  });

  test('a record of a source partition it does not present (the source topic grew): stops before it, says so', async (t) => {
    const topic = await internalTopic([
      encodeEnvelope({ partition: 2, offset: 0, timestampMs: 5 }, 'v2.0'),
      encodeEnvelope({ partition: 0, offset: 4, timestampMs: 5 }, 'v0.4'),
    ]);
    const grown: number[] = [];
    const { source, mirrored } = reader(topic, { onSourceGrown: (p) => grown.push(p) });
    t.after(() => source.close());
    const got = await readAll(source, 100, 8);
    assert.equal(got.length, 7, 'everything before the record of source partition 2');
    assert.deepEqual(grown, [2]);
    assert.deepEqual((await source.poll(100)).records, [], 'nothing more until the job is restarted');
    await source.commit(
      new Map([
        [0, 4],
        [1, 3],
      ]),
    );
    assert.deepEqual(mirrored, [10], 'the record of partition 2 is read again after the restart');
  });
});
