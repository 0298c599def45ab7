/**
 * Per-source lookbacks (src/attribution/lookback-windows.ts): the parser of the configuration's
 * forms, and a property over random windows, clicks, checkouts, arrival orders and watermarks:
 * for every model, the attribution step's credits are exactly the model applied to a brute-force
 * filter of the clicks, t_c − lookback(source_k) ≤ t_k ≤ t_c, written here on its own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type AttributionInput,
  type AttributionResult,
  attributionFunction,
  attributionKey,
} from '../../src/attribution/attribution-function.ts';
import { ATTRIBUTION_MODELS, attributionOptions } from '../../src/attribution/attribution-options.ts';
import { lookbackWindows, MAX_LOOKBACK_MS, parseLookbackBySource } from '../../src/attribution/lookback-windows.ts';
import { type CandidateClick, credits } from '../../src/attribution/models/attribution-models.ts';
import { KeyedProcessOperator } from '../../src/engine/operators/keyed-process-operator.ts';
import { OperatorHarness } from '../engine/operator-harness.ts';
import { checkout, click, T0 } from './attribution-fixtures.ts';

const RUNS = Number(process.env.FLOWMARK_PROPERTY_RUNS ?? 200);
const DAY = 86_400_000;

test('parseLookbackBySource reads a map or pairs, lower-cases sources, and names the bad entry', () => {
  assert.deepEqual(parseLookbackBySource({ Email: '30d', direct: 86_400_000 }, 'k'), { email: 30 * DAY, direct: DAY });
  assert.deepEqual(parseLookbackBySource(' email = 30d ,direct=1d,', 'k'), { email: 30 * DAY, direct: DAY });
  assert.deepEqual(parseLookbackBySource('', 'k'), {});
  assert.deepEqual(parseLookbackBySource(null, 'k'), {});
  assert.deepEqual(parseLookbackBySource({ __proto__: '1d' }, 'k'), {});
  assert.deepEqual(Object.keys(parseLookbackBySource('__proto__=1d', 'k')), ['__proto__'], 'any source name');
  assert.deepEqual(parseLookbackBySource('email=90d', 'k'), { email: MAX_LOOKBACK_MS });
  assert.throws(() => parseLookbackBySource('email=90d1ms', 'k'), /k entry email: "90d1ms" is not a duration/);
  assert.throws(() => parseLookbackBySource('email=2160h1ms', 'k'), /not a duration/);
  assert.throws(() => parseLookbackBySource({ email: 90 * DAY + 1 }, 'k'), /k entry email: must be at most 90d/);
  assert.throws(() => parseLookbackBySource({ email: [1] }, 'k'), /k entry email: \[1\] is not a duration/);
  assert.throws(() => parseLookbackBySource(7, 'k'), /k must be a map of source → duration/);
});

test('lookbackWindows: a source without a window of its own, or with none, gets the default', () => {
  const w = lookbackWindows(1000, { email: 5000, tiktok: 1000 });
  assert.deepEqual(
    [w.of('email'), w.of('tiktok'), w.of('direct'), w.of(null), w.maxMs, w.perSource],
    [5000, 1000, 1000, 1000, 5000, true],
  );
  // Windows equal to the default, or shorter ones only: the longest is still the default.
  assert.equal(lookbackWindows(1000, { tiktok: 1000 }).perSource, false);
  assert.deepEqual(
    [lookbackWindows(1000, { direct: 10 }).maxMs, lookbackWindows(1000, { direct: 10 }).perSource],
    [1000, true],
  );
});

const SOURCES = ['email', 'direct', 'google_ads', 'tiktok'] as const;

interface Case {
  model: (typeof ATTRIBUTION_MODELS)[number];
  lookbackMs: number;
  bySource: Record<string, number>;
  /** Clicks and checkouts, in arrival order; `advance`: move the watermark as far as it may go after it. */
  events: Array<{ kind: 'click' | 'checkout'; user: string; t: number; source: string | null; advance: boolean }>;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  model: fc.constantFrom(...ATTRIBUTION_MODELS),
  lookbackMs: fc.integer({ min: 1, max: 120 }),
  bySource: fc.dictionary(fc.constantFrom(...SOURCES), fc.integer({ min: 1, max: 240 }), { maxKeys: 4 }),
  events: fc.array(
    fc.record({
      kind: fc.constantFrom('click', 'click', 'checkout') as fc.Arbitrary<'click' | 'checkout'>,
      user: fc.constantFrom('u1', 'u2'),
      t: fc.integer({ min: 0, max: 400 }),
      source: fc.constantFrom<string | null>(...SOURCES, null),
      advance: fc.boolean(),
    }),
    { maxLength: 40 },
  ),
});

/** The brute-force reference: for each checkout, the clicks of its key within their own window. */
function expected(c: Case): Map<string, Array<[string, number]>> {
  const o = attributionOptions({ model: c.model, lookbackMs: c.lookbackMs, lookbackBySource: c.bySource });
  const windowOf = (source: string | null) =>
    source !== null && Object.hasOwn(c.bySource, source) ? (c.bySource[source] as number) : c.lookbackMs;
  const clicks = c.events.flatMap((e, i) =>
    e.kind === 'click' ? [{ ...e, id: `k${String(i).padStart(3, '0')}` }] : [],
  );
  const out = new Map<string, Array<[string, number]>>();
  c.events.forEach((e, i) => {
    if (e.kind !== 'checkout') return;
    const tc = T0 + e.t;
    const inWindow: CandidateClick[] = clicks
      .filter((k) => k.user === e.user && T0 + k.t <= tc && T0 + k.t >= tc - windowOf(k.source))
      .map((k) => ({ clickId: k.id, source: k.source, eventTimeMs: T0 + k.t }))
      .sort((a, b) => a.eventTimeMs - b.eventTimeMs || (a.clickId < b.clickId ? -1 : 1));
    out.set(
      `c${i}`,
      credits(inWindow, tc, o).map((x) => [x.click.clickId, x.credit]),
    );
  });
  return out;
}

/** The attribution step over the case, with the watermark moved on where the case says. */
function actual(c: Case): Map<string, Array<[string, number]>> {
  const o = attributionOptions({ model: c.model, lookbackMs: c.lookbackMs, lookbackBySource: c.bySource });
  const h = new OperatorHarness(
    () =>
      new KeyedProcessOperator<AttributionInput, AttributionResult, unknown>(
        (e) =>
          e.kind === 'click'
            ? attributionKey(e.click.userId, e.click.productId, o.scope)
            : attributionKey(e.checkout.userId, e.checkout.productId, o.scope),
        attributionFunction(o) as never,
      ),
  );
  let wm = Number.NEGATIVE_INFINITY;
  c.events.forEach((e, i) => {
    const t = T0 + e.t;
    if (e.kind === 'click')
      h.element(
        { kind: 'click', click: click(`k${String(i).padStart(3, '0')}`, t, { userId: e.user, source: e.source }) },
        t,
      );
    else h.element({ kind: 'checkout', checkout: checkout(`c${i}`, t, { userId: e.user }) }, t);
    // As far as it may go: no later event may be late (below the watermark).
    const next = Math.min(...c.events.slice(i + 1).map((x) => T0 + x.t));
    if (e.advance && Number.isFinite(next) && next > wm) h.watermark((wm = next));
  });
  h.watermark(Number.POSITIVE_INFINITY);
  const out = new Map<string, Array<[string, number]>>();
  for (const r of h.out<AttributionResult>()) {
    assert.ok(r.isFinal, 'without provisional, final rows only');
    assert.ok(!out.has(r.checkout.checkoutId), `${r.checkout.checkoutId} has one result`);
    out.set(
      r.checkout.checkoutId,
      r.credits.map((x) => [x.click.clickId, x.credit]),
    );
  }
  return out;
}

test('property: for every model, per-source candidates are a brute-force filter by each click’s own window', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      assert.deepEqual(actual(c), expected(c));
    }),
    { numRuns: RUNS },
  );
});
