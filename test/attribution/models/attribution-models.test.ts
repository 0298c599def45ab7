import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ATTRIBUTION_MODELS, attributionOptions } from '../../../src/attribution/attribution-options.ts';
import { type CandidateClick, credits, headlineClick } from '../../../src/attribution/models/attribution-models.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';

const MIN = 60_000;
const tc = 100 * MIN;
const k = (id: string, minutesBefore: number): CandidateClick => ({
  clickId: id,
  source: 's',
  eventTimeMs: tc - minutesBefore * MIN,
});
const three = [k('a', 40), k('b', 30), k('c', 10)];
const ids = (cs: ReturnType<typeof credits>) => cs.map((c) => [c.click.clickId, Number(c.credit.toFixed(6))]);

test('first_click and last_click credit one click fully', () => {
  assert.deepEqual(ids(credits(three, tc, attributionOptions({ model: 'first_click' }))), [['a', 1]]);
  assert.deepEqual(ids(credits(three, tc, attributionOptions({ model: 'last_click' }))), [['c', 1]]);
});

test('linear shares equally', () => {
  assert.deepEqual(ids(credits(three, tc, attributionOptions({ model: 'linear' }))), [
    ['a', 0.333333],
    ['b', 0.333333],
    ['c', 0.333333],
  ]);
});

test('time_decay halves the weight every half-life before the checkout', () => {
  // 40, 30 and 10 min before with a 10-min half-life: weights 1/16, 1/8, 1/2.
  const cs = credits(three, tc, attributionOptions({ model: 'time_decay', halfLifeMs: 10 * MIN }));
  const w = [1 / 16, 1 / 8, 1 / 2];
  const sum = w.reduce((a, b) => a + b);
  assert.deepEqual(
    ids(cs),
    three.map((c, i) => [c.clickId, Number(((w[i] as number) / sum).toFixed(6))]),
  );
});

test('position_based: 40/20/40, one click 100 %, two 50/50, J-curve and inverse-J', () => {
  const o = attributionOptions({ model: 'position_based' });
  assert.deepEqual(ids(credits(three, tc, o)), [
    ['a', 0.4],
    ['b', 0.2],
    ['c', 0.4],
  ]);
  assert.deepEqual(ids(credits([k('a', 5)], tc, o)), [['a', 1]]);
  assert.deepEqual(ids(credits(three.slice(0, 2), tc, o)), [
    ['a', 0.5],
    ['b', 0.5],
  ]);
  const j = attributionOptions({ model: 'position_based', firstWeight: 0.2, lastWeight: 0.6 });
  assert.deepEqual(ids(credits(three, tc, j)), [
    ['a', 0.2],
    ['b', 0.2],
    ['c', 0.6],
  ]);
  const inverseJ = attributionOptions({ model: 'position_based', firstWeight: 0.6, lastWeight: 0.2 });
  assert.deepEqual(ids(credits(three, tc, inverseJ))[0], ['a', 0.6]);
});

test('every model: credits sum to 1 over any candidates, none for no candidates', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...ATTRIBUTION_MODELS),
      fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 20 }),
      (model, minutes) => {
        const cands = minutes
          .map((m, i) => k(`k${i}`, m))
          .sort((x, y) => x.eventTimeMs - y.eventTimeMs || (x.clickId < y.clickId ? -1 : 1));
        const cs = credits(cands, tc, attributionOptions({ model }));
        if (cands.length === 0) assert.equal(cs.length, 0);
        else assert.ok(Math.abs(cs.reduce((s, c) => s + c.credit, 0) - 1) < 1e-9);
        for (const c of cs) assert.ok(c.credit >= 0);
      },
    ),
  );
});

test('the headline click of a multi-touch result is the highest credit, earliest on ties', () => {
  const o = attributionOptions({ model: 'position_based' });
  assert.equal(headlineClick(credits(three, tc, o))?.clickId, 'a');
  assert.equal(headlineClick(credits(three, tc, attributionOptions({ model: 'time_decay' })))?.clickId, 'c');
});

test('bad options are refused, naming the option', () => {
  assert.throws(
    () => attributionOptions({ model: 'magic' as never }),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID') && /model/.test(e.message),
  );
  assert.throws(() => attributionOptions({ firstWeight: 0.7, lastWeight: 0.7 }), /firstWeight \+ lastWeight/);
  assert.throws(() => attributionOptions({ lookbackMs: -1 }), /lookbackMs/);
});
