import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_TRAFFIC_OPTIONS,
  type DeliveredLine,
  DeliverySchedule,
  type GeneratedClick,
} from '../../src/generator/index.ts';

const click = (t: number, id: string): GeneratedClick => ({
  type: 'click',
  clickId: id,
  userId: 'u1',
  productId: 'p1',
  source: 'email',
  eventTimeMs: t,
});

test('without knobs, every line goes out at once, in the order accepted', () => {
  const d = new DeliverySchedule({ ...DEFAULT_TRAFFIC_OPTIONS });
  const out: DeliveredLine[] = [];
  for (let i = 0; i < 100; i++) d.accept(click(i * 10, `k${i}`), 2, out);
  assert.equal(out.length, 100);
  assert.equal(d.pending, 0);
  assert.deepEqual(
    out.map((l) => l.eventTimeMs),
    Array.from({ length: 100 }, (_, i) => i * 10),
  );
});

test('delayed lines wait until a later event passes their arrival time, or the flush', () => {
  const d = new DeliverySchedule({ ...DEFAULT_TRAFFIC_OPTIONS, disorder: 1, maxDisorderMs: 1000 });
  const out: DeliveredLine[] = [];
  d.accept(click(0, 'a'), 2, out);
  assert.equal(out.length, 0, 'delayed by 1…1000 ms');
  d.accept(click(5000, 'b'), 2, out);
  assert.deepEqual(
    out.map((l) => JSON.parse(l.line).click_id),
    ['a'],
  );
  assert.ok(out[0]!.arrivalMs > 0 && out[0]!.arrivalMs <= 1000);
  d.flush(out);
  assert.deepEqual(
    out.map((l) => JSON.parse(l.line).click_id),
    ['a', 'b'],
  );
  assert.equal(d.stats.outOfOrder, 0);
});

test('arrival order is by (event time + delay, order accepted); release(now) hands out what has arrived', () => {
  const d = new DeliverySchedule({ ...DEFAULT_TRAFFIC_OPTIONS, seed: 3, disorder: 0.5, maxDisorderMs: 50 });
  const out: DeliveredLine[] = [];
  for (let i = 0; i < 1000; i++) d.accept(click(i, `k${i}`), 2, out);
  d.release(2000, out);
  assert.equal(out.length, 1000);
  for (let i = 1; i < out.length; i++) assert.ok(out[i]!.arrivalMs >= out[i - 1]!.arrivalMs);
  assert.ok(d.stats.outOfOrder > 0);
  assert.equal(d.stats.beyondBound, 0);
});
