/**
 * Property tests of the engine's invariants (fast-check), each run over several pipelines:
 * 1. input whose disorder stays within the bound gives the same output as the sorted input;
 * 2. a run that crashes after any record and resumes from its last checkpoint gives the same
 *    output as an uninterrupted run;
 * 3. once the watermark passes every key's horizon, operator state is empty;
 * 4. every late record appears in the late output exactly once, and nothing is lost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isFlowmarkError } from '../../src/engine/errors.ts';
import type { Operator } from '../../src/engine/operator.ts';
import { IntervalJoinOperator } from '../../src/engine/operators/interval-join-operator.ts';
import {
  type KeyedProcessFunction,
  KeyedProcessOperator,
  type ValueState,
} from '../../src/engine/operators/keyed-process-operator.ts';
import { SessionWindowOperator } from '../../src/engine/operators/session-window-operator.ts';
import { WindowOperator } from '../../src/engine/operators/window-operator.ts';
import type { Stream } from '../../src/engine/pipeline.ts';
import { type AggregateFunction, hopping, session, tumbling } from '../../src/engine/windows/window-types.ts';
import { type Ev, MemoryCommitter, MemorySource, Pipeline, runBounded } from './engine-fixtures.ts';
import { FIRST_LOOKBACK_MS, firstInWindow } from './first-in-window.ts';
import { OperatorHarness } from './operator-harness.ts';

const BOUND_MS = 50;
const RUNS = Number(process.env.FLOWMARK_PROPERTY_RUNS ?? 60);

/** Counts per (key, 100 ms bucket) with keyed state and a timer: emits when the bucket closes. */
const bucketCount: KeyedProcessFunction<Ev, string, { n: ValueState<Record<string, number>> }> = {
  state: (s) => ({ n: s.value<Record<string, number>>('n') }),
  onElement: (e, ctx, st) => {
    const bucket = Math.floor(e.t / 100) * 100 + 99;
    const m = st.n.get() ?? {};
    m[bucket] = (m[bucket] ?? 0) + 1;
    st.n.set(m);
    ctx.registerTimer(bucket);
  },
  onTimer: (t, ctx, st) => {
    const m = st.n.get() ?? {};
    ctx.emit(`${ctx.key}[${t}]=${m[t]}`);
    delete m[t];
    if (Object.keys(m).length === 0) st.n.clear();
    else st.n.set(m);
  },
};

const count: AggregateFunction<Ev, number, number> = {
  create: () => 0,
  add: (n) => n + 1,
  merge: (a, b) => a + b,
  result: (n) => n,
};

const windowLabel = (r: { key: string; windowStartMs: number; windowEndMs: number; value: number; firing: number }) =>
  `${r.key}[${r.windowStartMs},${r.windowEndMs})=${r.value}#${r.firing}`;

interface Shape {
  name: string;
  /** Builds source → operator(s) → sinks 'out' (strings) and 'late' (Ev). */
  build(src: Stream<Ev>): void;
  /** The operator alone, for the state-bound property; with its horizon past the last event. */
  operator(): { create: () => Operator; inputs: number; ports: string[]; horizonMs: number; route: (e: Ev) => number };
  /** Whether output order can legitimately depend on arrival order (then compare sorted). */
  orderFree: boolean;
  /** Allowed lateness: records this far behind the watermark are still accepted. */
  allowedLatenessMs?: number;
}

const isLeft = (e: Ev) => Number(e.id.slice(1)) % 2 === 0;

const shapes: Shape[] = [
  {
    name: 'keyed process with timers',
    orderFree: false,
    build: (src) => {
      const { out, late } = src.keyBy((e) => e.k).process('buckets', bucketCount);
      out.sink('out');
      late.sink('late');
    },
    operator: () => ({
      create: () => new KeyedProcessOperator<Ev, string, unknown>((e) => e.k, bucketCount as never),
      inputs: 1,
      ports: ['out', 'late'],
      horizonMs: 100,
      route: () => 0,
    }),
  },
  {
    name: 'keyed process with time-bucketed tables',
    orderFree: false,
    build: (src) => {
      const { out, late } = src.keyBy((e) => e.k).process('first', firstInWindow);
      out.sink('out');
      late.sink('late');
    },
    operator: () => ({
      create: () => new KeyedProcessOperator<Ev, string, unknown>((e) => e.k, firstInWindow as never),
      inputs: 1,
      ports: ['out', 'late'],
      horizonMs: FIRST_LOOKBACK_MS,
      route: () => 0,
    }),
  },
  {
    name: 'tumbling window',
    orderFree: false,
    build: (src) => {
      const { out, late } = src.keyBy((e) => e.k).window('w', tumbling(100), count);
      out.map('label', windowLabel).sink('out');
      late.sink('late');
    },
    operator: () => ({
      create: () => new WindowOperator<Ev, number, number>((e) => e.k, tumbling(100), count, {}),
      inputs: 1,
      ports: ['out', 'late'],
      horizonMs: 100,
      route: () => 0,
    }),
  },
  {
    name: 'hopping window with allowed lateness',
    orderFree: false,
    allowedLatenessMs: 20,
    build: (src) => {
      const { out, late } = src.keyBy((e) => e.k).window('w', hopping(200, 100), count, { allowedLatenessMs: 20 });
      out.map('label', windowLabel).sink('out');
      late.sink('late');
    },
    operator: () => ({
      create: () =>
        new WindowOperator<Ev, number, number>((e) => e.k, hopping(200, 100), count, { allowedLatenessMs: 20 }),
      inputs: 1,
      ports: ['out', 'late'],
      horizonMs: 220,
      route: () => 0,
    }),
  },
  {
    name: 'session window',
    orderFree: false,
    build: (src) => {
      const { out, late } = src.keyBy((e) => e.k).window('s', session(30), count);
      out.map('label', windowLabel).sink('out');
      late.sink('late');
    },
    operator: () => ({
      create: () => new SessionWindowOperator<Ev, number, number>((e) => e.k, 30, count, {}),
      inputs: 1,
      ports: ['out', 'late'],
      horizonMs: 30,
      route: () => 0,
    }),
  },
  {
    name: 'left-outer interval join',
    orderFree: true,
    build: (src) => {
      const left = src.filter('left', isLeft).keyBy((e) => e.k);
      const right = src.filter('right', (e) => !isLeft(e)).keyBy((e) => e.k);
      const { out, lateLeft, lateRight } = left.intervalJoin('join', right, {
        lowerMs: -60,
        upperMs: 10,
        kind: 'leftOuter',
        join: (l, r) => `${l.id}-${r?.id ?? 'none'}`,
      });
      out.sink('out');
      lateLeft.union('late-all', lateRight).sink('late');
    },
    operator: () => ({
      create: () =>
        new IntervalJoinOperator<Ev, Ev, string>(
          (e) => e.k,
          (e) => e.k,
          {
            lowerMs: -60,
            upperMs: 10,
            kind: 'leftOuter',
            join: (l, r) => `${l.id}-${r?.id ?? 'none'}`,
          },
        ),
      inputs: 2,
      ports: ['out', 'lateLeft', 'lateRight'],
      horizonMs: 60,
      route: (e) => (isLeft(e) ? 0 : 1),
    }),
  },
];

/** Sorted events with distinct ids; times in [0, 800]. */
const eventsArb = fc
  .array(fc.record({ k: fc.constantFrom('a', 'b', 'c'), t: fc.integer({ min: 0, max: 800 }) }), { maxLength: 60 })
  .map((xs) => xs.sort((x, y) => x.t - y.t).map((x, i): Ev => ({ k: x.k, t: x.t, id: `e${i}` })));

/** Sorted events and an arrival order whose disorder stays within BOUND_MS. */
const boundedDisorderArb = eventsArb.chain((events) =>
  fc
    .array(fc.integer({ min: 0, max: BOUND_MS }), { minLength: events.length, maxLength: events.length })
    .map((delays) => {
      const arrival = events.map((e, i) => ({ e, at: e.t + (delays[i] as number), i }));
      arrival.sort((x, y) => x.at - y.at || x.i - y.i);
      return { sorted: events, shuffled: arrival.map((x) => x.e) };
    }),
);

/** Events in any arrival order: some will be late. */
const anyOrderArb = eventsArb.chain((events) => fc.shuffledSubarray(events, { minLength: events.length }));

/**
 * Property 2's input: up to 400 events in any order (size 'max': fast-check would otherwise cap
 * the array at 10), several crash points drawn among them (a crash after input record n, for
 * each n, in increasing order), and a checkpoint every 1 to 40 records.
 */
const crashRunArb = fc
  .array(fc.record({ k: fc.constantFrom('a', 'b', 'c', 'd', 'e'), t: fc.integer({ min: 0, max: 8_000 }) }), {
    minLength: 2,
    maxLength: 400,
    size: 'max',
  })
  .map((xs) => xs.sort((x, y) => x.t - y.t).map((x, i): Ev => ({ k: x.k, t: x.t, id: `e${i}` })))
  .chain((sorted) =>
    fc.record({
      events: fc.shuffledSubarray(sorted, { minLength: sorted.length }),
      crashes: fc
        .uniqueArray(fc.integer({ min: 1, max: sorted.length - 1 }), { minLength: 1, maxLength: 6 })
        .map((xs) => xs.sort((a, b) => a - b)),
      every: fc.integer({ min: 1, max: 40 }),
    }),
  );

function pipelineOf(shape: Shape, source: MemorySource<Ev>): Pipeline {
  const p = new Pipeline();
  const { out, invalid } = p.source<Ev, Ev>('in', {
    reader: source,
    eventTimeMs: (e) => e.t,
    maxOutOfOrdernessMs: BOUND_MS,
  });
  invalid.sink('invalid');
  shape.build(out);
  return p;
}

async function outputs(shape: Shape, events: Ev[]): Promise<{ out: string[]; late: string[] }> {
  const { committer } = await runBounded(pipelineOf(shape, MemorySource.of(events)));
  return { out: committer.rows<string>('out'), late: committer.rows<Ev>('late').map((e) => e.id) };
}

for (const shape of shapes) {
  test(`property 1 (${shape.name}): disorder within the bound gives the output of sorted input`, async () => {
    await fc.assert(
      fc.asyncProperty(boundedDisorderArb, async ({ sorted, shuffled }) => {
        const a = await outputs(shape, sorted);
        const b = await outputs(shape, shuffled);
        assert.deepEqual(b.late, [], 'nothing is late when disorder stays within the bound');
        if (shape.orderFree) assert.deepEqual([...b.out].sort(), [...a.out].sort());
        else assert.deepEqual(b.out, a.out);
      }),
      { numRuns: RUNS },
    );
  });

  test(`property 2 (${shape.name}): crash after any record, resume from the last checkpoint, same output`, async () => {
    await fc.assert(
      fc.asyncProperty(crashRunArb, async ({ events, crashes, every }) => {
        const expected = await outputs(shape, events);
        const committer = new MemoryCommitter();
        for (const crashAt of crashes) {
          // Each run resumes at its last checkpoint and dies after input record `crashAt`.
          const resumedAt = (await committer.load())?.meta.sources.in?.offsets['0'] ?? 0;
          assert.ok(resumedAt < crashAt, `resumed at ${resumedAt}, past the crash point ${crashAt}`);
          const crashing = MemorySource.of(events, { failAfterRecords: crashAt - resumedAt });
          await assert.rejects(
            runBounded(pipelineOf(shape, crashing), { committer, checkpointEveryRecords: every }),
            (e) => isFlowmarkError(e, 'FM_SOURCE_FAILED'),
          );
        }
        await runBounded(pipelineOf(shape, MemorySource.of(events)), { committer, checkpointEveryRecords: every });
        assert.deepEqual(committer.rows('out'), expected.out);
        assert.deepEqual(
          committer.rows<Ev>('late').map((e) => e.id),
          expected.late,
        );
      }),
      { numRuns: RUNS },
    );
  });

  test(`property 3 (${shape.name}): once the watermark passes every key's horizon, state is empty`, () => {
    fc.assert(
      fc.property(anyOrderArb, (events) => {
        const op = shape.operator();
        const h = new OperatorHarness(op.create, { inputs: op.inputs, ports: op.ports });
        let maxT = Number.NEGATIVE_INFINITY;
        for (const e of events) {
          h.element(e, e.t, op.route(e));
          maxT = Math.max(maxT, e.t);
          for (let i = 0; i < op.inputs; i++) h.watermark(maxT - BOUND_MS, i);
        }
        h.watermarkAll(maxT + op.horizonMs + 1);
        assert.equal(h.stateEntries(), 0);
      }),
      { numRuns: RUNS },
    );
  });

  test(`property 4 (${shape.name}): every late record reaches the late output exactly once`, async () => {
    await fc.assert(
      fc.asyncProperty(anyOrderArb, async (events) => {
        // The rule of §3.2 for one partition: late iff t < (max of earlier arrivals − bound),
        // widened by the allowed lateness of windows.
        // (Interval-join inputs are filtered first, so their watermark is the source's as well.)
        const late: string[] = [];
        let max = Number.NEGATIVE_INFINITY;
        for (const e of events) {
          if (e.t < max - BOUND_MS - (shape.allowedLatenessMs ?? 0)) late.push(e.id);
          max = Math.max(max, e.t);
        }
        const got = await outputs(shape, events);
        assert.deepEqual([...got.late].sort(), [...late].sort());
        assert.equal(new Set(got.late).size, got.late.length, 'no late record twice');
      }),
      { numRuns: RUNS },
    );
  });
}
