import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryCommitter } from '../../../src/connectors/memory/memory-committer.ts';
import { MemorySource } from '../../../src/connectors/memory/memory-source.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { WindowOperator } from '../../../src/engine/operators/window-operator.ts';
import { Pipeline } from '../../../src/engine/pipeline.ts';
import { Runtime } from '../../../src/engine/runtime/runtime.ts';
import { MAX_WATERMARK, ManualClock } from '../../../src/engine/time.ts';
import {
  type AggregateFunction,
  cumulate,
  hopping,
  session,
  tumbling,
  type WindowAssigner,
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

const count: AggregateFunction<Ev, number, number> = {
  create: () => 0,
  add: (acc) => acc + 1,
  merge: (a, b) => a + b,
  result: (acc) => acc,
};

/** Collects the `n` of every record, in arrival order: shows exactly which records a window holds. */
const collect: AggregateFunction<Ev, number[], number[]> = {
  create: () => [],
  add: (acc, v) => {
    acc.push(v.n ?? 0);
    return acc;
  },
  result: (acc) => [...acc],
};

function harness<A, R>(assigner: WindowAssigner, agg: AggregateFunction<Ev, A, R>, options: WindowOptions = {}) {
  return new OperatorHarness(() => new WindowOperator<Ev, A, R>((v) => v.k, assigner, agg, options));
}

/** Results as compact tuples: [key, start, end, value, firing]. */
function results<R>(h: OperatorHarness): Array<[string, number, number, R, number]> {
  return h.out<WindowResult<R>>().map((r) => [r.key, r.windowStartMs, r.windowEndMs, r.value, r.firing]);
}

function expectInvalid(fn: () => unknown, mentions: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isFlowmarkError(err, 'FM_PIPELINE_INVALID'), `expected FM_PIPELINE_INVALID, got ${String(err)}`);
    assert.match((err as Error).message, mentions);
    return true;
  });
}

describe('WindowOperator', () => {
  it('puts t = start and t = end − 1 in [start, end) and t = end in the next window', () => {
    const h = harness(tumbling(10), collect);
    h.element({ k: 'a', n: 0 }, 0).element({ k: 'a', n: 9 }, 9).element({ k: 'a', n: 10 }, 10).watermark(20);
    assert.deepEqual(results(h), [
      ['a', 0, 10, [0, 9], 0],
      ['a', 10, 20, [10], 0],
    ]);
    assert.deepEqual(
      h.emitted().map((e) => e.ts),
      [9, 19],
      'a result carries event time end − 1',
    );
  });

  it('fires when the watermark reaches the end, not at end − 1, then forwards the watermark', () => {
    const h = harness(tumbling(10), count);
    h.element({ k: 'a' }, 5).watermark(9);
    assert.deepEqual(h.out(), []);
    h.watermark(10);
    assert.deepEqual(results(h), [['a', 0, 10, 1, 0]]);
    assert.deepEqual(h.watermarks, [9, 10]);
  });

  it('accepts t = watermark and sends t = watermark − 1 unchanged to late, counted nowhere', () => {
    const h = harness(tumbling(10), count);
    h.element({ k: 'a' }, 15).watermark(20);
    const late = { k: 'a' };
    h.element({ k: 'a' }, 20).element(late, 19).watermark(30);
    assert.deepEqual(results(h), [
      ['a', 10, 20, 1, 0],
      ['a', 20, 30, 1, 0],
    ]);
    assert.equal(h.emitted('late').length, 1);
    assert.equal(h.emitted('late')[0]?.value, late, 'the same value object');
    assert.equal(h.emitted('late')[0]?.ts, 19, 'the same event time');
  });

  it('deletes a window as soon as it fires when allowedLatenessMs is 0', () => {
    const h = harness(tumbling(10), count);
    h.element({ k: 'a' }, 1).element({ k: 'b' }, 2).element({ k: 'a' }, 12);
    assert.equal(h.stateEntries(), 3);
    h.watermark(10);
    assert.equal(h.stateEntries(), 1, 'only [10, 20) for a is left');
    assert.deepEqual(h.operator.describe?.(), {
      assigner: 'tumbling',
      sizeMs: 10,
      offsetMs: 0,
      allowedLatenessMs: 0,
      openWindows: 1,
    });
  });

  it('re-fires a window for a record within allowed lateness, with firing counting per key', () => {
    const h = harness(tumbling(10), count, { allowedLatenessMs: 5 });
    h.element({ k: 'a' }, 3).watermark(10);
    assert.deepEqual(results(h), [['a', 0, 10, 1, 0]]);
    h.clearOutputs();
    h.element({ k: 'a' }, 5); // W − L = 5: accepted
    h.element({ k: 'a' }, 9);
    h.element({ k: 'b' }, 6); // first result for b in this window
    h.element({ k: 'a' }, 4); // < W − L: late
    assert.deepEqual(results(h), [
      ['a', 0, 10, 2, 1],
      ['a', 0, 10, 3, 2],
      ['b', 0, 10, 1, 0],
    ]);
    assert.deepEqual(
      h.emitted().map((e) => e.ts),
      [9, 9, 9],
    );
    assert.deepEqual(h.out('late'), [{ k: 'a' }]);
  });

  it('keeps a window until the watermark reaches end + allowedLatenessMs', () => {
    const h = harness(tumbling(10), count, { allowedLatenessMs: 5 });
    h.element({ k: 'a' }, 3).watermark(14);
    assert.equal(h.stateEntries(), 1);
    h.element({ k: 'a' }, 9).watermark(15);
    assert.equal(h.stateEntries(), 0);
    h.element({ k: 'a' }, 9);
    assert.deepEqual(h.out('late'), [{ k: 'a' }], 't = 9 < 15 − 5 is late');
    assert.deepEqual(results(h), [
      ['a', 0, 10, 1, 0],
      ['a', 0, 10, 2, 1],
    ]);
  });

  it('puts a record in size/slide hopping windows, fired in (end, start) order', () => {
    const h = harness(hopping(10, 5), collect);
    h.element({ k: 'a', n: 7 }, 7).element({ k: 'a', n: 4 }, 4).element({ k: 'a', n: 5 }, 5).watermark(MAX_WATERMARK);
    assert.deepEqual(results(h), [
      ['a', -5, 5, [4], 0],
      ['a', 0, 10, [7, 4, 5], 0],
      ['a', 5, 15, [7, 5], 0],
    ]);
  });

  it('handles a slide that does not divide the size', () => {
    const h = harness(hopping(10, 4), collect);
    h.element({ k: 'a', n: 9 }, 9).watermark(MAX_WATERMARK);
    assert.deepEqual(results(h), [
      ['a', 0, 10, [9], 0],
      ['a', 4, 14, [9], 0],
      ['a', 8, 18, [9], 0],
    ]);
  });

  it('builds cumulate windows sharing a start, each firing at its own end', () => {
    const h = harness(cumulate(5, 15), collect);
    h.element({ k: 'a', n: 2 }, 2).element({ k: 'a', n: 7 }, 7).element({ k: 'a', n: 14 }, 14);
    h.element({ k: 'a', n: 15 }, 15);
    h.watermark(5);
    assert.deepEqual(results(h), [['a', 0, 5, [2], 0]]);
    h.watermark(15);
    assert.deepEqual(results(h), [
      ['a', 0, 5, [2], 0],
      ['a', 0, 10, [2, 7], 0],
      ['a', 0, 15, [2, 7, 14], 0],
    ]);
    h.clearOutputs().watermark(MAX_WATERMARK);
    assert.deepEqual(results(h), [
      ['a', 15, 20, [15], 0],
      ['a', 15, 25, [15], 0],
      ['a', 15, 30, [15], 0],
    ]);
  });

  it('shifts tumbling windows by the offset', () => {
    const h = harness(tumbling(10, 3), collect);
    for (const t of [2, 3, 12, 13]) h.element({ k: 'a', n: t }, t);
    h.watermark(MAX_WATERMARK);
    assert.deepEqual(results(h), [
      ['a', -7, 3, [2], 0],
      ['a', 3, 13, [3, 12], 0],
      ['a', 13, 23, [13], 0],
    ]);
  });

  it('fires windows by end and keys in string order, whatever the arrival order', () => {
    const h = harness(tumbling(10), count);
    for (const [k, t] of [
      ['b', 25],
      ['b', 5],
      ['a', 15],
      ['9', 5],
      ['10', 5],
      ['a', 5],
    ] as const) {
      h.element({ k }, t);
    }
    h.watermark(30);
    assert.deepEqual(
      results(h).map(([k, s]) => `${s}:${k}`),
      ['0:10', '0:9', '0:a', '0:b', '10:a', '20:b'],
    );
  });

  it('reports every change to the windows store so that incremental snapshots see it', () => {
    const h = harness(tumbling(10), count, { allowedLatenessMs: 10 });
    const store = h.table('windows');
    assert.ok(store);
    // What a checkpoint reads (the runtime's and the harness's `checkpoint` do the same).
    const takeChanges = () => [...store.takeChanges()];
    h.element({ k: 'a' }, 1);
    assert.deepEqual(takeChanges(), [['0:10:a', [1, 0]]]);
    h.element({ k: 'a' }, 2);
    assert.deepEqual(takeChanges(), [['0:10:a', [2, 0]]], 'an update of an existing accumulator');
    assert.deepEqual(takeChanges(), [], 'nothing changed');
    h.watermark(10);
    assert.deepEqual(takeChanges(), [['0:10:a', [2, 1]]], 'the emitted count');
    h.element({ k: 'a' }, 5);
    assert.deepEqual(takeChanges(), [['0:10:a', [3, 2]]], 'a late update: accumulator and emitted count');
    h.element({ k: 'a' }, 15).element({ k: 'a' }, 16);
    assert.deepEqual(takeChanges(), [['10:20:a', [2, 0]]], 'one entry per cell however often it changed');
    h.watermark(20);
    assert.deepEqual(
      takeChanges().sort(),
      [
        ['0:10:a', undefined],
        ['10:20:a', [2, 1]],
      ],
      'the cleanup',
    );
  });

  it('reports no entry for a cell created and deleted between two checkpoints', () => {
    for (const allowedLatenessMs of [0, 5]) {
      const h = harness(tumbling(10), count, { allowedLatenessMs });
      const store = h.table('windows');
      assert.ok(store);
      h.element({ k: 'a' }, 1);
      assert.deepEqual([...store.takeChanges()], [['0:10:a', [1, 0]]]);
      // b is created, updated, fired (and re-fired under lateness) and deleted before the next checkpoint.
      h.element({ k: 'b' }, 2).element({ k: 'a' }, 3).element({ k: 'b' }, 4).element({ k: 'c' }, 12).watermark(10);
      if (allowedLatenessMs > 0) h.element({ k: 'b' }, 6);
      h.watermark(10 + allowedLatenessMs);
      assert.equal(h.stateEntries(), 1, `L = ${allowedLatenessMs}: only [10, 20) for c is left`);
      assert.deepEqual(
        [...store.takeChanges()].sort(),
        [
          ['0:10:a', undefined],
          ['10:20:c', [1, 0]],
        ],
        `L = ${allowedLatenessMs}: the deletion of the reported a, nothing for b`,
      );
      h.watermark(20 + allowedLatenessMs);
      assert.deepEqual([...store.takeChanges()], [['10:20:c', undefined]]);
      assert.deepEqual([...store.takeChanges()], []);
    }
  });

  it('reports the changes and deletions of restored cells, and restoring itself as no change', () => {
    const h = harness(tumbling(10), count);
    h.element({ k: 'a' }, 1).element({ k: 'b' }, 2).restart();
    const store = h.table('windows');
    assert.ok(store);
    assert.equal(store.measure().entries, 2);
    assert.deepEqual([...store.takeChanges()], [], 'restoring is not a change');
    h.element({ k: 'a' }, 3);
    assert.deepEqual([...store.takeChanges()], [['0:10:a', [2, 0]]]);
    h.watermark(10);
    assert.deepEqual(
      [...store.takeChanges()].sort(),
      [
        ['0:10:a', undefined],
        ['0:10:b', undefined],
      ],
      'both were in the snapshot it was restored from',
    );
    assert.deepEqual(results(h), [
      ['a', 0, 10, 2, 0],
      ['b', 0, 10, 1, 0],
    ]);
  });

  it('lists every live cell in allEntries and reports the deletion of cells a full snapshot holds', () => {
    const h = harness(hopping(10, 5), count);
    const store = h.table('windows');
    assert.ok(store);
    h.element({ k: 'a' }, 7).element({ k: 'b' }, 3);
    assert.deepEqual([...store.allEntries()].sort(), [
      ['-5:5:b', [1, 0]],
      ['0:10:a', [1, 0]],
      ['0:10:b', [1, 0]],
      ['5:15:a', [1, 0]],
    ]);
    assert.deepEqual(store.measure().entries, 4);
    assert.ok(store.measure().bytes > 4 * 20, 'an estimate of the serialized size');
    h.watermark(5);
    const changes = new Map([...store.takeChanges()]);
    assert.equal(changes.get('-5:5:b'), undefined);
    assert.ok(changes.has('-5:5:b'), 'its deletion: a full snapshot held it');
    assert.equal(store.measure().entries, 3);
  });

  it('keeps incremental snapshots equal to the live state across many windows, keys and checkpoints', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
    const h = harness(hopping(40, 20), count, { allowedLatenessMs: 15 });
    const store = h.table('windows');
    assert.ok(store);
    const applied = new Map<string, unknown>();
    const checkpoint = () => {
      for (const [key, value] of store.takeChanges()) {
        if (value === undefined) {
          assert.ok(applied.delete(key), `a deletion of ${key}, which no snapshot holds`);
        } else applied.set(key, structuredClone(value));
      }
      assert.equal(applied.size, store.measure().entries);
    };
    let maxT = 0;
    for (let i = 0; i < 20_000; i++) {
      const t = i - Math.floor(rnd() * 30);
      h.element({ k: `k${Math.floor(rnd() * 300)}` }, t);
      if (t > maxT) h.watermark((maxT = t) - 10);
      // Checkpoints far apart (thousands of cells between them) and close together.
      if (rnd() < (i < 10_000 ? 0.0005 : 0.02)) checkpoint();
    }
    checkpoint();
    const live = new Map([...store.allEntries()]);
    assert.ok(live.size > 50, `${live.size} live cells`);
    assert.deepEqual(applied, live);
    h.watermark(MAX_WATERMARK);
    checkpoint();
    assert.equal(applied.size, 0);
  });

  it('emits the same sequence when restarted through a snapshot at any point', () => {
    type Step = readonly ['e', string, number] | readonly ['w', number];
    const script: Step[] = [
      ['e', 'b', 3],
      ['e', 'a', 7],
      ['e', 'a', 12],
      ['w', 10],
      ['e', 'a', 6], // re-fires [0, 10) and [5, 15) under lateness
      ['e', 'c', 14],
      ['e', 'b', 1], // late: 1 < 10 − 4
      ['w', 16],
      ['e', 'c', 13],
      ['e', 'a', 30],
      ['w', 22],
      ['e', 'b', 19],
      ['w', MAX_WATERMARK],
    ];
    const run = (...restartAt: number[]) => {
      const h = harness(hopping(10, 5), collect, { allowedLatenessMs: 4 });
      script.forEach((step, i) => {
        if (restartAt.includes(i)) h.restart();
        if (step[0] === 'e') h.element({ k: step[1], n: step[2] }, step[2]);
        else h.watermark(step[1]);
      });
      return { out: h.emitted(), late: h.emitted('late'), state: h.stateEntries() };
    };
    const expected = run(-1);
    assert.ok(expected.out.length > 10);
    assert.ok(expected.out.some((e) => (e.value as WindowResult<unknown>).firing > 0));
    assert.equal(expected.late.length, 1);
    for (let i = 1; i < script.length; i++) assert.deepEqual(run(i), expected, `restart before step ${i}`);
    // Twice: the snapshot after a restore holds the restored cells' later changes and deletions.
    for (let i = 1; i < script.length; i++) {
      for (let j = i + 1; j < script.length; j++) {
        assert.deepEqual(run(i, j), expected, `restarts before steps ${i} and ${j}`);
      }
    }
  });

  it('holds no state once the watermark is +∞', () => {
    const h = harness(cumulate(10, 60), count, { allowedLatenessMs: 1000 });
    for (let t = 0; t < 500; t += 7) h.element({ k: `k${t % 13}` }, t);
    h.watermark(200);
    assert.ok(h.stateEntries() > 0);
    h.watermark(MAX_WATERMARK);
    assert.equal(h.stateEntries(), 0);
    assert.equal(h.operator.describe?.().openWindows, 0);
  });

  it('rejects invalid parameters with FM_PIPELINE_INVALID naming the parameter', () => {
    const make =
      (a: WindowAssigner, o: WindowOptions = {}) =>
      () =>
        new WindowOperator<Ev, number, number>((v) => v.k, a, count, o);
    expectInvalid(make(tumbling(0)), /sizeMs/);
    expectInvalid(make(tumbling(-5)), /sizeMs/);
    expectInvalid(make(tumbling(Number.NaN)), /sizeMs/);
    expectInvalid(make(tumbling(10, Number.POSITIVE_INFINITY)), /offsetMs/);
    expectInvalid(make(hopping(0, 5)), /sizeMs/);
    expectInvalid(make(hopping(10, 0)), /slideMs/);
    expectInvalid(make(hopping(10, 20)), /slideMs .*sizeMs/);
    expectInvalid(make(cumulate(0, 10)), /stepMs/);
    expectInvalid(make(cumulate(3, 10)), /maxSizeMs .*multiple of stepMs/);
    expectInvalid(make(tumbling(10), { allowedLatenessMs: -1 }), /allowedLatenessMs/);
    expectInvalid(make(session(10)), /session/);
    assert.doesNotThrow(make(hopping(10, 10)));
    assert.doesNotThrow(make(cumulate(5, 5)));
  });

  it('runs in a pipeline: results, late records and recovery after a crash', async () => {
    const clicks = [
      { k: 'a', t: 1_000 },
      { k: 'b', t: 59_999 },
      { k: 'a', t: 60_000 },
      { k: 'a', t: 61_000 },
      { k: 'b', t: 200_000 }, // moves the watermark to 200 000
      { k: 'a', t: 119_999 }, // late
      { k: 'b', t: 200_001 },
      { k: 'c', t: 240_000 },
    ];
    const build = (src: MemorySource<Click>) => {
      const p = new Pipeline();
      const { out, invalid } = p.source<Click, Click>('clicks', {
        reader: src,
        eventTimeMs: (c) => c.t,
        maxOutOfOrdernessMs: 0,
      });
      const { out: counts, late } = out
        .keyBy((c) => c.k)
        .window('per-minute', tumbling(60_000), {
          create: () => 0,
          add: (n: number) => n + 1,
          result: (n: number) => n,
        });
      counts.sink('counts');
      late.sink('late');
      invalid.sink('invalid');
      return p;
    };
    const summary = (committer: MemoryCommitter) =>
      committer.rows<WindowResult<number>>('counts').map((r) => `${r.key}@${r.windowStartMs}=${r.value}`);

    const whole = new MemoryCommitter();
    await new Runtime(build(MemorySource.of(clicks)), { committer: whole, clock: new ManualClock() }).run();
    assert.deepEqual(summary(whole), ['a@0=1', 'b@0=1', 'a@60000=2', 'b@180000=2', 'c@240000=1']);
    assert.deepEqual(whole.rows('late'), [{ k: 'a', t: 119_999 }]);

    // Crash after 6 records with a checkpoint every 3, then resume from the committed state.
    const committer = new MemoryCommitter();
    const options = { committer, clock: new ManualClock(), checkpointEveryRecords: 3, pollMaxRecords: 1 };
    const crashing = new Runtime(build(MemorySource.of(clicks, { failAfterRecords: 6 })), options);
    await assert.rejects(crashing.run(), (err: unknown) => isFlowmarkError(err, 'FM_SOURCE_FAILED'));
    assert.ok(committer.commits > 0);
    const resumed = new Runtime(build(MemorySource.of(clicks)), options);
    await resumed.run();
    assert.deepEqual(summary(committer), summary(whole));
    assert.deepEqual(committer.rows('late'), whole.rows('late'));
    assert.equal(resumed.stateEntries(), 0);
  });
});
