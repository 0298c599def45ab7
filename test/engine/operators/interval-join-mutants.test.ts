/**
 * Cases of IntervalJoinOperator that kill mutants which survived interval-join-operator.test.ts
 * (docs/testing.md, "Mutation testing"): what a checkpoint keeps when a record leaves a key's list,
 * the cleanup of restored rights, a right no left can reach, the bounds' error message.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { IntervalJoinOperator } from '../../../src/engine/operators/interval-join-operator.ts';
import { MAX_WATERMARK } from '../../../src/engine/time.ts';
import { OperatorHarness } from '../operator-harness.ts';

interface Ev {
  k: string;
  id: string;
}

const LEFT = 0;
const RIGHT = 1;
const ev = (id: string, k = 'a'): Ev => ({ k, id });

function harness(lowerMs: number, upperMs: number, kind: 'inner' | 'leftOuter' = 'inner'): OperatorHarness {
  return new OperatorHarness(
    () =>
      new IntervalJoinOperator<Ev, Ev, string>(
        (l) => l.k,
        (r) => r.k,
        { lowerMs, upperMs, kind, join: (l, r) => `${l.id}+${r?.id ?? '-'}` },
      ),
    { inputs: 2, ports: ['out', 'lateLeft', 'lateRight'] },
  );
}

/** The ids buffered on one side, per key, as the state table holds them. */
function held(h: OperatorHarness, side: 'left' | 'right'): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, list] of h.table(side)?.allEntries() ?? []) {
    // A left entry is [t, seq, value, matched], a right one [t, value].
    out[key] = (list as unknown[][]).map((e) => (e[side === 'left' ? 2 : 1] as Ev).id);
  }
  return out;
}

describe('IntervalJoinOperator (mutation survivors)', () => {
  it('a record leaving a key list that keeps others is checkpointed: a restart does not bring it back', () => {
    // Both sides: l1 and r1 leave their key's list at W = 20, l2 and r2 stay.
    const h = harness(0, 5, 'leftOuter')
      .element(ev('l1'), 10, LEFT)
      .element(ev('l2'), 30, LEFT)
      .element(ev('r1'), 10, RIGHT)
      .element(ev('r2'), 30, RIGHT)
      .checkpoint()
      .watermarkAll(20);
    assert.deepEqual(h.out(), ['l1+r1', 'l2+r2']);
    assert.deepEqual(held(h, 'left'), { a: ['l2'] });
    assert.deepEqual(held(h, 'right'), { a: ['r2'] });
    h.restart();
    assert.deepEqual(held(h, 'left'), { a: ['l2'] }, 'the restored lefts');
    assert.deepEqual(held(h, 'right'), { a: ['r2'] }, 'the restored rights');
    h.watermarkAll(MAX_WATERMARK);
    assert.deepEqual(h.out(), ['l1+r1', 'l2+r2'], 'no second row for l1');
  });

  it('a left-outer row is emitted once across a restart, when its key keeps other lefts', () => {
    const h = harness(0, 5, 'leftOuter')
      .element(ev('l1'), 10, LEFT)
      .element(ev('l2'), 30, LEFT)
      .checkpoint()
      .watermarkAll(20);
    assert.deepEqual(h.out(), ['l1+-']);
    h.restart().watermarkAll(MAX_WATERMARK);
    assert.deepEqual(h.out(), ['l1+-', 'l2+-']);
  });

  it('restored rights are still cleaned up: the state is empty at +∞ after a restart', () => {
    const h = harness(-5, 0).element(ev('r1'), 10, RIGHT).element(ev('r2', 'b'), 20, RIGHT).restart();
    assert.equal(h.operator.describe?.().bufferedRight, 2);
    h.watermarkAll(MAX_WATERMARK);
    assert.deepEqual(held(h, 'right'), {});
    assert.equal(h.stateEntries(), 0);
  });

  it('a right that no on-time left can reach any more is not kept (lowerMs > 0)', () => {
    // A left at t matches rights in [t + 10, t + 20]; at W = 100 every on-time left has t ≥ 100.
    const h = harness(10, 20).watermarkAll(100);
    h.element(ev('r105'), 105, RIGHT); // on time, but a left would need t ≤ 95
    assert.deepEqual(held(h, 'right'), {});
    assert.equal(h.operator.describe?.().bufferedRight, 0);
    h.element(ev('r110'), 110, RIGHT); // a left at 100 can still reach it
    assert.deepEqual(held(h, 'right'), { a: ['r110'] });
    h.element(ev('l100'), 100, LEFT);
    assert.deepEqual(h.out(), ['l100+r110']);
    assert.deepEqual(h.operator.describe?.(), { lowerMs: 10, upperMs: 20, bufferedLeft: 1, bufferedRight: 1 });
  });

  it('refuses bad bounds with a message that names them', () => {
    assert.throws(
      () => harness(5, 4),
      (err) => isFlowmarkError(err, 'FM_PIPELINE_INVALID') && /lowerMs ≤ upperMs \(got 5, 4\)/.test(err.message),
    );
  });
});
