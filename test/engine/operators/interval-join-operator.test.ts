import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryCommitter } from '../../../src/connectors/memory/memory-committer.ts';
import { MemorySource } from '../../../src/connectors/memory/memory-source.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import type { IntervalJoinSpec } from '../../../src/engine/interval-join-types.ts';
import { IntervalJoinOperator } from '../../../src/engine/operators/interval-join-operator.ts';
import { Pipeline } from '../../../src/engine/pipeline.ts';
import { Runtime } from '../../../src/engine/runtime/runtime.ts';
import { MAX_WATERMARK, ManualClock } from '../../../src/engine/time.ts';
import { type Emitted, OperatorHarness } from '../operator-harness.ts';

interface Ev {
  k: string;
  id: string;
}

const LEFT = 0;
const RIGHT = 1;

/** A joined row: left id + right id, '-' for a left-outer row. */
const pair = (l: Ev, r: Ev | undefined): string => `${l.id}+${r?.id ?? '-'}`;

function harness(lowerMs: number, upperMs: number, kind: 'inner' | 'leftOuter' = 'inner'): OperatorHarness {
  const spec: IntervalJoinSpec<Ev, Ev, string> = { lowerMs, upperMs, kind, join: pair };
  return new OperatorHarness(
    () =>
      new IntervalJoinOperator<Ev, Ev, string>(
        (l) => l.k,
        (r) => r.k,
        spec,
      ),
    {
      inputs: 2,
      ports: ['out', 'lateLeft', 'lateRight'],
    },
  );
}

/** Buffered records of one side, summed over keys. */
function buffered(h: OperatorHarness, side: 'left' | 'right'): number {
  const table = h.table(side);
  let n = 0;
  for (const [, list] of table?.allEntries() ?? []) n += (list as unknown[]).length;
  return n;
}

const ev = (id: string, k = 'a'): Ev => ({ k, id });

describe('IntervalJoinOperator', () => {
  for (const order of ['left first', 'right first'] as const) {
    it(`matches both bounds inclusively, one ms outside not (${order})`, () => {
      for (const [lower, upper] of [
        [-2, 3],
        [0, 0],
        [1, 5],
        [-5, -1],
      ] as const) {
        const h = harness(lower, upper);
        const lt = 100;
        const rights: Array<[Ev, number]> = [
          [ev('below'), lt + lower - 1],
          [ev('lower'), lt + lower],
          [ev('upper'), lt + upper],
          [ev('above'), lt + upper + 1],
        ];
        if (order === 'left first') {
          h.element(ev('l'), lt, LEFT);
          for (const [r, t] of rights) h.element(r, t, RIGHT);
        } else {
          // Arrive in reverse time order: the results still come in right-time order.
          for (const [r, t] of [...rights].reverse()) h.element(r, t, RIGHT);
          h.element(ev('l'), lt, LEFT);
        }
        // With lower = upper both match at the same time: then arrival order decides.
        const expected = order === 'right first' && lower === upper ? ['l+upper', 'l+lower'] : ['l+lower', 'l+upper'];
        assert.deepEqual(
          h.emitted(),
          expected.map((value) => ({ value, ts: lt })),
          `bounds [${lower}, ${upper}]`,
        );
      }
    });
  }

  it('joins with buffered records in order of their time, then arrival; results carry the left time', () => {
    const rightFirst = harness(0, 5);
    rightFirst
      .element(ev('r1'), 10, RIGHT)
      .element(ev('r2'), 12, RIGHT)
      .element(ev('r3'), 10, RIGHT)
      .element(ev('rOther', 'b'), 10, RIGHT)
      .element(ev('l'), 9, LEFT);
    assert.deepEqual(rightFirst.emitted(), [
      { value: 'l+r1', ts: 9 },
      { value: 'l+r3', ts: 9 },
      { value: 'l+r2', ts: 9 },
    ]);

    const leftFirst = harness(0, 5);
    leftFirst
      .element(ev('l1'), 10, LEFT)
      .element(ev('l2'), 8, LEFT)
      .element(ev('l3'), 10, LEFT)
      .element(ev('lOther', 'b'), 10, LEFT)
      .element(ev('r'), 12, RIGHT);
    assert.deepEqual(leftFirst.emitted(), [
      { value: 'l2+r', ts: 8 },
      { value: 'l1+r', ts: 10 },
      { value: 'l3+r', ts: 10 },
    ]);
  });

  it('inner: a left that matched nothing produces no row', () => {
    const h = harness(0, 5, 'inner');
    h.element(ev('l'), 10, LEFT).element(ev('r'), 30, RIGHT).watermarkAll(MAX_WATERMARK);
    assert.deepEqual(h.out(), []);
    assert.equal(h.stateEntries(), 0);
  });

  for (const order of ['left first', 'right first'] as const) {
    it(`leftOuter: an unmatched left is emitted exactly once, when W passes l.t + upper (${order})`, () => {
      const h = harness(-1, 5, 'leftOuter');
      if (order === 'left first') h.element(ev('l'), 10, LEFT).element(ev('r'), 16, RIGHT);
      else h.element(ev('r'), 16, RIGHT).element(ev('l'), 10, LEFT);
      h.watermarkAll(15);
      assert.deepEqual(h.out(), [], 'W = l.t + upper: a right at 15 could still match');
      h.watermarkAll(16);
      assert.deepEqual(h.emitted(), [{ value: 'l+-', ts: 10 }]);
      h.watermarkAll(100).watermarkAll(MAX_WATERMARK);
      assert.deepEqual(h.out(), ['l+-']);
    });
  }

  it('leftOuter: a matched left never produces an unmatched row', () => {
    const h = harness(0, 5, 'leftOuter');
    h.element(ev('r0', 'b'), 20, RIGHT)
      .element(ev('l1'), 10, LEFT) // matched later, by a right arriving while W is past l.t
      .element(ev('l2', 'b'), 18, LEFT) // matched at once by a buffered right
      .watermarkAll(14)
      .element(ev('r1'), 15, RIGHT)
      .watermarkAll(MAX_WATERMARK);
    assert.deepEqual(h.out(), ['l2+r0', 'l1+r1']);
  });

  it('leftOuter: rows finalized by one watermark come in (l.t, arrival) order before it is forwarded', () => {
    let h: OperatorHarness | undefined;
    const spec: IntervalJoinSpec<Ev, Ev, string> = {
      lowerMs: 0,
      upperMs: 5,
      kind: 'leftOuter',
      // Record how many watermarks had been forwarded when each row was made.
      join: (l, r) => `${pair(l, r)}@${h?.watermarks.length}`,
    };
    h = new OperatorHarness(
      () =>
        new IntervalJoinOperator<Ev, Ev, string>(
          (l) => l.k,
          (r) => r.k,
          spec,
        ),
      {
        inputs: 2,
        ports: ['out', 'lateLeft', 'lateRight'],
      },
    );
    h.element(ev('a', 'k1'), 12, LEFT)
      .element(ev('b', 'k2'), 10, LEFT)
      .element(ev('c', 'k3'), 12, LEFT)
      .element(ev('d', 'k1'), 10, LEFT)
      .element(ev('e', 'k2'), 12, LEFT)
      .watermarkAll(MAX_WATERMARK);
    assert.deepEqual(h.emitted(), [
      { value: 'b+-@0', ts: 10 },
      { value: 'd+-@0', ts: 10 },
      { value: 'a+-@0', ts: 12 },
      { value: 'c+-@0', ts: 12 },
      { value: 'e+-@0', ts: 12 },
    ]);
    assert.deepEqual(h.watermarks, [MAX_WATERMARK]);
  });

  it('sends late records to their late ports exactly at the watermark boundary, never joined', () => {
    const h = harness(-10, 10, 'leftOuter');
    h.watermarkAll(100)
      .element(ev('r100'), 100, RIGHT)
      .element(ev('lLate'), 99, LEFT)
      .element(ev('l100'), 100, LEFT)
      .element(ev('rLate'), 99, RIGHT);
    assert.deepEqual(h.emitted('lateLeft'), [{ value: ev('lLate'), ts: 99 }]);
    assert.deepEqual(h.emitted('lateRight'), [{ value: ev('rLate'), ts: 99 }]);
    assert.deepEqual(h.out(), ['l100+r100']);
    h.watermarkAll(MAX_WATERMARK);
    assert.deepEqual(h.out(), ['l100+r100'], 'a late left gets no outer row either');
  });

  it('judges lateness against the minimum of both input watermarks', () => {
    const h = harness(0, 0);
    h.watermark(200, LEFT).watermark(100, RIGHT);
    h.element(ev('l'), 150, LEFT).element(ev('r'), 150, RIGHT).element(ev('l99'), 99, LEFT);
    assert.deepEqual(h.out(), ['l+r']);
    assert.deepEqual(h.out('lateLeft'), [ev('l99')]);
    h.element(ev('r99'), 99, RIGHT);
    assert.deepEqual(h.out('lateRight'), [ev('r99')]);
  });

  it('drops each side from state as the watermark passes its last possible match', () => {
    // Left at 10 can match rights in [12, 16]: kept while W ≤ 16.
    // Right at t can be matched by lefts in [t − 6, t − 2]: kept while W ≤ t − 2.
    const h = harness(2, 6, 'leftOuter');
    h.element(ev('l'), 10, LEFT).element(ev('r10'), 10, RIGHT).element(ev('r14'), 14, RIGHT);
    assert.deepEqual(h.out(), ['l+r14']);
    assert.deepEqual([buffered(h, 'left'), buffered(h, 'right')], [1, 2]);
    h.watermarkAll(8);
    assert.deepEqual([buffered(h, 'left'), buffered(h, 'right')], [1, 2]);
    h.watermarkAll(9);
    assert.deepEqual([buffered(h, 'left'), buffered(h, 'right')], [1, 1]);
    h.watermarkAll(13);
    assert.deepEqual([buffered(h, 'left'), buffered(h, 'right')], [1, 0]);
    h.watermarkAll(16);
    assert.equal(buffered(h, 'left'), 1);
    h.watermarkAll(17);
    assert.equal(h.stateEntries(), 0);
    assert.deepEqual(h.out(), ['l+r14'], 'the matched left left no outer row behind');
  });

  it('holds the output watermark back to the earliest buffered left', () => {
    const h = harness(-10, 100);
    h.element(ev('l'), 10, LEFT);
    h.watermarkAll(5);
    h.watermarkAll(50);
    h.watermarkAll(60);
    assert.deepEqual(h.watermarks, [5, 10], 'held at 10 while l can still produce rows at 10');
    h.element(ev('r'), 60, RIGHT);
    assert.deepEqual(h.emitted(), [{ value: 'l+r', ts: 10 }], 'not late for the forwarded watermark');
    h.watermarkAll(110);
    assert.deepEqual(h.watermarks, [5, 10]);
    h.watermarkAll(111);
    assert.deepEqual(h.watermarks, [5, 10, 111]);
  });

  it('matches a brute-force model on random input, never emitting behind its own watermark', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rnd = random(seed);
      const lower = Math.floor(rnd() * 21) - 10;
      const upper = lower + Math.floor(rnd() * 15);
      const steps = scenario(rnd, 300);
      const h = harness(lower, upper, 'leftOuter');
      const violations: string[] = [];
      const lastWm = (): number => h.watermarks.at(-1) ?? Number.NEGATIVE_INFINITY;
      let wm = Number.NEGATIVE_INFINITY;
      const inputWm = [wm, wm];
      const onTime: Array<[Ev, number, number]> = [];
      for (const s of steps) {
        if (s.kind === 'wm') {
          inputWm[s.input] = Math.max(inputWm[s.input] as number, s.t);
          wm = Math.min(...inputWm);
          const before = h.outputs.get('out')?.length ?? 0;
          const forwarded = lastWm();
          h.watermark(s.t, s.input);
          // Outer rows made by this watermark must not be behind the one forwarded before it.
          for (const e of h.emitted().slice(before)) {
            if (e.ts < forwarded) violations.push(`${e.value}@${e.ts} behind ${forwarded}`);
          }
        } else {
          if (s.t >= wm) onTime.push([s.ev, s.t, s.input]);
          const before = h.outputs.get('out')?.length ?? 0;
          h.element(s.ev, s.t, s.input);
          for (const e of h.emitted().slice(before)) {
            if (e.ts < lastWm()) violations.push(`${e.value}@${e.ts} behind ${lastWm()}`);
          }
        }
      }
      h.watermarkAll(MAX_WATERMARK);
      assert.deepEqual(violations, [], `seed ${seed}`);
      const lefts = onTime.filter(([, , i]) => i === LEFT);
      const rights = onTime.filter(([, , i]) => i === RIGHT);
      const expected: string[] = [];
      for (const [l, lt] of lefts) {
        const ms = rights.filter(([r, rt]) => r.k === l.k && lt + lower <= rt && rt <= lt + upper);
        if (ms.length === 0) expected.push(`${pair(l, undefined)}@${lt}`);
        for (const [r] of ms) expected.push(`${pair(l, r)}@${lt}`);
      }
      const actual = h.emitted().map((e: Emitted) => `${e.value}@${e.ts}`);
      assert.deepEqual(actual.sort(), expected.sort(), `seed ${seed}`);
      assert.equal(
        h.emitted('lateLeft').length + h.emitted('lateRight').length,
        steps.filter((s) => s.kind === 'el').length - onTime.length,
      );
      assert.equal(h.stateEntries(), 0, `seed ${seed}: state empty at +∞`);
    }
  });

  it('gives the same output after restart() mid-case as an uninterrupted run', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const steps = scenario(random(seed), 200);
      const run = (restartEvery: number): Record<string, unknown[]> => {
        const h = harness(-4, 6, 'leftOuter');
        steps.forEach((s, i) => {
          if (s.kind === 'wm') h.watermark(s.t, s.input);
          else h.element(s.ev, s.t, s.input);
          if (restartEvery > 0 && i % restartEvery === restartEvery - 1) h.restart();
        });
        h.watermarkAll(MAX_WATERMARK);
        return {
          out: h.emitted(),
          lateLeft: h.emitted('lateLeft'),
          lateRight: h.emitted('lateRight'),
          watermarks: h.watermarks,
        };
      };
      const uninterrupted = run(0);
      assert.ok(uninterrupted.out && uninterrupted.out.length > 0);
      for (const every of [1, 7, 50])
        assert.deepEqual(run(every), uninterrupted, `seed ${seed}, restart every ${every}`);
    }
  });

  it('with a negative upper bound, a left whose interval is already behind W is final on arrival', () => {
    // A left at t matches rights in [t − 5, t − 2].
    const h = harness(-5, -2, 'leftOuter');
    h.element(ev('r9'), 9, RIGHT).element(ev('r10'), 10, RIGHT).watermarkAll(10);
    h.element(ev('l11'), 11, LEFT); // interval [6, 9]: behind W = 10, so final now
    assert.deepEqual(h.out(), ['l11+r9']);
    h.element(ev('l11b', 'b'), 11, LEFT); // nothing buffered for key b: an outer row at once
    assert.deepEqual(h.out(), ['l11+r9', 'l11b+-']);
    h.element(ev('l12', 'c'), 12, LEFT); // interval [7, 10]: a right at 10 is still on time
    assert.equal(h.out().length, 2);
    h.element(ev('r10c', 'c'), 10, RIGHT);
    h.watermarkAll(MAX_WATERMARK);
    assert.deepEqual(h.out(), ['l11+r9', 'l11b+-', 'l12+r10c']);
    assert.equal(h.stateEntries(), 0);
  });

  it('refuses infinite or inverted bounds', () => {
    const join = (l: Ev): Ev => l;
    for (const [lowerMs, upperMs] of [
      [0, Number.POSITIVE_INFINITY],
      [5, 4],
    ] as const) {
      assert.throws(
        () =>
          new IntervalJoinOperator<Ev, Ev, Ev>(
            (l) => l.k,
            (r) => r.k,
            { lowerMs, upperMs, join },
          ),
        (err) => isFlowmarkError(err, 'FM_PIPELINE_INVALID'),
      );
    }
  });

  it('runs in a real Pipeline and Runtime, with late records sunk', async () => {
    const clicks = MemorySource.of<Click>([
      { user: 'u1', id: 'c1', t: 1_000 },
      { user: 'u2', id: 'c2', t: 2_000 },
      { user: 'u1', id: 'c3', t: 5_000 },
    ]);
    const orders = MemorySource.of<Click>([
      { user: 'u1', id: 'o1', t: 1_500 }, // c1 (within 1 s)
      { user: 'u2', id: 'o2', t: 4_000 }, // too late for c2
      { user: 'u1', id: 'o3', t: 5_000 }, // c3 (same ms)
      { user: 'u1', id: 'o4', t: 3_000 }, // behind the orders watermark (5 000): late
    ]);
    const committer = new MemoryCommitter();
    const runtime = new Runtime(attribution(clicks, orders), { committer, clock: new ManualClock(0) });
    await runtime.run();
    assert.deepEqual(committer.rows<string>('attributed').sort(), ['c1:o1', 'c2:none', 'c3:o3']);
    assert.deepEqual(
      committer.rows<Click>('late-orders').map((v) => v.id),
      ['o4'],
    );
    assert.deepEqual(committer.rows('late-clicks'), []);
    const node = runtime.stats().find((s) => s.id === 'attribute');
    assert.equal(node?.state.entries, 0, 'state is empty once both inputs ended');
    await runtime.close();
  });

  it('recovers from a crash through incremental checkpoints with the same output', async () => {
    const clickData: Click[] = [
      { user: 'u1', id: 'c1', t: 1_000 },
      { user: 'u2', id: 'c2', t: 3_000 },
    ];
    const orderData: Click[] = [
      { user: 'u1', id: 'o1', t: 1_500 }, // only marks c1 as matched: a change of the flag alone
      { user: 'u2', id: 'o2', t: 3_500 },
    ];
    // One record per poll, alternating sources, a checkpoint after every record.
    const options = { clock: new ManualClock(0), pollMaxRecords: 1, checkpointEveryRecords: 1 };
    const whole = new MemoryCommitter();
    await new Runtime(attribution(MemorySource.of(clickData), MemorySource.of(orderData)), {
      ...options,
      committer: whole,
    }).run();
    assert.deepEqual(whole.rows('attributed'), ['c1:o1', 'c2:o2']);

    const committer = new MemoryCommitter();
    const crashing = MemorySource.of(clickData, { failAfterRecords: 1 });
    await assert.rejects(
      new Runtime(attribution(crashing, MemorySource.of(orderData)), { ...options, committer }).run(),
      (err) => isFlowmarkError(err, 'FM_SOURCE_FAILED'),
    );
    assert.deepEqual(committer.rows('attributed'), ['c1:o1'], 'c1 matched before the crash');
    await new Runtime(attribution(MemorySource.of(clickData), MemorySource.of(orderData)), {
      ...options,
      committer,
    }).run();
    assert.deepEqual(committer.rows('attributed'), whole.rows('attributed'));
  });
});

/**
 * Flink's IntervalJoinOperatorTest cases, each run with the left side ahead and again with the
 * right side ahead (one side's records and watermarks all arrive before the other's), each
 * uninterrupted and with the state snapshotted and restored into a fresh operator mid-case.
 * Lefts and rights at 1…4 (key "a"), plus a key "b" with one record per side; the expected rows
 * are every pair with l.t + lower ≤ r.t ≤ l.t + upper, and for leftOuter every left that has none.
 */
describe('IntervalJoinOperator, Flink cases in both arrival orders and restored mid-case', () => {
  const BOUNDS: ReadonlyArray<readonly [string, number, number]> = [
    ['negative and negative', -3, -1],
    ['negative and zero', -3, 0],
    ['negative and positive', -1, 1],
    ['zero and zero', 0, 0],
    ['zero and positive', 0, 2],
    ['positive and positive', 1, 3],
    ['wide', -10, 10],
  ];
  type Side = 0 | 1;
  const records = (side: Side): Array<[Ev, number]> => [
    ...[1, 2, 3, 4].map((t): [Ev, number] => [ev(`${side === LEFT ? 'l' : 'r'}${t}`), t]),
    [ev(side === LEFT ? 'lb' : 'rb', 'b'), side === LEFT ? 2 : 4],
  ];

  function expectedRows(lower: number, upper: number, kind: 'inner' | 'leftOuter'): string[] {
    const rows: string[] = [];
    for (const [l, lt] of records(LEFT)) {
      const ms = records(RIGHT).filter(([r, rt]) => r.k === l.k && lt + lower <= rt && rt <= lt + upper);
      if (ms.length === 0 && kind === 'leftOuter') rows.push(`${pair(l, undefined)}@${lt}`);
      for (const [r] of ms) rows.push(`${pair(l, r)}@${lt}`);
    }
    return rows.sort();
  }

  /**
   * Feeds `first` side's records then watermarks 1…4, then the other side's, then +∞ on both;
   * restarts (snapshot, fresh operator, restore) after the steps listed in `restartAfter`.
   */
  function play(lower: number, upper: number, kind: 'inner' | 'leftOuter', first: Side, restartAfter: Set<string>) {
    const h = harness(lower, upper, kind);
    const buffers: Record<string, [number, number]> = {};
    for (const side of [first, (1 - first) as Side]) {
      const name = side === first ? 'first' : 'second';
      const recs = records(side);
      recs.forEach(([e, t], i) => {
        h.element(e, t, side);
        if (i === 1 && restartAfter.has(`${name} records, midway`)) h.restart();
      });
      for (const wm of [1, 2, 3, 4]) h.watermark(wm, side);
      buffers[name] = [buffered(h, 'left'), buffered(h, 'right')];
      if (restartAfter.has(`${name} side`)) h.restart();
    }
    h.watermarkAll(MAX_WATERMARK);
    return { h, buffers };
  }

  for (const [name, lower, upper] of BOUNDS) {
    for (const kind of ['inner', 'leftOuter'] as const) {
      it(`${name} [${lower}, ${upper}], ${kind}: the same rows with either side ahead, restored mid-case or not`, () => {
        const expected = expectedRows(lower, upper, kind);
        for (const [label, first] of [
          ['left side ahead', LEFT],
          ['right side ahead', RIGHT],
        ] as const) {
          const { h, buffers } = play(lower, upper, kind, first, new Set());
          const rows = h.emitted().map((e: Emitted) => `${e.value}@${e.ts}`);
          assert.deepEqual([...rows].sort(), expected, label);
          assert.deepEqual([h.emitted('lateLeft'), h.emitted('lateRight')], [[], []], `${label}: nothing is late`);
          // The side ahead is all buffered: the other input's watermark is still −∞, so W is too.
          assert.deepEqual(buffers.first, first === LEFT ? [5, 0] : [0, 5], `${label}: the side ahead is buffered`);
          assert.equal(h.stateEntries(), 0, `${label}: state empty at +∞`);
          // A snapshot restored mid-case (after a few records, after the side ahead, in the other
          // side) changes nothing: the same rows, in the same order, at the same watermarks.
          for (const restarts of [
            ['first records, midway'],
            ['first side'],
            ['second records, midway'],
            ['first records, midway', 'first side', 'second records, midway', 'second side'],
          ]) {
            const at = `${label}, restored after ${restarts.join(', ')}`;
            const restored = play(lower, upper, kind, first, new Set(restarts));
            assert.deepEqual(restored.h.emitted(), h.emitted(), at);
            assert.deepEqual(restored.h.watermarks, h.watermarks, at);
            assert.deepEqual(restored.buffers, buffers, `${at}: the same records buffered after each side`);
            assert.equal(restored.h.stateEntries(), 0, `${at}: state empty at +∞`);
          }
        }
      });
    }
  }
});

interface Click {
  user: string;
  id: string;
  t: number;
}

/** Clicks (left) attributed to orders (right) of the same user up to 1 s later. */
function attribution(clicks: MemorySource<Click>, orders: MemorySource<Click>): Pipeline {
  const p = new Pipeline();
  const c = p.source('clicks', { reader: clicks, eventTimeMs: (v: Click) => v.t, maxOutOfOrdernessMs: 0 });
  const o = p.source('orders', { reader: orders, eventTimeMs: (v: Click) => v.t, maxOutOfOrdernessMs: 0 });
  const joined = c.out
    .keyBy((v) => v.user)
    .intervalJoin(
      'attribute',
      o.out.keyBy((v) => v.user),
      {
        lowerMs: 0,
        upperMs: 1_000,
        kind: 'leftOuter',
        join: (click, order) => `${click.id}:${order?.id ?? 'none'}`,
      },
    );
  joined.out.sink('attributed');
  joined.lateLeft.sink('late-clicks');
  joined.lateRight.sink('late-orders');
  c.invalid.sink('bad-clicks');
  o.invalid.sink('bad-orders');
  return p;
}

type Step = { kind: 'el'; ev: Ev; t: number; input: number } | { kind: 'wm'; t: number; input: number };

/** A seeded PRNG (mulberry32), so every failure is reproducible. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Disordered records on both inputs (some late), with per-input watermarks trailing behind. */
function scenario(rnd: () => number, n: number): Step[] {
  const steps: Step[] = [];
  const maxT = [0, 0];
  for (let i = 0; i < n; i++) {
    const input = rnd() < 0.5 ? LEFT : RIGHT;
    if (rnd() < 0.15) {
      steps.push({ kind: 'wm', t: (maxT[input] as number) - Math.floor(rnd() * 10), input });
      continue;
    }
    const t = (maxT[input] as number) + Math.floor(rnd() * 8) - 4;
    maxT[input] = Math.max(maxT[input] as number, t);
    const k = `k${Math.floor(rnd() * 3)}`;
    steps.push({ kind: 'el', ev: { k, id: `${input === LEFT ? 'L' : 'R'}${i}` }, t, input });
  }
  return steps;
}
