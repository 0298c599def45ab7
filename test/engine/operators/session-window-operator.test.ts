import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryCommitter } from '../../../src/connectors/memory/memory-committer.ts';
import { MemorySource } from '../../../src/connectors/memory/memory-source.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { SessionWindowOperator } from '../../../src/engine/operators/session-window-operator.ts';
import { Pipeline } from '../../../src/engine/pipeline.ts';
import { Runtime } from '../../../src/engine/runtime/runtime.ts';
import { MAX_WATERMARK, ManualClock } from '../../../src/engine/time.ts';
import {
  type AggregateFunction,
  session,
  type WindowOptions,
  type WindowResult,
} from '../../../src/engine/windows/window-types.ts';
import { OperatorHarness } from '../operator-harness.ts';

interface Ev {
  k: string;
  n?: number;
}

interface Click {
  k: string;
  t: number;
}

/** Collects the `n` of every record; merge concatenates, so a merged session shows its parts in order. */
function collector(): AggregateFunction<Ev, number[], number[]> & { merges: number } {
  return {
    merges: 0,
    create: () => [],
    add: (acc, v) => {
      acc.push(v.n ?? 0);
      return acc;
    },
    merge(a, b) {
      this.merges++;
      return [...a, ...b];
    },
    result: (acc) => [...acc],
  };
}

const count: AggregateFunction<Ev, number, number> = {
  create: () => 0,
  add: (acc) => acc + 1,
  merge: (a, b) => a + b,
  result: (acc) => acc,
};

function harness<A, R>(gapMs: number, agg: AggregateFunction<Ev, A, R>, options: WindowOptions = {}) {
  return new OperatorHarness(() => new SessionWindowOperator<Ev, A, R>((v) => v.k, gapMs, agg, options));
}

/** Results as compact tuples: [key, start, end, value, firing]. */
function results<R>(h: OperatorHarness): Array<[string, number, number, R, number]> {
  return h.out<WindowResult<R>>().map((r) => [r.key, r.windowStartMs, r.windowEndMs, r.value, r.firing]);
}

/** Feeds records { k, n: t } at event time t. */
function feed(h: OperatorHarness, k: string, ...times: number[]): OperatorHarness {
  for (const t of times) h.element({ k, n: t }, t);
  return h;
}

function expectInvalid(fn: () => unknown, mentions: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isFlowmarkError(err, 'FM_PIPELINE_INVALID'), `expected FM_PIPELINE_INVALID, got ${String(err)}`);
    assert.match((err as Error).message, mentions);
    return true;
  });
}

describe('SessionWindowOperator', () => {
  it('makes [t, t + gap) and fires it when the watermark reaches the end, not at end − 1', () => {
    const h = feed(harness(10, collector()), 'a', 5).watermark(14);
    assert.deepEqual(h.out(), []);
    h.watermark(15);
    assert.deepEqual(results(h), [['a', 5, 15, [5], 0]]);
    assert.deepEqual(
      h.emitted().map((e) => e.ts),
      [14],
      'event time end − 1',
    );
    assert.deepEqual(h.watermarks, [14, 15]);
  });

  it('extends a session with records less than gap apart and fires only at its final end', () => {
    const h = feed(harness(10, collector()), 'a', 0, 8, 16);
    h.watermark(10).watermark(25);
    assert.deepEqual(h.out(), []);
    h.watermark(26);
    assert.deepEqual(results(h), [['a', 0, 26, [0, 8, 16], 0]]);
  });

  it('keeps records exactly gap apart in separate sessions', () => {
    const h = feed(harness(10, collector()), 'a', 0, 10);
    feed(h, 'b', 10, 0).watermark(MAX_WATERMARK); // the earlier record second
    assert.deepEqual(results(h), [
      ['a', 0, 10, [0], 0],
      ['b', 0, 10, [0], 0],
      ['a', 10, 20, [10], 0],
      ['b', 10, 20, [10], 0],
    ]);
  });

  it('merges two sessions bridged by a third record, with aggregate.merge', () => {
    const agg = collector();
    const h = feed(harness(10, agg), 'a', 0, 15);
    assert.equal(h.operator.describe?.().openWindows, 2);
    feed(h, 'a', 8); // [8, 18) intersects [0, 10) and [15, 25)
    assert.equal(h.operator.describe?.().openWindows, 1);
    assert.equal(agg.merges, 1);
    h.watermark(MAX_WATERMARK);
    assert.deepEqual(results(h), [['a', 0, 25, [0, 15, 8], 0]]);
  });

  it('merges a record that arrives before an open session into it', () => {
    const h = feed(harness(10, collector()), 'a', 20, 12).watermark(MAX_WATERMARK);
    assert.deepEqual(results(h), [['a', 12, 30, [20, 12], 0]]);
  });

  it('fires an earlier session of a key that also has a later one at the right time', () => {
    const h = feed(harness(10, count), 'a', 50, 20);
    h.watermark(30);
    assert.deepEqual(results(h), [['a', 20, 30, 1, 0]]);
    h.watermark(60);
    assert.deepEqual(results(h), [
      ['a', 20, 30, 1, 0],
      ['a', 50, 60, 1, 0],
    ]);
  });

  it('keeps the sessions of different keys independent', () => {
    const h = harness(10, collector());
    h.element({ k: 'a', n: 0 }, 0).element({ k: 'b', n: 5 }, 5).element({ k: 'a', n: 12 }, 12);
    h.element({ k: 'b', n: 9 }, 9).watermark(MAX_WATERMARK);
    assert.deepEqual(results(h), [
      ['a', 0, 10, [0], 0],
      ['b', 5, 19, [5, 9], 0],
      ['a', 12, 22, [12], 0],
    ]);
  });

  it('fires sessions in (end, start, key) order whatever the arrival order', () => {
    const h = harness(10, count);
    for (const [k, t] of [
      ['b', 3],
      ['a', 3],
      ['c', 1],
      ['c', 8], // c: [1, 18)
      ['10', 2],
      ['9', 2],
      ['a', 25],
    ] as const) {
      h.element({ k }, t);
    }
    h.watermark(40);
    assert.deepEqual(
      results(h).map(([k, s, e]) => `${k}[${s},${e})`),
      ['10[2,12)', '9[2,12)', 'a[3,13)', 'b[3,13)', 'c[1,18)', 'a[25,35)'],
    );
  });

  it('accepts t = watermark and sends t = watermark − 1 unchanged to late', () => {
    const h = harness(10, count);
    h.watermark(20);
    const late = { k: 'a' };
    h.element({ k: 'a' }, 20).element(late, 19).watermark(MAX_WATERMARK);
    assert.deepEqual(results(h), [['a', 20, 30, 1, 0]]);
    assert.equal(h.emitted('late').length, 1);
    assert.equal(h.emitted('late')[0]?.value, late);
    assert.equal(h.emitted('late')[0]?.ts, 19);
  });

  it('re-emits a fired session at once, firing + 1, for a record inside it within allowed lateness', () => {
    const h = feed(harness(10, collector(), { allowedLatenessMs: 15 }), 'a', 0, 5).watermark(20);
    feed(h, 'a', 10); // 10 ≥ 20 − 15: accepted; [10, 20) extends [0, 15) to [0, 20), still ≤ W
    feed(h, 'a', 9); // inside: same bounds
    feed(h, 'a', 4); // 4 < 5: late
    assert.deepEqual(results(h), [
      ['a', 0, 15, [0, 5], 0],
      ['a', 0, 20, [0, 5, 10], 1],
      ['a', 0, 20, [0, 5, 10, 9], 2],
    ]);
    assert.deepEqual(
      h.emitted().map((e) => e.ts),
      [14, 19, 19],
    );
    assert.deepEqual(h.out('late'), [{ k: 'a', n: 4 }]);
  });

  it('re-emits two fired sessions merged by a late record with the larger firing + 1', () => {
    const h = feed(harness(10, collector(), { allowedLatenessMs: 35 }), 'a', 0, 15).watermark(30);
    feed(h, 'a', 17).watermark(40); // [15, 27) re-fired with firing 1
    h.clearOutputs();
    feed(h, 'a', 8); // bridges [0, 10) (firing 0 emitted) and [15, 27) (firings 0, 1 emitted)
    assert.deepEqual(results(h), [['a', 0, 27, [0, 15, 17, 8], 2]]);
    assert.equal(h.operator.describe?.().openWindows, 1);
  });

  it('fires a fired session extended past the watermark by a late record at its new end', () => {
    const h = feed(harness(10, collector(), { allowedLatenessMs: 100 }), 'a', 0).watermark(12);
    h.clearOutputs();
    feed(h, 'a', 5); // [0, 15): 15 > W, so nothing yet
    assert.deepEqual(h.out(), []);
    h.watermark(14);
    assert.deepEqual(h.out(), []);
    h.watermark(15);
    assert.deepEqual(results(h), [['a', 0, 15, [0, 5], 1]]);
  });

  it('emits a new session entirely behind the watermark at once, with firing 0', () => {
    const h = harness(10, count, { allowedLatenessMs: 50 }).watermark(100);
    h.element({ k: 'a' }, 60);
    assert.deepEqual(results(h), [['a', 60, 70, 1, 0]]);
    assert.deepEqual(
      h.emitted().map((e) => e.ts),
      [69],
    );
  });

  it('keeps a session until the watermark reaches end + allowedLatenessMs', () => {
    const h = feed(harness(10, count, { allowedLatenessMs: 5 }), 'a', 0, 30);
    h.watermark(14);
    assert.equal(h.stateEntries(), 1);
    assert.equal(h.operator.describe?.().openWindows, 2);
    h.watermark(15);
    assert.equal(h.operator.describe?.().openWindows, 1, '[0, 10) is gone');
    h.watermark(45);
    assert.equal(h.stateEntries(), 0);
    assert.deepEqual(results(h), [
      ['a', 0, 10, 1, 0],
      ['a', 30, 40, 1, 0],
    ]);
  });

  it('deletes a session as soon as it fires when allowedLatenessMs is 0', () => {
    const h = feed(harness(10, count), 'a', 0);
    feed(h, 'b', 0, 20).watermark(10);
    assert.equal(h.stateEntries(), 1);
    assert.equal(h.operator.describe?.().openWindows, 1);
  });

  it('announces every change to the state table so that incremental snapshots see it', () => {
    const h = harness(10, count, { allowedLatenessMs: 10 });
    const table = h.table('sessions');
    assert.ok(table);
    feed(h, 'a', 0);
    assert.deepEqual(table.takeChanges(), [['a', [[0, 10, 1, 0]]]]);
    feed(h, 'a', 4);
    assert.deepEqual(table.takeChanges(), [['a', [[0, 14, 2, 0]]]]);
    h.watermark(14);
    assert.deepEqual(table.takeChanges(), [['a', [[0, 14, 2, 1]]]], 'the emitted count');
    h.watermark(24);
    assert.deepEqual(table.takeChanges(), [['a', undefined]]);
  });

  it('emits the same sequence when restarted through a snapshot at any point', () => {
    type Step = readonly ['e', string, number] | readonly ['w', number];
    const script: Step[] = [
      ['e', 'a', 0],
      ['e', 'b', 3],
      ['e', 'a', 22],
      ['e', 'a', 6],
      ['w', 18], // fires b [3, 13) and a [0, 16)
      ['e', 'a', 14], // bridges fired [0, 16) and open [22, 32): fires at 32 with firing 1
      ['e', 'b', 11], // extends fired [3, 13) past W to [3, 21)
      ['e', 'c', 40],
      ['e', 'b', 2], // late: 2 < 18 − 8
      ['w', 38], // fires b [3, 21) and a [0, 32), drops b
      ['e', 'c', 31], // merges into [31, 50)
      ['e', 'a', 30], // extends fired [0, 32) to [0, 40)
      ['w', 45],
      ['e', 'c', 60],
      ['w', MAX_WATERMARK],
    ];
    const run = (restartAt: number) => {
      const h = harness(10, collector(), { allowedLatenessMs: 8 });
      script.forEach((step, i) => {
        if (i === restartAt) h.restart();
        if (step[0] === 'e') h.element({ k: step[1], n: step[2] }, step[2]);
        else h.watermark(step[1]);
      });
      return { out: h.emitted(), late: h.emitted('late'), state: h.stateEntries() };
    };
    const expected = run(-1);
    assert.ok(expected.out.some((e) => (e.value as WindowResult<unknown>).firing > 0));
    assert.equal(expected.late.length, 1);
    assert.equal(expected.state, 0);
    for (let i = 1; i < script.length; i++) assert.deepEqual(run(i), expected, `restart before step ${i}`);
  });

  it('holds no state once the watermark is +∞', () => {
    const h = harness(30, count, { allowedLatenessMs: 1000 });
    for (let t = 0; t < 2000; t += 17) h.element({ k: `k${(t * 7) % 11}` }, t);
    h.watermark(500);
    assert.ok(h.stateEntries() > 0);
    h.watermark(MAX_WATERMARK);
    assert.equal(h.stateEntries(), 0);
    assert.equal(h.operator.describe?.().openWindows, 0);
  });

  it('rejects invalid parameters with FM_PIPELINE_INVALID naming the parameter', () => {
    const make =
      (gap: number, agg: AggregateFunction<Ev, number, number> = count, o: WindowOptions = {}) =>
      () =>
        new SessionWindowOperator<Ev, number, number>((v) => v.k, gap, agg, o);
    expectInvalid(make(0), /gapMs/);
    expectInvalid(make(-1), /gapMs/);
    expectInvalid(make(Number.NaN), /gapMs/);
    expectInvalid(make(Number.POSITIVE_INFINITY), /gapMs/);
    expectInvalid(make(10, { create: () => 0, add: (n) => n + 1, result: (n) => n }), /merge/);
    expectInvalid(make(10, count, { allowedLatenessMs: Number.NaN }), /allowedLatenessMs/);
    assert.doesNotThrow(make(10));
  });

  it('runs in a pipeline: sessions, late records and recovery after a crash', async () => {
    const clicks = [
      { k: 'a', t: 0 },
      { k: 'b', t: 1_000 },
      { k: 'a', t: 20_000 },
      { k: 'a', t: 10_000 }, // bridges 0 and 20 000 for a (gap 15 s)
      { k: 'b', t: 60_000 },
      { k: 'a', t: 44_000 }, // late: the watermark is 60 000 − 15 000
      { k: 'b', t: 70_000 },
      { k: 'a', t: 90_000 },
    ];
    const build = (src: MemorySource<Click>) => {
      const p = new Pipeline();
      const { out, invalid } = p.source<Click, Click>('clicks', {
        reader: src,
        eventTimeMs: (c) => c.t,
        maxOutOfOrdernessMs: 15_000,
      });
      const { out: sessions, late } = out.keyBy((c) => c.k).window('sessions', session(15_000), count);
      sessions.sink('out');
      late.sink('late');
      invalid.sink('invalid');
      return p;
    };
    const summary = (committer: MemoryCommitter) =>
      committer
        .rows<WindowResult<number>>('out')
        .map((r) => `${r.key}[${r.windowStartMs},${r.windowEndMs})=${r.value}#${r.firing}`);

    const whole = new MemoryCommitter();
    await new Runtime(build(MemorySource.of(clicks)), { committer: whole, clock: new ManualClock() }).run();
    assert.deepEqual(summary(whole), [
      'b[1000,16000)=1#0',
      'a[0,35000)=3#0',
      'b[60000,85000)=2#0',
      'a[90000,105000)=1#0',
    ]);
    assert.deepEqual(whole.rows('late'), [{ k: 'a', t: 44_000 }]);

    const committer = new MemoryCommitter();
    const options = { committer, clock: new ManualClock(), checkpointEveryRecords: 2, pollMaxRecords: 1 };
    const crashing = new Runtime(build(MemorySource.of(clicks, { failAfterRecords: 5 })), options);
    await assert.rejects(crashing.run(), (err: unknown) => isFlowmarkError(err, 'FM_SOURCE_FAILED'));
    const resumed = new Runtime(build(MemorySource.of(clicks)), options);
    await resumed.run();
    assert.deepEqual(summary(committer), summary(whole));
    assert.deepEqual(committer.rows('late'), whole.rows('late'));
    assert.equal(resumed.stateEntries(), 0);
  });
});
