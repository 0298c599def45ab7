/**
 * Engine benchmarks: the engine against a hand-written loop doing the same computation, in the
 * same process, over the same pre-built in-memory events (no I/O, no parsing).
 */

import { MemorySource } from '../src/connectors/memory/memory-source.ts';
import type { Checkpoint, CheckpointCommitter, RestorePoint } from '../src/engine/checkpoint.ts';
import {
  type AggregateFunction,
  Pipeline,
  Runtime,
  systemClock,
  tumbling,
  type WindowResult,
} from '../src/engine/index.ts';
import { encodeSnapshot } from '../src/engine/snapshot.ts';
import { type BenchResult, fmt, sideBySide } from './bench-lib.ts';

export interface BenchEvent {
  k: string;
  t: number;
  side: 0 | 1;
}

/** Deterministic events: `n` events over `keys` keys, 1 000 events per event-time second, bounded disorder. */
export function makeEvents(n: number, keys: number, disorderMs = 2000, seed = 42): BenchEvent[] {
  let s = seed >>> 0;
  const rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const out: BenchEvent[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      k: `u${Math.floor(rnd() * keys)}`,
      t: 1_700_000_000_000 + i - Math.floor(rnd() * disorderMs),
      side: rnd() < 0.2 ? 0 : 1,
    };
  }
  return out;
}

/** A committer that encodes every snapshot (as a durable one must) and counts rows. */
class CountingCommitter implements CheckpointCommitter {
  rows = 0;
  snapshotBytes = 0;
  async load(): Promise<RestorePoint | undefined> {
    return undefined;
  }
  async commit(cp: Checkpoint): Promise<void> {
    this.snapshotBytes += encodeSnapshot(cp.snapshot).length;
    for (const rows of cp.outputs.values()) this.rows += rows.length;
  }
}

const BOUND_MS = 5000;
const WINDOW_MS = 60_000;

const count: AggregateFunction<BenchEvent, number, number> = { create: () => 0, add: (n) => n + 1, result: (n) => n };

/** Builds the pipeline and its in-memory source (untimed); returns the run (timed). */
function engineTumbling(events: BenchEvent[]): () => Promise<number> {
  const p = new Pipeline();
  const { out, invalid } = p.source<BenchEvent, BenchEvent>('in', {
    reader: MemorySource.of(events),
    eventTimeMs: (e) => e.t,
    maxOutOfOrdernessMs: BOUND_MS,
  });
  invalid.sink('invalid');
  const w = out.keyBy((e) => e.k).window('count', tumbling(WINDOW_MS), count);
  w.out.sink('out');
  w.late.sink('late');
  return runAndCount(p);
}

function runAndCount(p: Pipeline): () => Promise<number> {
  const committer = new CountingCommitter();
  const runtime = new Runtime(p, { committer, clock: systemClock, pollMaxRecords: 4096 });
  return async () => {
    await runtime.run();
    return committer.rows;
  };
}

/** The same computation by hand: a Map per window, fired when the watermark passes its end. */
function handTumbling(events: BenchEvent[]): number {
  const windows = new Map<number, Map<string, number>>();
  const results: WindowResult<number>[] = [];
  let maxTs = Number.NEGATIVE_INFINITY;
  let wm = Number.NEGATIVE_INFINITY;
  let nextEnd = Number.POSITIVE_INFINITY;
  let late = 0;
  const fire = (upTo: number) => {
    const ends = [...windows.keys()].filter((e) => e <= upTo).sort((a, b) => a - b);
    for (const end of ends) {
      for (const [key, value] of windows.get(end) as Map<string, number>) {
        results.push({ key, windowStartMs: end - WINDOW_MS, windowEndMs: end, value, firing: 0 });
      }
      windows.delete(end);
    }
    nextEnd = Math.min(...windows.keys());
  };
  for (const e of events) {
    if (e.t < wm) {
      late++;
      continue;
    }
    const end = Math.floor(e.t / WINDOW_MS) * WINDOW_MS + WINDOW_MS;
    let m = windows.get(end);
    if (m === undefined) {
      windows.set(end, (m = new Map()));
      if (end < nextEnd) nextEnd = end;
    }
    m.set(e.k, (m.get(e.k) ?? 0) + 1);
    if (e.t > maxTs) {
      maxTs = e.t;
      wm = maxTs - BOUND_MS;
      if (wm >= nextEnd) fire(wm);
    }
  }
  fire(Number.POSITIVE_INFINITY);
  return results.length + late;
}

const LOWER_MS = -10_000;
const UPPER_MS = 0;

function engineJoin(events: BenchEvent[]): () => Promise<number> {
  const p = new Pipeline();
  const { out, invalid } = p.source<BenchEvent, BenchEvent>('in', {
    reader: MemorySource.of(events),
    eventTimeMs: (e) => e.t,
    maxOutOfOrdernessMs: BOUND_MS,
  });
  invalid.sink('invalid');
  const left = out.filter('left', (e) => e.side === 0).keyBy((e) => e.k);
  const right = out.filter('right', (e) => e.side === 1).keyBy((e) => e.k);
  const j = left.intervalJoin('join', right, {
    lowerMs: LOWER_MS,
    upperMs: UPPER_MS,
    join: (l, r) => (r === undefined ? l.t : l.t - r.t),
  });
  j.out.sink('out');
  j.lateLeft.sink('late-left');
  j.lateRight.sink('late-right');
  return runAndCount(p);
}

/** Hand-written inner interval join: per-key arrays, pruned when the watermark passes. */
function handJoin(events: BenchEvent[]): number {
  const lefts = new Map<string, BenchEvent[]>();
  const rights = new Map<string, BenchEvent[]>();
  const results: number[] = [];
  let maxTs = Number.NEGATIVE_INFINITY;
  let wm = Number.NEGATIVE_INFINITY;
  let late = 0;
  let lastPrune = Number.NEGATIVE_INFINITY;
  for (const e of events) {
    if (e.t < wm) {
      late++;
      continue;
    }
    if (e.side === 0) {
      for (const r of rights.get(e.k) ?? [])
        if (r.t >= e.t + LOWER_MS && r.t <= e.t + UPPER_MS) results.push(e.t - r.t);
      let l = lefts.get(e.k);
      if (l === undefined) lefts.set(e.k, (l = []));
      l.push(e);
    } else {
      for (const l of lefts.get(e.k) ?? []) if (e.t >= l.t + LOWER_MS && e.t <= l.t + UPPER_MS) results.push(l.t - e.t);
      let r = rights.get(e.k);
      if (r === undefined) rights.set(e.k, (r = []));
      r.push(e);
    }
    if (e.t > maxTs) {
      maxTs = e.t;
      wm = maxTs - BOUND_MS;
      if (wm - lastPrune > 1000) {
        lastPrune = wm;
        for (const [k, l] of lefts) {
          const keep = l.filter((x) => x.t + UPPER_MS >= wm);
          if (keep.length === 0) lefts.delete(k);
          else lefts.set(k, keep);
        }
        for (const [k, r] of rights) {
          const keep = r.filter((x) => x.t - LOWER_MS >= wm);
          if (keep.length === 0) rights.delete(k);
          else rights.set(k, keep);
        }
      }
    }
  }
  return results.length + late;
}

function compare(name: string, n: number, t: Awaited<ReturnType<typeof sideBySide>>): BenchResult {
  const engineRate = n / (t.seconds.engine as number);
  const handRate = n / (t.seconds.hand as number);
  if (t.results.engine !== t.results.hand) {
    throw new Error(`${name}: the engine produced ${t.results.engine} rows, the hand-written loop ${t.results.hand}`);
  }
  return {
    name,
    figures: {
      events: n,
      engine_events_per_s: engineRate,
      hand_events_per_s: handRate,
      ratio_to_hand: engineRate / handRate,
    },
    rows: [
      ['events', fmt(n)],
      ['output rows (engine = hand-written)', fmt(t.results.engine as number)],
      ['engine events/s', fmt(engineRate)],
      ['hand-written loop events/s', fmt(handRate)],
      ['engine / hand-written', `${(engineRate / handRate).toFixed(2)}×`],
    ],
  };
}

export async function engineBenchmarks(n: number): Promise<BenchResult[]> {
  const events = makeEvents(n, 10_000);
  const tumblingTimes = await sideBySide({
    engine: () => engineTumbling(events),
    hand: () => () => handTumbling(events),
  });
  const joinTimes = await sideBySide({ engine: () => engineJoin(events), hand: () => () => handJoin(events) });
  return [
    compare('engine: keyed tumbling-window count (1 min windows, 10 k keys)', n, tumblingTimes),
    compare('engine: interval join (20 % left, 80 % right, [−10 s, 0], 10 k keys)', n, joinTimes),
  ];
}
