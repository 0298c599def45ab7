import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/engine/index.ts';
import { LiveTraffic } from '../../src/generator/index.ts';
import { CATALOG } from './generator-fixtures.ts';

const START = Date.UTC(2026, 5, 1, 12);

test('each poll returns the lines that arrived since the last one, at about the rate, event time ≤ now', () => {
  const clock = new ManualClock(START);
  const live = new LiveTraffic(CATALOG, { clock, ratePerSecond: 200, seed: 3 });
  let total = 0;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < 600; i++) {
    clock.advance(100);
    const batch = live.pollDelivered();
    for (const l of batch) {
      assert.ok(l.eventTimeMs <= clock.nowMs(), 'no event from the future');
      assert.ok(l.eventTimeMs > START - 1, 'nothing from before the start');
      assert.ok(l.eventTimeMs >= max, 'in order with no disorder knob');
      max = l.eventTimeMs;
    }
    total += batch.length;
  }
  // 60 s at 200 events/s.
  assert.ok(total > 11_000 && total < 13_000, `${total} lines in 60 s`);
  assert.equal(live.stats.lines, total);
  assert.deepEqual(live.poll(), [], 'nothing new when the clock has not moved');
});

test('the batches do not depend on how often one polls: the same seed gives the same stream', () => {
  const run = (stepMs: number) => {
    const clock = new ManualClock(START);
    const live = new LiveTraffic(CATALOG, { clock, ratePerSecond: 100, seed: 9, disorder: 0.2, duplicates: 0.3 });
    const lines: string[] = [];
    while (clock.nowMs() < START + 30_000) {
      clock.advance(stepMs);
      lines.push(...live.poll());
    }
    return lines;
  };
  const fine = run(50);
  assert.ok(fine.length > 2000);
  assert.deepEqual(run(1000), fine);
  assert.deepEqual(run(30_000), fine);
});

test('the seed defaults to the start time, so a later run never repeats ids', () => {
  const ids = (startMs: number) => {
    const clock = new ManualClock(startMs);
    const live = new LiveTraffic(CATALOG, { clock, ratePerSecond: 100 });
    clock.advance(5000);
    return live.poll().map((l) => JSON.parse(l).click_id ?? JSON.parse(l).checkout_id);
  };
  const a = ids(START);
  const b = ids(START + 1);
  assert.ok(a.length > 0);
  assert.equal(a.filter((id) => b.includes(id)).length, 0);
});

test('the asked rate holds from the first second, also where the warm-up is thinned (issue 16: 10 000 asked gave 8 500)', () => {
  // Above ≈ 2 200 events/s the warm-up thins its older sessions; without them the rate started
  // at 80 % of 10 000 events/s and at 40 % of 100 000, rising over minutes.
  const rate = 10_000;
  const clock = new ManualClock(START);
  const live = new LiveTraffic(CATALOG, { clock, ratePerSecond: rate, seed: 5 });
  const perSecond: number[] = [];
  for (let s = 0; s < 5; s++) {
    clock.advance(1000);
    perSecond.push(live.poll().length);
  }
  const total = perSecond.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - 5 * rate) < 0.03 * 5 * rate, `${total} lines in 5 s at ${rate}/s: ${perSecond}`);
  for (const n of perSecond)
    assert.ok(Math.abs(n - rate) < 0.1 * rate, `a second of ${n} lines at ${rate}/s: ${perSecond}`);
});

test('a warm-up that took time does not come out as a burst: the traffic starts when the object is ready', () => {
  // The clock reads START when the object starts building, START + 5 s once the warm-up is done
  // (as at 100 k events/s, where it takes seconds).
  const reads = [START, START + 5000];
  const clock = { nowMs: () => reads.shift() ?? START + 5000 };
  const live = new LiveTraffic(CATALOG, { clock, ratePerSecond: 1000, seed: 2 });
  const first = live.pollDelivered(START + 6000);
  assert.ok(first.length > 800 && first.length < 1200, `${first.length} lines in the first second, not 6 s worth`);
  for (const l of first)
    assert.ok(l.eventTimeMs >= START + 5000, `${l.eventTimeMs - START} ms: before the traffic started`);
});
