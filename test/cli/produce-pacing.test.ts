import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BEHIND_LIMIT_MS, describePace, ProducePacing } from '../../src/cli/produce-pacing.ts';

test('a loop that writes each batch soon after it was due keeps up; the rate is the interval’s, beside the one asked', () => {
  const pace = new ProducePacing(10_000, 0);
  for (let t = 0; t < 2000; t += 100) {
    pace.polled(t);
    pace.written(t + 30);
  }
  const r = pace.report(2000, 19_980);
  assert.deepEqual(r, {
    eventsPerSecond: 9990,
    askedPerSecond: 10_000,
    intervalMs: 2000,
    behindMs: 30,
    keepingUp: true,
  });
  assert.equal(describePace(r), '9990 events/s in the last 2.0 s (10000 asked)');
  // The next report covers only what came after this one.
  assert.equal(pace.report(4000, 39_980).eventsPerSecond, 10_000);
});

test('a loop whose batches are written ever later cannot keep up, and says so', () => {
  const pace = new ProducePacing(100_000, 0);
  // Each batch holds the traffic since the last one and takes 1.5 times as long to write.
  let due = 0;
  let produced = 0;
  for (let i = 0; i < 6; i++) {
    const written = due + (i + 1) * 300;
    pace.polled(due);
    pace.written(written);
    produced += 30_000;
    due = written;
  }
  const r = pace.report(due, produced);
  assert.equal(r.keepingUp, false);
  assert.equal(r.behindMs, 1800);
  assert.match(describePace(r), /CANNOT KEEP UP: 1\.8 s behind the clock/);
  assert.match(describePace(r), /events\/s in the last 6\.3 s \(100000 asked\)/);
});

test('a batch still being written when the status comes counts as behind since it was due (a broker that stalls)', () => {
  const pace = new ProducePacing(1000, 0);
  pace.polled(100);
  pace.written(120);
  pace.polled(220);
  assert.equal(pace.report(220 + BEHIND_LIMIT_MS, 200).keepingUp, true, 'exactly at the limit');
  const r = pace.report(220 + BEHIND_LIMIT_MS + 1, 200);
  assert.equal(r.keepingUp, false);
  assert.equal(r.behindMs, BEHIND_LIMIT_MS + 1);
});
