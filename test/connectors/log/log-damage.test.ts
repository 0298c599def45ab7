/**
 * Damage in the middle of the log (issue 12: one flipped byte in an already-processed record
 * blocked every run and import for good): records a reader has processed are history — damage
 * there is reported and skipped; damage in records it needs stops it with a message naming the
 * segment, the offsets and `flowmark log repair`; `check()` lists damage, `repair()` quarantines
 * it and keeps every later record; segments every consumer has read past are deleted by default.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LogDamage } from '../../../src/connectors/log/log-damage.ts';
import type { LogOptions } from '../../../src/connectors/log/log-options.ts';
import { LogProducer } from '../../../src/connectors/log/log-producer.ts';
import { listSegmentBases, segmentFileName } from '../../../src/connectors/log/log-segment.ts';
import { LogSource } from '../../../src/connectors/log/log-source.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { flipByte, openLog, readAll, tempDir } from './log-fixtures.ts';

/** 24-byte header + 10-byte payload. */
const FRAME = 34;
const payload = (i: number) => `record-${String(i).padStart(3, '0')}`;

async function setup(t: test.TestContext, records: number, options: LogOptions = {}) {
  const dir = tempDir(t);
  const log = openLog(t, dir, options);
  log.createTopic('t', { partitions: 1 });
  const producer = new LogProducer(log);
  for (let i = 0; i < records; i++) producer.append('t', payload(i));
  await producer.flush();
  const partitionDir = join(dir, 't', 'partition-0');
  return { dir, log, partitionDir, file: (base: number) => join(partitionDir, segmentFileName(base)) };
}

for (const where of ['the active segment', 'a sealed segment'] as const) {
  test(`damage in ${where}: a reader past it skips it and says so; a reader that needs it stops, naming segment, offset and log repair`, async (t) => {
    const sealed = where === 'a sealed segment';
    const { log, file } = await setup(t, 30, sealed ? { segmentBytes: 10 * FRAME, deleteConsumed: false } : {});
    flipByte(file(0), 4 * FRAME + 24 + 2); // the payload of offset 4
    const told: LogDamage[] = [];
    const past = new LogSource(log, 't', { consumer: 'done', onDamage: (d) => told.push(d) });
    t.after(() => past.close());
    // A position in the damaged segment, past the damage (a later segment would not even be read).
    const at = sealed ? 8 : 12;
    past.seek(new Map([[0, at]]));
    // Skipping to it reads the offsets before without their CRC: damage in a payload is not even seen …
    assert.deepEqual(
      readAll(past).map((r) => r.offset),
      Array.from({ length: 30 - at }, (_, i) => at + i),
    );
    // … but a damaged length field is, and it is skipped and told once.
    flipByte(file(0), 6 * FRAME + 1);
    past.seek(new Map([[0, at]]));
    assert.equal(readAll(past).length, 30 - at);
    past.seek(new Map([[0, at]]));
    readAll(past);
    assert.deepEqual(
      told.map((d) => [d.firstOffset, d.endOffset, d.position]),
      [[6, 7, 6 * FRAME]],
    );

    const fresh = new LogSource(log, 't', { consumer: 'fresh' });
    t.after(() => fresh.close());
    assert.throws(
      () => readAll(fresh),
      (err) =>
        isFlowmarkError(err, 'FM_LOG_CORRUPT') &&
        err.message.includes(`log topic t partition 0: offset 4 cannot be read — segment ${file(0)}`) &&
        err.message.includes(`at byte ${4 * FRAME}`) &&
        err.message.includes('flowmark log repair'),
    );
  });
}

test('check() lists damage (consumed or not); repair() quarantines it, keeps every later record and its offset', async (t) => {
  const { dir, log, partitionDir, file } = await setup(t, 30, { segmentBytes: 10 * FRAME });
  flipByte(file(0), 2 * FRAME + 24 + 1); // offset 2, sealed segment 0
  flipByte(file(20), 5 * FRAME + 24 + 1); // offset 25, the active segment
  // A consumer at 9 has processed offset 2 but not 25 (at 10, segment 0 would be deleted as history).
  const consumer = new LogSource(log, 't', { consumer: 'job' });
  consumer.commit(new Map([[0, 9]]));
  consumer.close();
  const found = log.check();
  assert.deepEqual(
    found.map((f) => [f.kind, f.firstOffset, f.endOffset, f.consumed, f.file]),
    [
      ['damaged', 2, 3, true, file(0)],
      ['damaged', 25, 26, false, file(20)],
    ],
  );
  const damaged = readFileSync(file(20)).subarray(5 * FRAME, 6 * FRAME);
  const done = log.repair();
  assert.equal(done.length, 2);
  assert.deepEqual(done[1]?.bytes, damaged, 'the damaged bytes are what is quarantined');
  assert.ok(existsSync(done[1]?.region.copy as string));
  assert.deepEqual(readFileSync(done[1]?.region.copy as string), damaged);
  assert.ok(existsSync(join(partitionDir, 'quarantine.json')));
  assert.equal(
    log.check().every((f) => f.kind === 'quarantined'),
    true,
  );
  // A reader from the start reads every record but the two quarantined, with their offsets.
  const all = new LogSource(log, 't', { consumer: 'all' });
  t.after(() => all.close());
  all.seek(new Map([[0, 0]]));
  const records = readAll(all);
  assert.deepEqual(
    records.map((r) => r.offset),
    Array.from({ length: 30 }, (_, i) => i).filter((i) => i !== 2 && i !== 25),
  );
  for (const r of records) assert.equal(r.value, payload(r.offset));
  // Appends go on after a reopen (the writer's scan jumps over the quarantined region too).
  await log.close();
  const again = openLog(t, dir);
  assert.equal(again.damaged.length, 0);
  const producer = new LogProducer(again);
  producer.append('t', payload(30));
  await producer.flush();
  assert.equal(again.endOffsets('t').get(0), 31);
});

test('segments every consumer has read past are deleted by default, at the commit; deleteConsumed: false keeps them', async (t) => {
  for (const deleteConsumed of ['default', false] as const) {
    await t.test(`deleteConsumed: ${deleteConsumed}`, async (t) => {
      const { log, partitionDir } = await setup(t, 50, {
        segmentBytes: 10 * FRAME,
        ...(deleteConsumed === 'default' ? {} : { deleteConsumed }),
      });
      assert.deepEqual(listSegmentBases(partitionDir), [0, 10, 20, 30, 40]);
      const a = new LogSource(log, 't', { consumer: 'a' });
      const b = new LogSource(log, 't', { consumer: 'b' });
      t.after(() => {
        a.close();
        b.close();
      });
      a.commit(new Map([[0, 35]]));
      // b has committed 0 (registered at its start): nothing is history yet.
      assert.deepEqual(listSegmentBases(partitionDir), [0, 10, 20, 30, 40]);
      b.commit(new Map([[0, 20]]));
      assert.deepEqual(
        listSegmentBases(partitionDir),
        deleteConsumed === 'default' ? [20, 30, 40] : [0, 10, 20, 30, 40],
      );
    });
  }
});
