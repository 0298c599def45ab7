import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MinHeap } from '../../src/engine/heap.ts';

test('pops in priority order, equal priorities in insertion order', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 20 })), (prios) => {
      const h = new MinHeap<number>();
      prios.forEach((p, i) => {
        h.push(p, i);
      });
      const out: number[] = [];
      while (h.size > 0) out.push(h.pop() as number);
      const expected = prios.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      assert.deepEqual(
        out,
        expected.map(([, i]) => i),
      );
    }),
  );
});
