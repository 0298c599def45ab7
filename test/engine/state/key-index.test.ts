import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { KeyIndex } from '../../../src/engine/state/key-index.ts';

test('interning, finding and releasing keys behaves as a Map, ids reused, through growth', () => {
  const keyArb = fc.oneof(
    fc.constantFrom('a', 'b', 'u000001\u0000p00002', '\ud800', 'ü', '日本'),
    fc.string({ maxLength: 12, unit: 'binary' }),
    fc.nat(3000).map((n) => `key-${n}`),
  );
  const opArb = fc.tuple(fc.constantFrom('intern', 'intern', 'release', 'find'), keyArb);
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 3000, size: 'max' }), (ops) => {
      const index = new KeyIndex();
      const model = new Map<string, number>();
      for (const [op, key] of ops) {
        if (op === 'intern') {
          const id = index.intern(key);
          if (model.has(key)) assert.equal(id, model.get(key));
          else {
            assert.ok(![...model.values()].includes(id), 'a new key gets an id no live key has');
            model.set(key, id);
          }
        } else if (op === 'release') {
          const id = model.get(key);
          if (id !== undefined) {
            index.release(id);
            model.delete(key);
          }
        }
        assert.equal(index.find(key), model.get(key) ?? -1);
      }
      assert.equal(index.size, model.size);
      for (const [key, id] of model) {
        assert.equal(index.find(key), id);
        assert.equal(index.keyOf(id), key);
        assert.ok(index.isLive(id));
      }
      assert.deepEqual(
        [...index.ids()].sort((a, b) => a - b),
        [...model.values()].sort((a, b) => a - b),
      );
    }),
    { numRuns: 100 },
  );
});

test('a long key, and many released keys (the arena is compacted)', () => {
  const index = new KeyIndex();
  const long = `${'x'.repeat(100_000)}\u1234`;
  const id = index.intern(long);
  const ids: number[] = [];
  for (let i = 0; i < 50_000; i++) ids.push(index.intern(`k${i}-${'y'.repeat(20)}`));
  for (let i = 0; i < 50_000; i++) if (i % 4 !== 3) index.release(ids[i] as number);
  assert.equal(index.keyOf(id), long);
  assert.equal(index.find(long), id);
  for (let i = 3; i < 50_000; i += 4) {
    assert.equal(index.find(`k${i}-${'y'.repeat(20)}`), ids[i]);
    assert.equal(index.keyOf(ids[i] as number), `k${i}-${'y'.repeat(20)}`);
  }
  assert.equal(index.find(`k0-${'y'.repeat(20)}`), -1);
  assert.equal(index.size, 12_501);
});
