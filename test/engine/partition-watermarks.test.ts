import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PartitionWatermarks } from '../../src/engine/partition-watermarks.ts';

test('W_p = max event time − bound; the source takes the minimum over partitions', () => {
  const w = new PartitionWatermarks([0, 1], 15_000, 30_000);
  assert.equal(w.watermark(), Number.NEGATIVE_INFINITY);
  w.observe(0, 100_000);
  assert.equal(w.watermark(), Number.NEGATIVE_INFINITY, 'partition 1 has seen nothing yet');
  w.observe(1, 40_000);
  assert.equal(w.watermark(), 25_000);
  w.observe(1, 30_000); // out of order: the maximum stays
  assert.equal(w.watermark(), 25_000);
  w.observe(1, 200_000);
  assert.equal(w.watermark(), 85_000);
});

test('idleness starts only after idle_timeout of being caught up, and ends with new data', () => {
  const w = new PartitionWatermarks([0, 1], 0, 1000);
  w.observe(0, 5000);
  assert.equal(w.afterPoll([1], 0), false);
  assert.equal(w.afterPoll([1], 999), false, 'one ms short of the timeout');
  assert.equal(w.afterPoll([1], 1000), true);
  assert.equal(w.isIdle(1), true);
  assert.equal(w.watermark(), 5000, 'the idle partition no longer holds the watermark at −∞');
  w.observe(1, 100);
  assert.equal(w.isIdle(1), false);
  assert.equal(w.watermark(), 100, 'active again: it holds the watermark back again');
});

test('a partition that is behind (not caught up) never becomes idle', () => {
  const w = new PartitionWatermarks([0], 0, 1000);
  for (let now = 0; now < 1_000_000; now += 100_000) assert.equal(w.afterPoll([], now), false);
  assert.equal(w.isIdle(0), false);
});

test('caught-up time restarts when a partition is seen busy in between', () => {
  const w = new PartitionWatermarks([0], 0, 1000);
  w.afterPoll([0], 0);
  w.afterPoll([], 500);
  assert.equal(w.afterPoll([0], 1200), false, 'caught up again only since 1200');
  assert.equal(w.afterPoll([0], 2200), true);
});

test('when every partition is idle the largest partition watermark holds', () => {
  const w = new PartitionWatermarks([0, 1], 10, 1);
  w.observe(0, 500);
  w.observe(1, 100);
  w.afterPoll([0, 1], 0);
  w.afterPoll([0, 1], 5);
  assert.equal(w.allIdle(), true);
  assert.equal(w.watermark(), 490);
});
