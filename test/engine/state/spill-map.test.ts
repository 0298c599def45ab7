import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SpillMap, V8_MAP_LIMIT } from '../../../src/engine/state/spill-map.ts';

test('SpillMap behaves as a Map across inner maps (small capacity, random operations)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.tuple(fc.constantFrom('set', 'delete', 'get'), fc.integer({ min: 0, max: 20 }), fc.integer()), {
        maxLength: 200,
      }),
      (capacity, ops) => {
        const spill = new SpillMap<number>(capacity);
        const model = new Map<string, number>();
        for (const [op, k, v] of ops) {
          const key = `k${k}`;
          if (op === 'set') {
            spill.set(key, v);
            model.set(key, v);
          } else if (op === 'delete') assert.equal(spill.delete(key), model.delete(key));
          else assert.equal(spill.get(key), model.get(key));
          assert.equal(spill.size, model.size);
        }
        assert.deepEqual(new Map(spill.entries()), model);
        assert.deepEqual(new Set(spill.keys()), new Set(model.keys()));
        for (const k of model.keys()) assert.ok(spill.has(k));
      },
    ),
  );
});

test('a key is stored once: updating a key that lives in an older inner map updates it there', () => {
  const m = new SpillMap<string>(2);
  m.set('a', '1').set('b', '2').set('c', '3'); // c spills into a second map
  m.set('a', 'one');
  assert.equal(m.size, 3);
  assert.deepEqual(
    [...m],
    [
      ['a', 'one'],
      ['b', '2'],
      ['c', '3'],
    ],
  );
});

test('the default capacity stays below the V8 limit of 2^24 entries per Map', () => {
  assert.throws(() => new SpillMap(V8_MAP_LIMIT + 1), RangeError);
  assert.ok(new SpillMap() instanceof SpillMap);
});

// The tests below kill mutants that survived the ones above (docs/testing.md, "Mutation testing").

test('every key is found in whichever inner map holds it; a missing key is not', () => {
  for (let capacity = 1; capacity <= 3; capacity++) {
    const m = new SpillMap<number>(capacity);
    for (let i = 0; i < 10; i++) m.set(`k${i}`, i);
    m.delete('k4');
    for (let i = 0; i < 10; i++) {
      assert.equal(m.get(`k${i}`), i === 4 ? undefined : i, `capacity ${capacity}: get k${i}`);
      assert.equal(m.has(`k${i}`), i !== 4, `capacity ${capacity}: has k${i}`);
    }
    assert.equal(m.get('missing'), undefined);
    assert.equal(m.has('missing'), false);
    assert.equal(m.size, 9);
  }
});

test('clear empties every inner map, and the map takes keys again', () => {
  const m = new SpillMap<number>(2);
  m.set('a', 1).set('b', 2).set('c', 3);
  m.clear();
  assert.equal(m.size, 0);
  assert.equal(m.get('c'), undefined);
  assert.deepEqual([...m], []);
  m.set('d', 4).set('e', 5).set('f', 6);
  assert.deepEqual(
    [...m],
    [
      ['d', 4],
      ['e', 5],
      ['f', 6],
    ],
  );
});

test('the capacity is an integer in [1, 2^24], and the error says so', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, V8_MAP_LIMIT + 1]) {
    assert.throws(
      () => new SpillMap(bad),
      (err) => err instanceof RangeError && /integer in \[1, 2\^24\], got/.test(err.message),
      `capacity ${bad}`,
    );
  }
  assert.ok(new SpillMap(1) instanceof SpillMap);
  assert.ok(new SpillMap(V8_MAP_LIMIT) instanceof SpillMap, 'the limit itself is allowed');
});
