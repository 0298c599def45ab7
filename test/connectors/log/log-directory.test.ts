/**
 * LogDirectory: one writer at a time (writer.lock), read-only openers beside it, topics with a
 * partition count fixed at creation and created atomically, options checked up front, offsets
 * for lag, close() flushing what was appended.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LogDirectory } from '../../../src/connectors/log/log-directory.ts';
import { LogProducer } from '../../../src/connectors/log/log-producer.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { openLog, tempDir } from './log-fixtures.ts';

test('a second writer is refused with FM_FENCED; read-only openers are welcome', async (t) => {
  const dir = tempDir(t);
  const writer = openLog(t, dir);
  assert.equal(readFileSync(join(dir, 'writer.lock'), 'utf8').trim(), String(process.pid));
  assert.throws(
    () => LogDirectory.open(dir),
    (e) => isFlowmarkError(e, 'FM_FENCED'),
  );
  const reader = LogDirectory.open(dir, { readOnly: true });
  await reader.close();
  await writer.close();
  assert.equal(existsSync(join(dir, 'writer.lock')), false, 'close releases the lock');
  await openLog(t, dir).close();
});

test('a lock held by another live process is refused, naming it; a dead holder’s lock is taken over', async (t) => {
  const dir = tempDir(t);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'writer.lock'), `${process.ppid}\n`);
  assert.throws(
    () => LogDirectory.open(dir),
    (e) => isFlowmarkError(e, 'FM_FENCED') && e.message.includes(`process ${process.ppid}`),
  );
  writeFileSync(join(dir, 'writer.lock'), '4194305\n'); // above Linux's largest pid: no such process
  const log = openLog(t, dir);
  assert.equal(readFileSync(join(dir, 'writer.lock'), 'utf8').trim(), String(process.pid));
  await log.close();
});

test('topics keep their partition count; creating one again is a no-op, with another count an error', async (t) => {
  const dir = tempDir(t);
  const log = LogDirectory.open(dir);
  log.createTopic('clicks', { partitions: 3 });
  log.createTopic('checkouts', { partitions: 1 });
  log.createTopic('clicks', { partitions: 3 });
  assert.throws(
    () => log.createTopic('clicks', { partitions: 4 }),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID') && /3 partitions, not 4/.test(e.message),
  );
  for (const bad of ['', '..', 'a/b', 'with space']) {
    assert.throws(
      () => log.createTopic(bad, { partitions: 1 }),
      (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID'),
      bad,
    );
  }
  assert.throws(
    () => log.createTopic('zero', { partitions: 0 }),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID'),
  );
  await log.close();
  const again = openLog(t, dir);
  assert.deepEqual(again.topicNames(), ['checkouts', 'clicks']);
  assert.equal(again.topic('clicks').partitions.length, 3);
  assert.throws(
    () => again.topic('views'),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID') && e.message.includes('checkouts, clicks'),
  );
});

test('a topic whose creation was interrupted is not a topic, and is cleaned up on the next open', (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, '.clicks.tmp-123-abcd', 'partition-0'), { recursive: true });
  const log = openLog(t, dir);
  assert.deepEqual(log.topicNames(), []);
  assert.equal(existsSync(join(dir, '.clicks.tmp-123-abcd')), false);
});

test('options are checked before anything is opened, naming the key', (t) => {
  const dir = tempDir(t);
  for (const [key, value] of [
    ['segmentBytes', 0],
    ['retentionBytes', -1],
    ['retentionMs', 1.5],
    ['writeBufferBytes', Number.NaN],
  ] as const) {
    assert.throws(
      () => LogDirectory.open(dir, { [key]: value }),
      (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID') && e.message.includes(key),
      key,
    );
  }
  assert.equal(existsSync(join(dir, 'writer.lock')), false);
  assert.throws(
    () => LogDirectory.open(join(dir, 'missing'), { readOnly: true }),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID'),
  );
});

test('start and end offsets per partition, for lag; a read-only opener sees what the writer flushed', async (t) => {
  const dir = tempDir(t);
  const log = openLog(t, dir, { segmentBytes: 200 });
  log.createTopic('clicks', { partitions: 2 });
  const producer = new LogProducer(log);
  for (let i = 0; i < 25; i++) producer.appendToPartition('clicks', 0, `record-${i}`);
  producer.appendToPartition('clicks', 1, 'one');
  assert.deepEqual(
    log.startOffsets('clicks'),
    new Map([
      [0, 0],
      [1, 0],
    ]),
  );
  await producer.flush();
  assert.deepEqual(
    log.endOffsets('clicks'),
    new Map([
      [0, 25],
      [1, 1],
    ]),
  );
  const readOnly = LogDirectory.open(dir, { readOnly: true });
  t.after(() => readOnly.close());
  assert.deepEqual(
    readOnly.endOffsets('clicks'),
    new Map([
      [0, 25],
      [1, 1],
    ]),
  );
  producer.appendToPartition('clicks', 1, 'two');
  await producer.flush();
  assert.deepEqual(
    readOnly.endOffsets('clicks'),
    new Map([
      [0, 25],
      [1, 2],
    ]),
  );
  assert.throws(
    () => readOnly.createTopic('x', { partitions: 1 }),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID'),
  );
  assert.throws(
    () => readOnly.enforceRetention(),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID'),
  );
});

test('close() flushes: what was appended before it is there after a reopen', async (t) => {
  const dir = tempDir(t);
  const log = LogDirectory.open(dir);
  log.createTopic('clicks', { partitions: 1 });
  const producer = new LogProducer(log);
  producer.append('clicks', 'a');
  producer.append('clicks', 'b');
  await log.close();
  assert.throws(() => producer.append('clicks', 'c'));
  const again = openLog(t, dir);
  assert.deepEqual(again.endOffsets('clicks'), new Map([[0, 2]]));
  assert.deepEqual(again.repairs, []);
});
