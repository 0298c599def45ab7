/**
 * The produce loop of `demo` and `produce` (src/cli/demo-shop.ts) into the embedded log, under a
 * manual clock: what it writes is what the simulated clock asks for, whatever the machine's speed
 * (issue 16: `produce --rate 10000` delivered 8 500 events/s).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { CATALOG_SEED, DEMO_MESS, type ProducedCounts, produceTraffic } from '../../src/cli/demo-shop.ts';
import type { EventQueue } from '../../src/cli/event-queue.ts';
import { logEventQueue } from '../../src/cli/modes/embedded.ts';
import { describePace, ProducePacing } from '../../src/cli/produce-pacing.ts';
import { LogDirectory, LogSource } from '../../src/connectors/log/index.ts';
import { ManualClock } from '../../src/engine/index.ts';
import { generateCatalog, LiveTraffic } from '../../src/generator/index.ts';

const START = Date.UTC(2026, 5, 1, 12);
const CATALOG = generateCatalog({ users: 200, products: 50, seed: CATALOG_SEED });

function openLog(t: TestContext): LogDirectory {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-demo-shop-'));
  const log = LogDirectory.open(join(dir, 'log'), { fsync: false });
  for (const topic of ['clicks', 'checkouts']) log.createTopic(topic, { partitions: 4 });
  t.after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return log;
}

/** The log as the loop's queue, with the clock moved by `stepMs` each time the loop waits for it. */
function steppingQueue(log: LogDirectory, clock: ManualClock, stepMs: () => number): EventQueue {
  const queue = logEventQueue(log);
  return {
    ...queue,
    async ready() {
      await queue.ready();
      clock.advance(stepMs());
    },
  };
}

function countRecords(log: LogDirectory, topic: string): number {
  const source = new LogSource(log, topic, { register: false });
  let n = 0;
  for (let batch = source.poll(100_000); batch.records.length > 0; batch = source.poll(100_000))
    n += batch.records.length;
  source.close();
  return n;
}

test('the loop writes what the simulated clock asks for: rate × time, every line in the log, keeping up', async (t) => {
  const log = openLog(t);
  const clock = new ManualClock(START);
  const rate = 5000;
  const traffic = new LiveTraffic(CATALOG, { clock, ratePerSecond: rate, ...DEMO_MESS, seed: 4 });
  const pacing = new ProducePacing(rate, clock.nowMs());
  const counts: ProducedCounts = { produced: 0, clicks: 0, checkouts: 0, unroutable: 0 };
  // Each batch "takes" 50 ms of the clock (the pause between batches is not waited for here).
  const queue = steppingQueue(log, clock, () => 50);
  await produceTraffic(traffic, queue, counts, {
    signal: new AbortController().signal,
    clock,
    durationMs: 10_000,
    pacing,
    pauseMs: 0,
  });
  const seconds = (clock.nowMs() - START) / 1000;
  assert.ok(
    Math.abs(counts.produced - rate * seconds) < 0.05 * rate * seconds,
    `${counts.produced} events in ${seconds} s`,
  );
  assert.equal(counts.produced, counts.clicks + counts.checkouts + counts.unroutable);
  assert.ok(counts.checkouts > 0 && counts.unroutable > 0, 'the mess is there: unroutable lines too');
  assert.equal(countRecords(log, 'clicks'), counts.clicks + counts.unroutable);
  assert.equal(countRecords(log, 'checkouts'), counts.checkouts);
  const r = pacing.report(clock.nowMs(), counts.produced);
  assert.equal(r.keepingUp, true, describePace(r));
  assert.equal(r.behindMs, 50);
});

test('a loop whose batches take longer than the traffic they carry says it cannot keep up', async (t) => {
  const log = openLog(t);
  const clock = new ManualClock(START);
  const traffic = new LiveTraffic(CATALOG, { clock, ratePerSecond: 2000, seed: 4 });
  const pacing = new ProducePacing(2000, clock.nowMs());
  const counts: ProducedCounts = { produced: 0, clicks: 0, checkouts: 0, unroutable: 0 };
  // Writing a batch takes 1.5 times the span of traffic it carries (the span since the previous
  // batch was due, which is the time the previous one took): ever further behind.
  let stepMs = 100;
  const queue = steppingQueue(log, clock, () => {
    stepMs *= 1.5;
    return stepMs;
  });
  await produceTraffic(traffic, queue, counts, {
    signal: new AbortController().signal,
    clock,
    maxEvents: 20_000,
    pacing,
    pauseMs: 0,
  });
  const r = pacing.report(clock.nowMs(), counts.produced);
  assert.equal(r.keepingUp, false, describePace(r));
  assert.match(describePace(r), /CANNOT KEEP UP: [\d.]+ s behind the clock/);
});
