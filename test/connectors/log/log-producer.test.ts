/**
 * LogProducer: routing by key is stable (FNV-1a of the UTF-8 key, modulo the partitions), records
 * without a key go round-robin, a record is acknowledged (visible, durable) only after flush().
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogDirectory } from '../../../src/connectors/log/log-directory.ts';
import { fnv1a32, partitionForKey } from '../../../src/connectors/log/log-partitioner.ts';
import { LogProducer } from '../../../src/connectors/log/log-producer.ts';
import { LogSource } from '../../../src/connectors/log/log-source.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { openLog, readAll, tempDir } from './log-fixtures.ts';

/** FNV-1a, 32 bits, written the plain way over bytes: the reference for the fast one. */
function referenceFnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x01000193n) & 0xffffffffn;
  return Number(h);
}

test('FNV-1a matches the published vectors and a plain implementation, over UTF-8 bytes', () => {
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  for (const key of ['user-42', 'é', 'ключ', '🙂 emoji', 'a'.repeat(300)]) {
    assert.equal(fnv1a32(key), referenceFnv1a(Buffer.from(key, 'utf8')), key);
  }
});

test('partition routing by key is stable: fixed values that must never change', () => {
  // Changing these would move a key's records to another partition for every existing log.
  assert.deepEqual(
    ['user-1', 'user-2', 'user-42', 'é'].map((k) => partitionForKey(k, 8)),
    [4, 5, 3, 1],
  );
});

test('records with the same key land in one partition, in append order, across reopen', async (t) => {
  const dir = tempDir(t);
  const log = LogDirectory.open(dir);
  log.createTopic('clicks', { partitions: 4 });
  const producer = new LogProducer(log);
  const first = producer.append('clicks', 'u7-a', 'user-7');
  producer.append('clicks', 'u9-a', 'user-9');
  assert.equal(first.partition, partitionForKey('user-7', 4));
  await producer.flush();
  await log.close();

  const reopened = openLog(t, dir);
  const again = new LogProducer(reopened);
  const second = again.append('clicks', 'u7-b', 'user-7');
  assert.equal(second.partition, first.partition);
  assert.equal(second.offset, first.offset + 1 + (partitionForKey('user-9', 4) === first.partition ? 1 : 0));
  await again.flush();
  const reader = new LogSource(reopened, 'clicks', { partitions: [first.partition] });
  t.after(() => reader.close());
  assert.deepEqual(
    readAll(reader)
      .map((r) => r.value)
      .filter((v) => v.startsWith('u7')),
    ['u7-a', 'u7-b'],
  );
});

test('records without a key are spread round-robin', (t) => {
  const log = openLog(t, tempDir(t));
  log.createTopic('clicks', { partitions: 3 });
  const producer = new LogProducer(log);
  const results = [...Array(6).keys()].map((i) => producer.append('clicks', `r${i}`));
  assert.deepEqual(
    results.map((r) => [r.partition, r.offset]),
    [
      [0, 0],
      [1, 0],
      [2, 0],
      [0, 1],
      [1, 1],
      [2, 1],
    ],
  );
});

test('appendBatch routes each record and returns where it went; flush acknowledges all', async (t) => {
  const log = openLog(t, tempDir(t));
  log.createTopic('clicks', { partitions: 2 });
  const producer = new LogProducer(log);
  const results = producer.appendBatch('clicks', [
    'no key',
    { payload: 'keyed', key: 'user-1' },
    { payload: 'keyed again', key: 'user-1' },
    { payload: 'explicitly no key' },
  ]);
  const p = partitionForKey('user-1', 2);
  assert.deepEqual(results[1], { partition: p, offset: results[1]?.offset });
  assert.equal(results[2]?.partition, p);
  assert.equal((results[2]?.offset as number) - (results[1]?.offset as number), 1);
  assert.deepEqual(
    log.endOffsets('clicks'),
    new Map([
      [0, 0],
      [1, 0],
    ]),
    'nothing acknowledged before flush',
  );
  await producer.flush();
  const ends = log.endOffsets('clicks');
  assert.equal((ends.get(0) as number) + (ends.get(1) as number), 4);
});

test('concurrent flushes all resolve, each after the records appended before it are durable', async (t) => {
  const log = openLog(t, tempDir(t));
  log.createTopic('clicks', { partitions: 2 });
  const producer = new LogProducer(log);
  producer.append('clicks', 'a');
  const f1 = producer.flush();
  producer.append('clicks', 'b');
  const f2 = producer.flush();
  await f1;
  await f2;
  assert.deepEqual(
    log.endOffsets('clicks'),
    new Map([
      [0, 1],
      [1, 1],
    ]),
  );
});

test('a payload above maxRecordBytes is refused; a producer needs a writable log and a known topic', (t) => {
  const dir = tempDir(t);
  const log = openLog(t, dir, { maxRecordBytes: 10 });
  log.createTopic('clicks', { partitions: 1 });
  const producer = new LogProducer(log);
  producer.append('clicks', '0123456789');
  assert.throws(() => producer.append('clicks', 'ééééé é'), RangeError);
  assert.throws(
    () => producer.append('nope', 'x'),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID'),
  );
  const readOnly = LogDirectory.open(dir, { readOnly: true });
  assert.throws(
    () => new LogProducer(readOnly),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID'),
  );
});
