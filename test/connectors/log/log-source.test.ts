/**
 * LogSource: the source contract in three setups (one segment per partition, many small
 * segments, a reader in a read-only opener beside the writer), then what only the log does:
 * drain mode, durable-only reads, fair interleaving, torn tails seen by a reader, corruption.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LogDirectory } from '../../../src/connectors/log/log-directory.ts';
import type { LogOptions } from '../../../src/connectors/log/log-options.ts';
import { LogProducer } from '../../../src/connectors/log/log-producer.ts';
import { listSegmentBases, segmentFileName } from '../../../src/connectors/log/log-segment.ts';
import { LogSource, READ_CHUNK } from '../../../src/connectors/log/log-source.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { type ContractRecord, type MakeSource, sourceContract } from '../source-contract.ts';
import { flipByte, openLog, readAll, tempDir } from './log-fixtures.ts';

function logContract(options: LogOptions, readOnlyReader: boolean): MakeSource {
  return async (records: ContractRecord[], { partitions, drain }) => {
    const dir = mkdtempSync(join(tmpdir(), 'flowmark-log-contract-'));
    const log = LogDirectory.open(dir, { fsync: false, ...options });
    log.createTopic('events', { partitions });
    const producer = new LogProducer(log);
    for (const r of records) producer.appendToPartition('events', r.partition, r.payload);
    await producer.flush();
    const readerLog = readOnlyReader ? LogDirectory.open(dir, { readOnly: true }) : log;
    const reader = new LogSource(readerLog, 'events', { endAtOpen: drain, readBufferBytes: 512 });
    return {
      reader,
      append: async (more) => {
        for (const r of more) producer.appendToPartition('events', r.partition, r.payload);
        await producer.flush();
      },
      close: async () => {
        reader.close();
        await log.close();
        if (readerLog !== log) await readerLog.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

sourceContract('LogSource', logContract({}, false));
sourceContract('LogSource, many small segments', logContract({ segmentBytes: 300 }, false));
sourceContract('LogSource, reader in a read-only opener', logContract({ segmentBytes: 300 }, true));

function setup(t: test.TestContext, partitions = 1, options: LogOptions = {}) {
  const dir = tempDir(t);
  const log = openLog(t, dir, options);
  log.createTopic('clicks', { partitions });
  return { dir, log, producer: new LogProducer(log) };
}

test('drain mode ends at the end offsets of open time, even if more is appended later', async (t) => {
  const { log, producer } = setup(t, 2);
  for (let i = 0; i < 10; i++) producer.append('clicks', `before-${i}`);
  await producer.flush();
  const reader = new LogSource(log, 'clicks', { endAtOpen: true });
  t.after(() => reader.close());
  for (let i = 0; i < 10; i++) producer.append('clicks', `after-${i}`);
  await producer.flush();
  const first = reader.poll(4);
  assert.equal(first.ended, false);
  const records = [...first.records, ...readAll(reader, 4)];
  assert.deepEqual(records.map((r) => r.value).sort(), Array.from({ length: 10 }, (_, i) => `before-${i}`).sort());
  const last = reader.poll(100);
  assert.deepEqual(last, { records: [], caughtUp: [0, 1], ended: true });
  // A live reader opened now sees all 20.
  const live = new LogSource(log, 'clicks');
  t.after(() => live.close());
  assert.equal(readAll(live).length, 20);
});

test('a reader in the writing process sees a record only once flush() made it durable', async (t) => {
  const { log, producer } = setup(t);
  const reader = new LogSource(log, 'clicks');
  t.after(() => reader.close());
  producer.append('clicks', 'a');
  producer.append('clicks', 'b');
  assert.deepEqual(reader.poll(10), { records: [], caughtUp: [0], ended: false });
  assert.deepEqual(log.endOffsets('clicks'), new Map([[0, 0]]));
  await producer.flush();
  assert.deepEqual(
    reader.poll(10).records.map((r) => [r.offset, r.value]),
    [
      [0, 'a'],
      [1, 'b'],
    ],
  );
  assert.deepEqual(log.endOffsets('clicks'), new Map([[0, 2]]));
});

test('records come in a fixed schedule: rounds of READ_CHUNK offsets per partition, whatever the poll sizes', async (t) => {
  const { log, producer } = setup(t, 3);
  const sizes = [300, 130, 301];
  for (let p = 0; p < 3; p++)
    for (let i = 0; i < (sizes[p] as number); i++) producer.appendToPartition('clicks', p, `p${p}-${i}`);
  await producer.flush();
  const read = (pollSizes: () => number) => {
    const reader = new LogSource(log, 'clicks', { endAtOpen: true });
    const out: string[] = [];
    for (;;) {
      const res = reader.poll(pollSizes());
      out.push(...res.records.map((r) => r.value));
      if (res.ended === true) break;
    }
    reader.close();
    return out;
  };
  const expected: string[] = [];
  for (let round = 0; round * READ_CHUNK < 301; round++) {
    for (let p = 0; p < 3; p++) {
      for (let i = round * READ_CHUNK; i < Math.min((round + 1) * READ_CHUNK, sizes[p] as number); i++)
        expected.push(`p${p}-${i}`);
    }
  }
  assert.deepEqual(
    read(() => 10_000),
    expected,
  );
  assert.deepEqual(
    read(() => 7),
    expected,
  );
  let seed = 3;
  assert.deepEqual(
    read(() => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return 1 + (seed % 300);
    }),
    expected,
  );
});

test('§3.7 resumed from the positions after any prefix, the reader continues the same order', async (t) => {
  const { log, producer } = setup(t, 3);
  for (let p = 0; p < 3; p++)
    for (let i = 0; i < 200 + 70 * p; i++) producer.appendToPartition('clicks', p, `${p}:${i}`);
  await producer.flush();
  const all = readAll(new LogSource(log, 'clicks'), 10_000).map((r) => r.value);
  for (const cut of [0, 1, 127, 128, 129, 255, 256, 300, 383, 384, 385, 500, all.length - 1, all.length]) {
    const positions = new Map([0, 1, 2].map((p) => [p, 0]));
    for (const v of all.slice(0, cut)) {
      const [p] = v.split(':').map(Number) as [number];
      positions.set(p, (positions.get(p) as number) + 1);
    }
    const reader = new LogSource(log, 'clicks');
    reader.seek(positions);
    assert.deepEqual(
      readAll(reader, 10_000).map((r) => r.value),
      all.slice(cut),
      `resumed after ${cut} records`,
    );
    reader.close();
  }
});

test('a partition that is far behind is never reported caught up', async (t) => {
  const { log, producer } = setup(t, 2, { segmentBytes: 400 });
  for (let i = 0; i < 200; i++) producer.appendToPartition('clicks', 0, `r${i}`);
  await producer.flush();
  const reader = new LogSource(log, 'clicks');
  t.after(() => reader.close());
  for (let i = 0; i < 19; i++) {
    const res = reader.poll(10);
    assert.equal(res.records.length, 10);
    assert.deepEqual(res.caughtUp, [1]);
  }
  assert.deepEqual(reader.poll(10).caughtUp, [0, 1]);
});

test('records larger than the read buffer are read whole', async (t) => {
  const { log, producer } = setup(t, 1, { segmentBytes: 100_000 });
  const big = 'é'.repeat(150_000);
  producer.append('clicks', 'small');
  producer.append('clicks', big);
  producer.append('clicks', 'after');
  await producer.flush();
  const reader = new LogSource(log, 'clicks', { readBufferBytes: 1024 });
  t.after(() => reader.close());
  assert.deepEqual(
    readAll(reader).map((r) => r.value),
    ['small', big, 'after'],
  );
});

test('a read-only reader stops at a torn tail, and continues once the writer repaired it and appended', async (t) => {
  const dir = tempDir(t);
  const writer = LogDirectory.open(dir);
  writer.createTopic('clicks', { partitions: 1 });
  const producer = new LogProducer(writer);
  for (let i = 0; i < 5; i++) producer.append('clicks', `r${i}`);
  await producer.flush();
  await writer.close();
  // A writer killed in the middle of a record: half a frame at the end of the file.
  const segment = join(dir, 'clicks', 'partition-0', segmentFileName(0));
  appendFileSync(segment, Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 0, 0]));

  const readOnly = LogDirectory.open(dir, { readOnly: true });
  t.after(() => readOnly.close());
  assert.deepEqual(readOnly.endOffsets('clicks'), new Map([[0, 5]]));
  const reader = new LogSource(readOnly, 'clicks');
  t.after(() => reader.close());
  assert.deepEqual(
    readAll(reader).map((r) => r.offset),
    [0, 1, 2, 3, 4],
  );
  assert.deepEqual(reader.poll(10), { records: [], caughtUp: [0], ended: false });

  const reopened = openLog(t, dir);
  assert.equal(reopened.repairs.length, 1);
  const again = new LogProducer(reopened);
  again.append('clicks', 'r5');
  again.append('clicks', 'r6');
  await again.flush();
  assert.deepEqual(
    reader.poll(10).records.map((r) => [r.offset, r.value]),
    [
      [5, 'r5'],
      [6, 'r6'],
    ],
  );
});

test('a read-only reader in drain mode ends before a torn tail', async (t) => {
  const dir = tempDir(t);
  const writer = LogDirectory.open(dir);
  writer.createTopic('clicks', { partitions: 1 });
  const producer = new LogProducer(writer);
  for (let i = 0; i < 3; i++) producer.append('clicks', `r${i}`);
  await producer.flush();
  await writer.close();
  appendFileSync(join(dir, 'clicks', 'partition-0', segmentFileName(0)), Buffer.from([0, 0, 0, 90, 9, 9]));
  const reader = new LogSource(LogDirectory.open(dir, { readOnly: true }), 'clicks', { endAtOpen: true });
  t.after(() => reader.close());
  const res = reader.poll(10);
  assert.equal(res.records.length, 3);
  assert.equal(res.ended, true);
});

test('seek past the end of the log throws FM_LOG_CORRUPT: the log lost records already processed', async (t) => {
  const { log, producer } = setup(t, 2);
  producer.appendToPartition('clicks', 0, 'only');
  await producer.flush();
  const reader = new LogSource(log, 'clicks');
  t.after(() => reader.close());
  reader.seek(new Map([[0, 1]]));
  assert.throws(
    () => reader.seek(new Map([[0, 5]])),
    (err) => isFlowmarkError(err, 'FM_LOG_CORRUPT') && /offset 5.*ends at offset 1/.test(err.message),
  );
});

test('a damaged record in a sealed segment throws FM_LOG_CORRUPT on poll, naming file and byte', async (t) => {
  const { dir, log, producer } = setup(t, 1, { segmentBytes: 200 });
  for (let i = 0; i < 30; i++) producer.append('clicks', `record-${i}`);
  await producer.flush();
  const partitionDir = join(dir, 'clicks', 'partition-0');
  assert.ok(listSegmentBases(partitionDir).length > 3);
  const file = join(partitionDir, segmentFileName(0));
  flipByte(file, 24 + 3); // inside the payload of offset 0
  const reader = new LogSource(log, 'clicks');
  t.after(() => reader.close());
  assert.throws(
    () => readAll(reader),
    (err) => isFlowmarkError(err, 'FM_LOG_CORRUPT') && err.message.includes(file) && err.message.includes('at byte 0'),
  );
});

test('damage in the active segment followed by valid records throws FM_LOG_CORRUPT on poll', async (t) => {
  const { dir, log, producer } = setup(t);
  for (let i = 0; i < 10; i++) producer.append('clicks', `record-${i}`);
  await producer.flush();
  const frame = 24 + 'record-0'.length;
  flipByte(join(dir, 'clicks', 'partition-0', segmentFileName(0)), 3 * frame + 30);
  const reader = new LogSource(log, 'clicks');
  t.after(() => reader.close());
  assert.throws(
    () => readAll(reader),
    (err) => isFlowmarkError(err, 'FM_LOG_CORRUPT') && err.message.includes(`at byte ${3 * frame}`),
  );
});

test('reading below the first retained offset starts at the first retained one', async (t) => {
  const { log, producer } = setup(t, 1, { segmentBytes: 200, retentionBytes: 400, retainUnconsumed: false });
  for (let i = 0; i < 40; i++) producer.append('clicks', `record-${i}`);
  await producer.flush();
  log.enforceRetention();
  const start = log.startOffsets('clicks').get(0) as number;
  assert.ok(start > 0);
  const reader = new LogSource(log, 'clicks');
  t.after(() => reader.close());
  reader.seek(new Map([[0, 0]]));
  const records = readAll(reader);
  assert.equal(records[0]?.offset, start);
  assert.equal(records[0]?.value, `record-${start}`);
  assert.equal(records.at(-1)?.offset, 39);
});

test('commit records the consumer position in the log directory; a new reader registers its start', async (t) => {
  const { log, producer } = setup(t, 2);
  producer.append('clicks', 'a');
  await producer.flush();
  const reader = new LogSource(log, 'clicks', { consumer: 'pipeline' });
  t.after(() => reader.close());
  assert.deepEqual(log.committedOffsets('clicks', 'pipeline')?.offsets, { 0: 0, 1: 0 });
  readAll(reader);
  reader.commit(new Map([[0, 1]]));
  assert.deepEqual(log.committedOffsets('clicks', 'pipeline')?.offsets, { 0: 1, 1: 0 });
  assert.equal(log.committedOffsets('clicks', 'nobody'), undefined);
});

test('options are checked: unknown partitions, repeated partitions, bad consumer names', (t) => {
  const { log } = setup(t, 2);
  assert.throws(() => new LogSource(log, 'clicks', { partitions: [2] }), RangeError);
  assert.throws(
    () => new LogSource(log, 'clicks', { partitions: [1, 1] }),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID'),
  );
  assert.throws(
    () => new LogSource(log, 'clicks', { consumer: '../x' }),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID'),
  );
  assert.throws(
    () => new LogSource(log, 'nope'),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID'),
  );
  const one = new LogSource(log, 'clicks', { partitions: [1] });
  t.after(() => one.close());
  assert.deepEqual(one.partitions, [1]);
});
