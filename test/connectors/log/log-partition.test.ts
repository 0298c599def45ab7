/**
 * A partition's segments: rolling at the configured size, segment names = base offsets, and
 * retention by size and by age (with an injected clock), which deletes whole old segments only,
 * never the active one, never unconsumed records unless told to, and never changes an offset.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LogDirectory } from '../../../src/connectors/log/log-directory.ts';
import type { LogOptions } from '../../../src/connectors/log/log-options.ts';
import { LogProducer } from '../../../src/connectors/log/log-producer.ts';
import { listSegmentBases, segmentFileName } from '../../../src/connectors/log/log-segment.ts';
import { LogSource } from '../../../src/connectors/log/log-source.ts';
import { openLog, readAll, TestClock, tempDir } from './log-fixtures.ts';

const MINUTE = 60_000;

function setup(t: test.TestContext, options: LogOptions) {
  const dir = tempDir(t);
  const log = openLog(t, dir, options);
  log.createTopic('t', { partitions: 1 });
  return { dir, log, producer: new LogProducer(log), partitionDir: join(dir, 't', 'partition-0') };
}

/** 24-byte header + 26-byte payload = 50 bytes per record. */
function payload(i: number): string {
  return `record-${String(i).padStart(19, '0')}`;
}

function offsetsOf(log: LogDirectory): number[] {
  const reader = new LogSource(log, 't', { consumer: 'inspector' });
  try {
    reader.seek(new Map([[0, 0]]));
    return readAll(reader).map((r) => r.offset);
  } finally {
    reader.close();
  }
}

test('segments roll at segmentBytes and are named by the offset of their first record', async (t) => {
  const { log, producer, partitionDir } = setup(t, { segmentBytes: 1000 });
  for (let i = 0; i < 100; i++) producer.append('t', payload(i));
  await producer.flush();
  const bases = listSegmentBases(partitionDir);
  assert.deepEqual(bases, [0, 20, 40, 60, 80]);
  for (const base of bases) {
    const file = join(partitionDir, segmentFileName(base));
    assert.equal(statSync(file).size, 1000, file);
  }
  assert.equal(segmentFileName(20), '00000000000000000020.log');
  assert.deepEqual(readdirSync(partitionDir).sort(), bases.map(segmentFileName));
  assert.deepEqual(
    offsetsOf(log),
    Array.from({ length: 100 }, (_, i) => i),
  );
  // After a reopen, appends go on in the last segment.
  await log.close();
  const again = openLog(t, join(partitionDir, '..', '..'), { segmentBytes: 1000 });
  const producer2 = new LogProducer(again);
  assert.equal(producer2.append('t', payload(100)).offset, 100);
  await producer2.flush();
  assert.deepEqual(listSegmentBases(partitionDir), [0, 20, 40, 60, 80, 100]);
});

test('a record larger than segmentBytes gets a segment of its own', async (t) => {
  const { log, producer, partitionDir } = setup(t, { segmentBytes: 100 });
  producer.append('t', 'small');
  producer.append('t', 'x'.repeat(500));
  producer.append('t', 'small again');
  await producer.flush();
  assert.deepEqual(listSegmentBases(partitionDir), [0, 1, 2]);
  assert.equal(statSync(join(partitionDir, segmentFileName(1))).size, 524);
  assert.deepEqual(offsetsOf(log), [0, 1, 2]);
});

test('retention by size deletes the oldest segments until the partition fits; offsets do not change', async (t) => {
  const { log, producer, partitionDir } = setup(t, {
    segmentBytes: 1000,
    retentionBytes: 2500,
    retentionOnRoll: false,
  });
  for (let i = 0; i < 110; i++) producer.append('t', payload(i));
  await producer.flush();
  assert.deepEqual(listSegmentBases(partitionDir), [0, 20, 40, 60, 80, 100]);
  const deleted = log.enforceRetention();
  // 5 × 1000 + 500 bytes: deleting 0, 20 and 40 leaves 2500, which is not more than 2500.
  assert.deepEqual(
    deleted.map((d) => [d.baseOffset, d.endOffset, d.bytes, d.reason]),
    [
      [0, 20, 1000, 'size'],
      [20, 40, 1000, 'size'],
      [40, 60, 1000, 'size'],
    ],
  );
  assert.deepEqual(listSegmentBases(partitionDir), [60, 80, 100]);
  assert.deepEqual(log.startOffsets('t'), new Map([[0, 60]]));
  assert.deepEqual(log.endOffsets('t'), new Map([[0, 110]]));
  assert.deepEqual(
    offsetsOf(log),
    Array.from({ length: 50 }, (_, i) => 60 + i),
  );
  assert.deepEqual(log.enforceRetention(), [], 'nothing more to delete');
});

test('retention never deletes the active segment', async (t) => {
  const clock = new TestClock();
  const { log, producer, partitionDir } = setup(t, { retentionBytes: 100, retentionMs: MINUTE, nowMs: clock.read });
  for (let i = 0; i < 50; i++) producer.append('t', payload(i));
  await producer.flush();
  clock.nowMs += 60 * MINUTE;
  assert.deepEqual(log.enforceRetention(), []);
  assert.deepEqual(listSegmentBases(partitionDir), [0]);
});

test('retention by age deletes a segment once all its records are older than retentionMs (injected clock)', async (t) => {
  const clock = new TestClock();
  const t0 = clock.nowMs;
  const { log, producer, partitionDir } = setup(t, {
    segmentBytes: 1000,
    retentionMs: 15 * MINUTE,
    retentionOnRoll: false,
    nowMs: clock.read,
  });
  // Segment 0 written at t0, segment 20 at t0 + 10 min, segment 40 at t0 + 20 min, 60 at t0 + 30 min.
  for (let i = 0; i < 70; i++) {
    clock.nowMs = t0 + Math.floor(i / 20) * 10 * MINUTE;
    producer.append('t', payload(i));
  }
  await producer.flush();
  assert.deepEqual(listSegmentBases(partitionDir), [0, 20, 40, 60]);

  clock.nowMs = t0 + 24 * MINUTE; // cutoff t0 + 9 min: segment 0's records are at most as recent as t0 + 10 min
  assert.deepEqual(log.enforceRetention(), []);
  clock.nowMs = t0 + 25 * MINUTE + 1; // cutoff just after t0 + 10 min
  assert.deepEqual(
    log.enforceRetention().map((d) => [d.baseOffset, d.reason]),
    [[0, 'age']],
  );
  clock.nowMs = t0 + 120 * MINUTE;
  assert.deepEqual(
    log.enforceRetention().map((d) => d.baseOffset),
    [20, 40],
  );
  assert.deepEqual(listSegmentBases(partitionDir), [60], 'the active segment stays, however old');
  assert.deepEqual(
    offsetsOf(log),
    Array.from({ length: 10 }, (_, i) => 60 + i),
  );
});

test('append times never go backwards in a partition, even when the clock does', async (t) => {
  const clock = new TestClock();
  const { log, producer } = setup(t, {
    segmentBytes: 1000,
    retentionMs: MINUTE,
    retentionOnRoll: false,
    nowMs: clock.read,
  });
  const t0 = clock.nowMs;
  for (let i = 0; i < 20; i++) producer.append('t', payload(i));
  clock.nowMs = t0 - 10 * MINUTE; // the clock steps back
  for (let i = 20; i < 45; i++) producer.append('t', payload(i));
  await producer.flush();
  // Segments 20 and 40 got append time t0 (clamped), not t0 − 10 min, so segment 0 is not taken for older than it is.
  clock.nowMs = t0 + MINUTE - 1;
  assert.deepEqual(log.enforceRetention(), []);
  clock.nowMs = t0 + MINUTE + 1;
  assert.deepEqual(
    log.enforceRetention().map((d) => d.baseOffset),
    [0, 20],
  );
});

test('retention keeps segments holding records at or after the slowest consumer position, unless told not to', async (t) => {
  for (const retainUnconsumed of [true, false]) {
    await t.test(`retainUnconsumed: ${retainUnconsumed}`, async (t) => {
      const { log, producer, partitionDir } = setup(t, {
        segmentBytes: 1000,
        retentionBytes: 1000,
        retentionOnRoll: false,
        retainUnconsumed,
      });
      for (let i = 0; i < 100; i++) producer.append('t', payload(i));
      await producer.flush();
      const fast = new LogSource(log, 't', { consumer: 'fast' });
      const slow = new LogSource(log, 't', { consumer: 'slow' });
      t.after(() => fast.close());
      t.after(() => slow.close());
      fast.commit(new Map([[0, 100]]));
      slow.commit(new Map([[0, 45]])); // has not read offsets 45.. yet: segments 40, 60, 80 hold them
      log.enforceRetention();
      assert.deepEqual(listSegmentBases(partitionDir), retainUnconsumed ? [40, 60, 80] : [80]);
      slow.commit(new Map([[0, 60]]));
      log.enforceRetention();
      assert.deepEqual(listSegmentBases(partitionDir), retainUnconsumed ? [60, 80] : [80]);
    });
  }
});

test('retention runs on roll when retentionOnRoll is on (the default)', async (t) => {
  const { producer, partitionDir } = setup(t, { segmentBytes: 1000, retentionBytes: 2000, retainUnconsumed: false });
  for (let i = 0; i < 200; i++) producer.append('t', payload(i));
  await producer.flush();
  const bases = listSegmentBases(partitionDir);
  assert.ok(bases.length <= 3, `segments left: ${bases.join(', ')}`);
  assert.equal(bases.at(-1), 180);
});

test('a reader positioned in a segment that retention deletes finishes it (the open file stays readable)', async (t) => {
  const { log, producer } = setup(t, {
    segmentBytes: 1000,
    retentionBytes: 1000,
    retentionOnRoll: false,
    retainUnconsumed: false,
  });
  for (let i = 0; i < 60; i++) producer.append('t', payload(i));
  await producer.flush();
  const reader = new LogSource(log, 't');
  t.after(() => reader.close());
  const head = reader.poll(5).records.map((r) => r.offset);
  assert.deepEqual(head, [0, 1, 2, 3, 4]);
  log.enforceRetention(); // deletes segments 0 and 20
  const rest = readAll(reader).map((r) => r.offset);
  // The rest of segment 0 (open), then segment 20 is gone: on to 40, the first retained.
  assert.deepEqual(rest, [
    ...Array.from({ length: 15 }, (_, i) => 5 + i),
    ...Array.from({ length: 20 }, (_, i) => 40 + i),
  ]);
});
