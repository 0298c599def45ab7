/**
 * The state suite's live-state measurement in a process of its own (`--expose-gc`, a heap large
 * enough): `node --expose-gc --max-old-space-size=N bench/support/workers/state-memory.ts <clicks> <reps>`.
 * Prints one JSON line ({@link MemoryPoint}).
 *
 * The real attribution pipeline (in memory, no I/O) over generated events pulled one poll at a
 * time (never all in memory) until the state holds `clicks` clicks, with a lookback of 24 h so
 * that none is dropped: heap used + array buffers, and RSS, after a full GC, minus the same before
 * the first event.
 * Then a fixed delta of `DELTA_EVENTS` more events and a checkpoint, `reps` times after a
 * warm-up: its duration (the runtime's own `flowmark_checkpoint_duration_seconds`), the garbage
 * collection within it, and the bytes of the encoded delta.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { attributionOptions } from '../../../src/attribution/attribution-options.ts';
import { type Clock, type MetricsRegistry, Runtime } from '../../../src/engine/index.ts';
import { MeasuringCommitter } from '../committers.ts';
import { attributionPipeline, benchEvents } from '../data-sets.ts';
import { PullSource } from '../pull-source.ts';
import { fmt } from '../report.ts';
import { DELTA_EVENTS } from '../state-data.ts';

export interface MemoryPoint {
  clicks: number;
  events: number;
  buildS: number;
  keys: number;
  stateEntries: number;
  /** flowmark's own estimate of the state's bytes (`stats().state.bytes`, what the gauge shows). */
  estimatedBytes: number;
  heapBytes: number;
  rssBytes: number;
  maxRssMiB: number;
  checkpointMs: number[];
  /** Garbage collection within each measured checkpoint, ms. */
  checkpointGcMs: number[];
  deltaBytes: number[];
  deltaEntries: number[];
}

/** Longer than the event time of 10 M events at 1 000 events/s (2.8 h): no click is dropped. */
const HOLD_ALL_LOOKBACK_MS = 24 * 3_600_000;
/** Sub-millisecond processing time, so that short checkpoints are timed precisely. */
const preciseClock: Clock = {
  nowMs: () => performance.timeOrigin + performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

function settledMemory(): { heap: number; rss: number } {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  // The time-bucketed tables keep their entries in typed arrays, whose buffers live outside the
  // JavaScript heap (`arrayBuffers`): heap used alone would miss nearly all of the state.
  return { heap: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

async function measure(clicks: number, reps: number): Promise<MemoryPoint> {
  const events = Math.ceil(clicks * 1.1) + DELTA_EVENTS * (reps + 2);
  const source = new PullSource(benchEvents(events).lines());
  const options = attributionOptions({ lookbackMs: HOLD_ALL_LOOKBACK_MS });
  const pipeline = attributionPipeline(source, options, preciseClock);
  // Each checkpoint's [start, end] on the performance timeline, and garbage collections: how much
  // of a checkpoint is GC (whose cost follows the size of the whole heap, not of the delta).
  const durations: Array<[start: number, end: number]> = [];
  const gcs: Array<[start: number, end: number]> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const gcMsWithin = ([a, b]: [number, number]) => {
    for (const e of gcObserver.takeRecords()) gcs.push([e.startTime, e.startTime + e.duration]);
    return gcs.reduce((ms, [s, e]) => ms + Math.max(0, Math.min(b, e) - Math.max(a, s)), 0);
  };
  const noop = { inc() {}, set() {}, observe() {} };
  const metrics: MetricsRegistry = {
    counter: () => noop,
    gauge: () => noop,
    histogram: (name) =>
      name === 'flowmark_checkpoint_duration_seconds'
        ? { observe: (_l, s) => void durations.push([performance.now() - s * 1000, performance.now()]) }
        : noop,
  };
  // Encodes every snapshot (as a durable store must) and remembers the last one's size.
  const committer = new MeasuringCommitter({ encode: true });
  const runtime = new Runtime(pipeline, { committer, clock: preciseClock, metrics });
  await runtime.open();
  const run = async (records: number, clickLimit = Number.POSITIVE_INFINITY) => {
    const ac = new AbortController();
    source.allow(records, () => ac.abort(), clickLimit);
    await runtime.run({ signal: ac.signal });
  };
  const before = settledMemory();
  const t0 = performance.now();
  await run(Number.POSITIVE_INFINITY, clicks);
  const buildS = (performance.now() - t0) / 1000;
  const held = source.clicks;
  const built = source.delivered;
  const after = settledMemory();
  const stats = runtime.stats();
  const attribute = stats.find((s) => s.id === 'attribute');
  process.stderr.write(`[state] child: ${fmt(held)} clicks held after ${buildS.toFixed(0)} s; measuring checkpoints\n`);
  const point: MemoryPoint = {
    clicks: held,
    events: built,
    buildS,
    keys: attribute?.state.entries ?? 0,
    stateEntries: stats.reduce((n, s) => n + s.state.entries, 0),
    estimatedBytes: stats.reduce((n, s) => n + s.state.bytes, 0),
    heapBytes: after.heap - before.heap,
    rssBytes: after.rss - before.rss,
    maxRssMiB: 0,
    checkpointMs: [],
    checkpointGcMs: [],
    deltaBytes: [],
    deltaEntries: [],
  };
  for (let rep = 0; rep <= reps; rep++) {
    await run(DELTA_EVENTS);
    if (rep === 0) continue; // warm-up
    const window = durations.at(-1) as [number, number];
    point.checkpointMs.push(window[1] - window[0]);
    point.checkpointGcMs.push(gcMsWithin(window));
    point.deltaBytes.push(committer.lastBytes);
    point.deltaEntries.push(committer.lastEntries);
  }
  gcObserver.disconnect();
  await runtime.close();
  point.maxRssMiB = process.resourceUsage().maxRSS / 1024;
  return point;
}

const [clicks, reps] = process.argv.slice(2).map(Number);
console.log(JSON.stringify(await measure(clicks as number, reps as number)));
