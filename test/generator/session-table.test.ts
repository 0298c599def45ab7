import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_CLICKS, SessionTable } from '../../src/generator/session-table.ts';

/** Pops every slot in heap order. */
function drain(t: SessionTable): number[] {
  const out: number[] = [];
  while (t.size > 0) {
    out.push(t.peekSlot());
    t.pop();
  }
  return out;
}

test('the heap hands out slots by (time, seq), also past the first growth, and after the top moved', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.boolean()), { minLength: 1, maxLength: 3000 }),
      (rows) => {
        const t = new SessionTable();
        const slots = rows.map(([time], i) => {
          const s = t.alloc();
          t.timeMs[s] = time;
          t.seq[s] = i;
          t.push(s);
          return s;
        });
        // The earliest session moves later, as a session's next event does.
        const top = t.peekSlot();
        t.timeMs[top] = (t.timeMs[top] as number) + 25;
        t.updateTop();
        const expected = [...slots].sort(
          (a, b) => (t.timeMs[a] as number) - (t.timeMs[b] as number) || (t.seq[a] as number) - (t.seq[b] as number),
        );
        assert.deepEqual(drain(t), expected);
        assert.equal(t.peekTime(), Number.POSITIVE_INFINITY);
      },
    ),
    { numRuns: 50 },
  );
});

test('a released slot is reused with nothing clicked; a copy holds the same session in a slot of its own', () => {
  const t = new SessionTable();
  const a = t.alloc();
  t.timeMs[a] = 7.5;
  t.user[a] = 42;
  t.discount[a] = 0.15;
  for (let i = 0; i < MAX_CLICKS; i++) t.addClicked(a, 100 + i);
  assert.throws(() => t.addClicked(a, 1), /at most 12 products/);
  const b = t.copy(a);
  assert.notEqual(b, a);
  assert.deepEqual([t.timeMs[b], t.user[b], t.discount[b], t.clickedCount[b]], [7.5, 42, 0.15, MAX_CLICKS]);
  assert.equal(t.clickedAt(b, MAX_CLICKS - 1), 100 + MAX_CLICKS - 1);
  t.release(a);
  const c = t.alloc();
  assert.equal(c, a, 'the released slot comes back');
  assert.equal(t.clickedCount[c], 0);
  assert.equal(t.clickedCount[b], MAX_CLICKS, 'the copy keeps its own clicks');
});

test('shift moves every session in the heap, keeping the order', () => {
  const t = new SessionTable();
  for (let i = 0; i < 5; i++) {
    const s = t.alloc();
    t.timeMs[s] = 10 - i;
    t.seq[s] = i;
    t.push(s);
  }
  t.shift(1000);
  assert.equal(t.peekTime(), 1006);
  assert.deepEqual(
    drain(t).map((s) => t.timeMs[s]),
    [1006, 1007, 1008, 1009, 1010],
  );
});
