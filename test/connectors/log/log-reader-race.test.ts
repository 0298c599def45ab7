/**
 * A reader in a read-only opener races with the writer of another process: a record it finds
 * incomplete may be complete, with more records after it, by the time it looks at the file size.
 * That is a write in progress, never corruption: `endOffset()`, `lag()` and `poll()` must read the
 * record again before calling it damage. Genuine damage is still reported, during and after.
 *
 * The deterministic cases put the writer's write exactly between the reader's read and its stat
 * of the file (a hook on `fs.fstatSync` that writes the rest of the record with the real file
 * system, then stats); the last case runs a real writer process beside a reader.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs, { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LogDirectory } from '../../../src/connectors/log/log-directory.ts';
import { LogProducer } from '../../../src/connectors/log/log-producer.ts';
import { segmentFileName } from '../../../src/connectors/log/log-segment.ts';
import { LogSource } from '../../../src/connectors/log/log-source.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { payloadFor } from './fixtures/crash-payload.ts';
import { tempDir } from './log-fixtures.ts';

const FRAME_HEADER = 24;
const RECORDS = 8;
/** The record the writer is in the middle of when the reader looks. */
const TORN = 5;

function frameBytes(n: number): number {
  return FRAME_HEADER + Buffer.byteLength(payloadFor(n), 'utf8');
}

function frameStart(n: number): number {
  let position = 0;
  for (let i = 0; i < n; i++) position += frameBytes(i);
  return position;
}

/**
 * A log with RECORDS records in one partition, then cut inside record TORN, as a reader in
 * another process sees it while the writer's write of that record is under way. Returns the
 * segment file and the bytes the writer has still to write.
 */
async function logMidWrite(t: test.TestContext): Promise<{ dir: string; file: string; rest: Buffer; cut: number }> {
  const dir = tempDir(t);
  const writer = LogDirectory.open(dir, { fsync: false });
  writer.createTopic('clicks', { partitions: 1 });
  const producer = new LogProducer(writer);
  for (let i = 0; i < RECORDS; i++) producer.append('clicks', payloadFor(i));
  await writer.close();
  const file = join(dir, 'clicks', 'partition-0', segmentFileName(0));
  const whole = readFileSync(file);
  assert.equal(whole.length, frameStart(RECORDS));
  const cut = frameStart(TORN) + FRAME_HEADER + 3; // the header is there, the payload only begun
  const fd = openSync(file, 'r+');
  try {
    ftruncateSync(fd, cut);
  } finally {
    closeSync(fd);
  }
  return { dir, file, rest: whole.subarray(cut), cut };
}

/**
 * Makes the writer's write of `bytes` at `position` land at the `nth` (1-based) `fstatSync` the
 * reader makes from now on — after it read the file, before it learns the new size. Returns a
 * function telling whether it happened.
 */
function writeAtStat(t: test.TestContext, file: string, position: number, bytes: Buffer, nth: number): () => boolean {
  const real = fs.fstatSync;
  let calls = 0;
  let done = false;
  const restore = (): void => {
    fs.fstatSync = real;
    syncBuiltinESMExports();
  };
  fs.fstatSync = ((...args: Parameters<typeof real>) => {
    if (++calls === nth) {
      restore();
      const fd = openSync(file, 'r+');
      try {
        writeSync(fd, bytes, 0, bytes.length, position);
      } finally {
        closeSync(fd);
      }
      done = true;
    }
    return real(...args);
  }) as typeof real;
  syncBuiltinESMExports();
  t.after(restore);
  return () => done;
}

function openReader(t: test.TestContext, dir: string): { readOnly: LogDirectory; reader: LogSource } {
  const readOnly = LogDirectory.open(dir, { readOnly: true });
  t.after(() => readOnly.close());
  const reader = new LogSource(readOnly, 'clicks', { consumer: 'watcher' });
  t.after(() => reader.close());
  return { readOnly, reader };
}

const allOffsets = Array.from({ length: RECORDS }, (_, i) => i);

test('endOffset() of a read-only opener: a record completed while it looked is not corruption', async (t) => {
  const { dir, file, rest, cut } = await logMidWrite(t);
  const readOnly = LogDirectory.open(dir, { readOnly: true });
  t.after(() => readOnly.close());
  const happened = writeAtStat(t, file, cut, rest, 1);
  const end = readOnly.endOffsets('clicks').get(0);
  assert.ok(happened(), 'the write landed between the read and the stat');
  // Records TORN… were not whole when it read them: TORN or RECORDS are both right answers.
  assert.ok(end === TORN || end === RECORDS, `end offset ${end}`);
  assert.deepEqual(readOnly.endOffsets('clicks'), new Map([[0, RECORDS]]));
});

test('lag() of a read-only reader (published at every checkpoint) does not fail on a write in progress', async (t) => {
  const { dir, file, rest, cut } = await logMidWrite(t);
  const { reader } = openReader(t, dir);
  assert.equal(reader.lag(), TORN, 'before the write: the whole records');
  const happened = writeAtStat(t, file, cut, rest, 1);
  const lag = reader.lag();
  assert.ok(happened(), 'the write landed between the read and the stat');
  assert.ok(lag === TORN || lag === RECORDS, `lag ${lag}`);
  assert.equal(reader.lag(), RECORDS);
  assert.deepEqual(readAllOffsets(reader), allOffsets);
});

test('poll() of a read-only reader: a record completed during its tail check is read, not called corrupt', async (t) => {
  const { dir, file, rest, cut } = await logMidWrite(t);
  const { reader } = openReader(t, dir);
  // The poll stats the file twice: the schedule's end offset (still the cut file), then the tail
  // check of the read that stopped inside record TORN — the write lands there.
  const happened = writeAtStat(t, file, cut, rest, 2);
  const first = reader.poll(100).records.map((r) => r.offset);
  assert.ok(happened(), 'the write landed between the read and the stat');
  const offsets = [...first, ...readAllOffsets(reader)];
  assert.deepEqual(offsets, allOffsets);
});

test('a read-only reader still reports a record that stays damaged after the write, with valid records after it', async (t) => {
  for (const nth of [1, 2]) {
    await t.test(nth === 1 ? 'lag()' : 'poll()', async (t) => {
      const { dir, file, rest, cut } = await logMidWrite(t);
      const { reader } = openReader(t, dir);
      const damaged = Buffer.from(rest);
      damaged[2] = (damaged[2] as number) ^ 0xff; // in the payload of record TORN: its CRC fails
      writeAtStat(t, file, cut, damaged, nth);
      const corruptAtTorn = (err: unknown): boolean =>
        isFlowmarkError(err, 'FM_LOG_CORRUPT') &&
        err.message.includes(`at byte ${frameStart(TORN)}`) &&
        err.message.includes(`offset ${TORN}`);
      // lag() counts past the damage (the records after it are there); poll() must deliver the
      // damaged record, so it stops there.
      if (nth === 1) assert.equal(reader.lag(), RECORDS);
      else assert.throws(() => readAllOffsets(reader), corruptAtTorn);
      // And once the writer is done, every way of looking says so.
      assert.equal(reader.lag(), RECORDS - (reader.positions().get(0) ?? 0));
      assert.throws(() => readAllOffsets(reader), corruptAtTorn);
    });
  }
});

function readAllOffsets(reader: LogSource): number[] {
  const out: number[] = [];
  for (;;) {
    const res = reader.poll(100);
    out.push(...res.records.map((r) => r.offset));
    if (res.records.length === 0) return out;
  }
}

test('a read-only reader beside a writer process: lag() and poll() in a loop never fail, and see every record once', {
  timeout: 120_000,
}, async (t) => {
  const dir = tempDir(t);
  const script = fileURLToPath(new URL('./fixtures/append-for-readers.ts', import.meta.url));
  // stdin stays open while the test runs: the child stops when it closes (also if this process dies).
  const child = spawn(process.execPath, [script, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  t.after(async () => {
    child.stdin.end();
    await exited;
  });
  const lines = createInterface({ input: child.stdout });
  const [first] = await Promise.race([
    (async () => {
      for await (const line of lines) return [line];
      return [undefined];
    })(),
    exited.then(() => [undefined]),
  ]);
  assert.equal(first, 'ready', `the writer did not start:\n${stderr}`);

  const readOnly = LogDirectory.open(dir, { readOnly: true });
  t.after(() => readOnly.close());
  const reader = new LogSource(readOnly, 'live', { consumer: 'watcher', readBufferBytes: 4096 });
  t.after(() => reader.close());
  const target = 300_000;
  const next = [0, 0];
  let delivered = 0;
  let polls = 0;
  while (delivered < target) {
    // It may finish its records (exit 0) before the reader gets through them; anything else is a failure.
    assert.ok(child.signalCode === null && (child.exitCode ?? 0) === 0, `the writer failed:\n${stderr}`);
    assert.ok(reader.lag() >= 0);
    const res = reader.poll(500);
    for (const r of res.records) {
      assert.equal(r.offset, next[r.partition], `partition ${r.partition}`);
      assert.equal(r.value, payloadFor(r.offset));
      next[r.partition] = r.offset + 1;
    }
    delivered += res.records.length;
    // Let the event loop see the child's exit; the writer runs on regardless.
    if (++polls % 64 === 0 || res.records.length === 0) await turn();
  }
  assert.ok((next[0] as number) > 0 && (next[1] as number) > 0, `read up to ${next.join(', ')}`);
});
