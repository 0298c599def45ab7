/**
 * Crash safety of the embedded log: whatever byte a crash stops the writer at, reopening keeps
 * every acknowledged (flushed) record, intact and in order, cuts the torn tail away, and continues
 * the offsets after it; damage in the middle is reported, never skipped. Ends with a real
 * `kill -9` of a child process that appends and flushes in a loop.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, ftruncateSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LogDirectory } from '../../../src/connectors/log/log-directory.ts';
import type { LogOptions } from '../../../src/connectors/log/log-options.ts';
import { LogProducer } from '../../../src/connectors/log/log-producer.ts';
import { listSegmentBases, segmentFileName } from '../../../src/connectors/log/log-segment.ts';
import { LogSource } from '../../../src/connectors/log/log-source.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { payloadFor } from './fixtures/crash-payload.ts';
import { flipByte, openLog, readAll, tempDir } from './log-fixtures.ts';

const FRAME_HEADER = 24;

function frameBytes(n: number): number {
  return FRAME_HEADER + Buffer.byteLength(payloadFor(n), 'utf8');
}

/** A deterministic pseudo-random generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes `acked` records and flushes, then `more` records that are written but (as far as a crash goes) not acknowledged. */
async function writeLog(dir: string, acked: number, more: number, options: LogOptions = {}): Promise<void> {
  // Cutting the file simulates the crash, so waiting for the disk would only slow the test down
  // (the kill -9 test at the end runs with fsync on).
  const log = LogDirectory.open(dir, { fsync: false, ...options });
  log.createTopic('t', { partitions: 1 });
  const producer = new LogProducer(log);
  for (let i = 0; i < acked; i++) producer.append('t', payloadFor(i));
  await producer.flush();
  for (let i = acked; i < acked + more; i++) producer.append('t', payloadFor(i));
  await log.close();
}

function lastSegment(dir: string): { file: string; base: number } {
  const partitionDir = join(dir, 't', 'partition-0');
  const base = listSegmentBases(partitionDir).at(-1) as number;
  return { file: join(partitionDir, segmentFileName(base)), base };
}

function truncate(file: string, size: number): void {
  const fd = openSync(file, 'r+');
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

/** Reopens the log and checks records 0..expectedEnd−1, then that appends continue at expectedEnd. */
async function checkReopened(t: test.TestContext, dir: string, expectedEnd: number, options: LogOptions = {}) {
  const log = openLog(t, dir, options);
  assert.deepEqual(log.endOffsets('t'), new Map([[0, expectedEnd]]));
  const reader = new LogSource(log, 't');
  t.after(() => reader.close());
  const records = readAll(reader);
  assert.equal(records.length, expectedEnd);
  records.forEach((r, i) => {
    assert.equal(r.offset, i);
    assert.equal(r.value, payloadFor(i));
  });
  const producer = new LogProducer(log);
  const appended = [0, 1, 2].map((i) => producer.append('t', payloadFor(expectedEnd + i)).offset);
  assert.deepEqual(appended, [expectedEnd, expectedEnd + 1, expectedEnd + 2]);
  await producer.flush();
  assert.deepEqual(
    readAll(reader).map((r) => [r.offset, r.value]),
    [0, 1, 2].map((i) => [expectedEnd + i, payloadFor(expectedEnd + i)]),
  );
  return log;
}

test('a crash at any byte of unacknowledged records loses nothing acknowledged; offsets continue after the cut', async (t) => {
  const acked = 40;
  const more = 25;
  let ackedBytes = 0;
  for (let i = 0; i < acked; i++) ackedBytes += frameBytes(i);
  const ends: number[] = [];
  let end = ackedBytes;
  for (let i = acked; i < acked + more; i++) ends.push((end += frameBytes(i)));
  const total = end;
  const rnd = random(20_240_611);
  // Record boundaries, inside a length field, inside the header, inside a payload, one byte short, and random bytes.
  const cuts = [ackedBytes, ackedBytes + 1, ackedBytes + 3, ackedBytes + 13, ackedBytes + 30, total - 1];
  for (let i = 0; i < 10; i++) cuts.push(ackedBytes + Math.floor(rnd() * (total - ackedBytes)));
  for (const cut of cuts) {
    await t.test(`cut at byte ${cut} of ${total}`, async (t) => {
      const dir = tempDir(t);
      await writeLog(dir, acked, more);
      const { file } = lastSegment(dir);
      assert.equal(statSync(file).size, total);
      truncate(file, cut);
      const whole = acked + ends.filter((e) => e <= cut).length;
      const log = await checkReopened(t, dir, whole);
      const boundary = cut === ackedBytes || ends.includes(cut);
      assert.equal(log.repairs.length, boundary ? 0 : 1);
      if (!boundary) {
        assert.deepEqual(
          { ...log.repairs[0], file: undefined },
          {
            topic: 't',
            partition: 0,
            file: undefined,
            position: whole === acked ? ackedBytes : (ends[whole - acked - 1] as number),
            removedBytes: cut - (whole === acked ? ackedBytes : (ends[whole - acked - 1] as number)),
            nextOffset: whole,
          },
        );
      }
    });
  }
});

test('a torn tail in the last of several segments is cut; the sealed segments are untouched', async (t) => {
  const dir = tempDir(t);
  const options = { segmentBytes: 2000 };
  await writeLog(dir, 150, 10, options);
  const { file, base } = lastSegment(dir);
  assert.ok(base > 0, 'several segments');
  const size = statSync(file).size;
  let cut = size;
  let whole = 160;
  while (cut > size - 20 && whole > base) cut -= frameBytes(--whole);
  truncate(file, cut + 11);
  await checkReopened(t, dir, whole, options);
});

test('a record whose CRC does not match at the very end is a torn tail: it is cut away', async (t) => {
  const dir = tempDir(t);
  await writeLog(dir, 20, 0);
  const { file } = lastSegment(dir);
  flipByte(file, statSync(file).size - 2); // in the last payload
  const log = await checkReopened(t, dir, 19);
  assert.equal(log.repairs[0]?.removedBytes, frameBytes(19));
});

test('a zero-filled tail (a power loss after the file grew) is cut away', async (t) => {
  const dir = tempDir(t);
  await writeLog(dir, 12, 0);
  appendFileSync(lastSegment(dir).file, Buffer.alloc(8192));
  const log = await checkReopened(t, dir, 12);
  assert.equal(log.repairs[0]?.removedBytes, 8192);
});

test('a CRC mismatch in the middle is damage, not a torn tail: nothing is cut, and a reader that needs it is told where and what to do', async (t) => {
  const dir = tempDir(t);
  await writeLog(dir, 30, 0);
  const { file } = lastSegment(dir);
  let position = 0;
  for (let i = 0; i < 10; i++) position += frameBytes(i);
  flipByte(file, position + FRAME_HEADER + 2); // payload of offset 10
  const log = openLog(t, dir);
  assert.deepEqual(
    log.damaged.map((d) => [d.file, d.position, d.firstOffset, d.endOffset]),
    [[file, position, 10, 11]],
  );
  assert.equal(log.repairs.length, 0);
  assert.equal(log.endOffsets('t').get(0), 30, 'the records after it are there');
  assert.equal(
    statSync(file).size,
    [...Array(30).keys()].reduce((s, i) => s + frameBytes(i), 0),
    'nothing was cut',
  );
  assert.throws(
    () => readAll(new LogSource(log, 't')),
    (err) =>
      isFlowmarkError(err, 'FM_LOG_CORRUPT') &&
      err.message.includes(file) &&
      err.message.includes(`at byte ${position}`) &&
      err.message.includes('offset 10 cannot be read') &&
      err.message.includes('flowmark log repair'),
  );
  // A read-only look beside it sees the end past the damage.
  const readOnly = LogDirectory.open(dir, { readOnly: true });
  t.after(() => readOnly.close());
  assert.equal(readOnly.endOffsets('t').get(0), 30);
});

test('a damaged length field in the middle is damage, not a torn tail (nothing after it is dropped)', async (t) => {
  const dir = tempDir(t);
  await writeLog(dir, 30, 0);
  const { file } = lastSegment(dir);
  let position = 0;
  for (let i = 0; i < 7; i++) position += frameBytes(i);
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.from([0x00, 0xff, 0xff, 0xff]), 0, 4, position); // runs far past the end of the file
  } finally {
    closeSync(fd);
  }
  const log = openLog(t, dir);
  assert.deepEqual(
    log.damaged.map((d) => [d.position, d.firstOffset, d.endOffset]),
    [[position, 7, 8]],
  );
  assert.equal(log.endOffsets('t').get(0), 30);
  assert.equal(log.repairs.length, 0, 'nothing was cut');
});

test('kill -9 of a process appending and flushing in a loop: every acknowledged record survives, intact', {
  timeout: 120_000,
}, async (t) => {
  const dir = tempDir(t);
  const script = fileURLToPath(new URL('./fixtures/append-until-killed.ts', import.meta.url));
  const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let acked = -1;
  // Where in a write the kill lands depends on timing; the threshold only makes sure there is history.
  const threshold = 2500;
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const m = /^acked (\d+)$/.exec(line);
    assert.ok(m, `unexpected output from the child: ${line}\n${stderr}`);
    acked = Math.max(acked, Number(m[1]));
    if (acked >= threshold && child.signalCode === null) child.kill('SIGKILL');
  }
  await exited;
  assert.equal(child.signalCode, 'SIGKILL', `the child stopped by itself:\n${stderr}`);
  assert.ok(acked >= threshold);

  const log = openLog(t, dir, { segmentBytes: 64 * 1024 });
  const end = log.endOffsets('crash').get(0) as number;
  assert.ok(end > acked, `offsets 0..${acked} were acknowledged, the log ends at ${end}`);
  const reader = new LogSource(log, 'crash', { endAtOpen: true });
  t.after(() => reader.close());
  let expected = 0;
  for (;;) {
    const res = reader.poll(4096);
    for (const r of res.records) {
      assert.equal(r.offset, expected);
      assert.equal(r.value, payloadFor(expected));
      expected++;
    }
    if (res.ended) break;
  }
  assert.equal(expected, end);
  // The log goes on after the crash.
  const producer = new LogProducer(log);
  assert.equal(producer.append('crash', payloadFor(end)).offset, end);
  await producer.flush();
});
