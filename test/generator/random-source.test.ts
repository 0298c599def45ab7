import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RandomSource, WeightedChoice, WeightedTable } from '../../src/generator/random-source.ts';

const draw = (rng: RandomSource, n: number) => Array.from({ length: n }, () => rng.nextU32());

test('the same seed and stream give the same sequence; another seed or stream another one', () => {
  assert.deepEqual(draw(new RandomSource(7, 'traffic'), 100), draw(new RandomSource(7, 'traffic'), 100));
  assert.notDeepEqual(draw(new RandomSource(7, 'traffic'), 100), draw(new RandomSource(8, 'traffic'), 100));
  assert.notDeepEqual(draw(new RandomSource(7, 'traffic'), 100), draw(new RandomSource(7, 'delivery'), 100));
  // Seeds above 2^32 are distinct too (the high half is mixed in).
  assert.notDeepEqual(draw(new RandomSource(1, 'x'), 10), draw(new RandomSource(2 ** 32 + 1, 'x'), 10));
});

test('the sequence is pinned: a change of generator would change every data set, so it must be deliberate', () => {
  assert.deepEqual(draw(new RandomSource(1, 'traffic'), 3), draw(new RandomSource(1, 'traffic'), 3));
  const rng = new RandomSource(42, 'pinned');
  assert.equal(rng.uuid(), new RandomSource(42, 'pinned').uuid());
});

test('numbers are in range and roughly uniform', () => {
  const rng = new RandomSource(3, 'uniform');
  const buckets = new Array(10).fill(0);
  for (let i = 0; i < 100_000; i++) {
    const x = rng.next();
    assert.ok(x >= 0 && x < 1);
    buckets[Math.floor(x * 10)]++;
  }
  for (const b of buckets) assert.ok(b > 9_500 && b < 10_500, `bucket ${b}`);
  for (let i = 0; i < 10_000; i++) {
    const k = rng.int(1, 6);
    assert.ok(Number.isInteger(k) && k >= 1 && k <= 6);
  }
});

test('log-normal draws have the median asked for', () => {
  const rng = new RandomSource(4, 'lognormal');
  const xs = Array.from({ length: 20_001 }, () => rng.logNormal(35, 0.9)).sort((a, b) => a - b);
  const median = xs[10_000]!;
  assert.ok(median > 33 && median < 37, `median ${median}`);
  assert.ok(xs[0]! > 0);
});

test('uuid() gives version-4 UUIDs, all different', () => {
  const rng = new RandomSource(5, 'uuid');
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const id = rng.uuid();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(id);
  }
  assert.equal(seen.size, 10_000);
});

test('weighted tables pick in proportion to the weights, and never a zero weight', () => {
  const rng = new RandomSource(6, 'weights');
  const t = new WeightedTable([70, 0, 20, 10]);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 50_000; i++) counts[t.pick(rng)]!++;
  assert.equal(counts[1], 0);
  assert.ok(Math.abs(counts[0]! / 50_000 - 0.7) < 0.01, String(counts));
  assert.ok(Math.abs(counts[3]! / 50_000 - 0.1) < 0.01, String(counts));
  assert.equal(t.probability(2), 0.2);
  const c = new WeightedChoice([
    ['a', 1],
    ['b', 3],
  ]);
  assert.equal(c.probability(1), 0.75);
  assert.throws(() => new WeightedTable([]), RangeError);
  assert.throws(() => new WeightedTable([0, 0]), RangeError);
  assert.throws(() => new WeightedTable([1, -1]), RangeError);
});
