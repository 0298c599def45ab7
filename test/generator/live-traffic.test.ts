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
