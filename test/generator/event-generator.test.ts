import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEvent } from '../../src/attribution/events/index.ts';
import { isFlowmarkError, Rejected } from '../../src/engine/index.ts';
import { EventGenerator, generateCatalog } from '../../src/generator/index.ts';
import { CATALOG, checkCanonical, deliveredLines, eventsText } from './generator-fixtures.ts';

const KNOBS = { disorder: 0.1, late: 0.01, duplicates: 0.2, malformed: 0.02 };

test('the same seed gives byte-identical output; another seed different output', () => {
  const a = eventsText({ events: 5000, seed: 7, ...KNOBS });
  assert.equal(eventsText({ events: 5000, seed: 7, ...KNOBS }), a);
  assert.notEqual(eventsText({ events: 5000, seed: 8, ...KNOBS }), a);
  // The catalog is part of the data set: the same seed gives the same one too.
  assert.deepEqual(
    generateCatalog({ users: 50, products: 20, seed: 7 }),
    generateCatalog({ users: 50, products: 20, seed: 7 }),
  );
});

test('exactly --events lines, whatever the knobs; the stats count them', () => {
  for (const events of [1, 2, 17, 3000]) {
    for (const knobs of [{}, KNOBS, { duplicates: 1 }]) {
      const { lines, generator } = deliveredLines({ events, seed: 3, ...knobs });
      assert.equal(lines.length, events, `${events} ${JSON.stringify(knobs)}`);
      const s = generator.stats;
      assert.equal(s.lines, events);
      assert.equal(s.clicks + s.checkouts + s.duplicates + s.malformed, events);
      assert.equal(s.clicks, lines.filter((l) => l.kind === 'click').length);
      assert.equal(s.checkouts, lines.filter((l) => l.kind === 'checkout').length);
    }
  }
});

test('with malformed = 0 every line is canonical JSON and flowmark parses it to the same values', () => {
  const { lines } = deliveredLines({ events: 10_000, seed: 11, disorder: 0.1, late: 0.01, duplicates: 0.1 });
  for (const { line, kind } of lines) {
    const o = checkCanonical(line);
    const parsed = parseEvent(line);
    assert.ok(!(parsed instanceof Rejected), `${line}: ${parsed instanceof Rejected ? parsed.detail : ''}`);
    assert.equal(parsed.type, o.type);
    assert.equal(kind === 'duplicate' ? 'checkout' : kind, o.type);
    if (parsed.type === 'click') {
      assert.equal(parsed.click.clickId, o.click_id);
      assert.equal(parsed.click.source, o.source);
      assert.equal(parsed.click.eventTimeMs, Date.parse(o.event_time as string));
    } else {
      assert.equal(parsed.checkout.checkoutId, o.checkout_id);
      assert.equal(parsed.checkout.quantity, o.quantity);
      assert.equal(parsed.checkout.paymentStatus, o.payment_status);
      assert.equal(parsed.checkout.paymentDescription, o.payment_status === 'success' ? null : o.payment_description);
      assert.equal(parsed.checkout.eventTimeMs, Date.parse(o.event_time as string));
    }
  }
});

test('the malformed fraction is about what was asked, and each of those lines is refused by the parser', () => {
  const events = 20_000;
  const { lines } = deliveredLines({ events, seed: 5, malformed: 0.1 });
  const bad = lines.filter((l) => l.kind === 'malformed');
  const share = bad.length / events;
  assert.ok(share > 0.09 && share < 0.11, `malformed share ${share}`);
  const kinds = new Set<string>();
  for (const l of bad) {
    kinds.add(l.malformedKind!);
    const r = parseEvent(l.line);
    assert.ok(r instanceof Rejected, `${l.malformedKind} was accepted: ${l.line}`);
    assert.ok(!l.line.includes('\n'), 'one line stays one line');
  }
  assert.deepEqual([...kinds].sort(), [
    'bad_event_time',
    'missing_field',
    'truncated_json',
    'unknown_type',
    'wrong_type',
  ]);
  // The reasons of the dead letters they would become.
  const reasons = new Set(bad.map((l) => (parseEvent(l.line) as Rejected).reason));
  for (const r of ['malformed_json', 'invalid_field', 'invalid_event_time', 'unknown_type', 'missing_field']) {
    assert.ok(reasons.has(r), `no malformed line gives reason ${r}`);
  }
  for (const l of lines) if (l.kind !== 'malformed') assert.ok(!(parseEvent(l.line) instanceof Rejected), l.line);
});

test('with late = 0, disorder stays within the bound: max event time so far − event time ≤ bound, on every line', () => {
  for (const maxDisorderMs of [10_000, 2_000, 0]) {
    const { lines, generator } = deliveredLines({
      events: 10_000,
      seed: 13,
      disorder: 0.3,
      duplicates: 0.5,
      maxDisorderMs,
      ratePerSecond: 200,
    });
    let max = Number.NEGATIVE_INFINITY;
    let outOfOrder = 0;
    let worst = 0;
    for (const l of lines) {
      const t = Date.parse(JSON.parse(l.line).event_time);
      assert.equal(t, l.eventTimeMs);
      if (t < max) outOfOrder++;
      worst = Math.max(worst, max - t);
      assert.ok(max - t <= maxDisorderMs, `a line ${max - t} ms behind the max, bound ${maxDisorderMs}: ${l.line}`);
      max = Math.max(max, t);
    }
    assert.equal(generator.stats.outOfOrder, outOfOrder);
    assert.equal(generator.stats.beyondBound, 0);
    if (maxDisorderMs > 0) {
      assert.ok(outOfOrder > 1000, `disorder happened (${outOfOrder} lines out of order)`);
      assert.ok(worst > maxDisorderMs / 2, `the disorder uses the bound (worst ${worst})`);
    } else assert.equal(outOfOrder, 0);
  }
});

test('with disorder = 0 and no knobs the lines are in event-time order', () => {
  const { lines } = deliveredLines({ events: 10_000, seed: 2 });
  for (let i = 1; i < lines.length; i++) assert.ok(lines[i]!.eventTimeMs >= lines[i - 1]!.eventTimeMs);
});

test('late events arrive after more than the bound, about the fraction asked for', () => {
  const events = 10_000;
  const { lines, generator } = deliveredLines({ events, seed: 17, late: 0.05, ratePerSecond: 100 });
  let max = Number.NEGATIVE_INFINITY;
  let beyond = 0;
  for (const l of lines) {
    if (max - l.eventTimeMs > 10_000) beyond++;
    max = Math.max(max, l.eventTimeMs);
  }
  assert.equal(generator.stats.beyondBound, beyond);
  // Late by 1–5 minutes at 100 events/s: all but those near the end of the data set are beyond the bound.
  assert.ok(beyond > 0.035 * events && beyond < 0.065 * events, `beyond the bound: ${beyond}`);
});

test('duplicates are exact repeated checkout lines, about the fraction of checkouts asked for', () => {
  const { lines, generator } = deliveredLines({ events: 20_000, seed: 19, duplicates: 0.3, conversionScale: 10 });
  const count = new Map<string, number>();
  for (const l of lines) count.set(l.line, (count.get(l.line) ?? 0) + 1);
  const repeated = [...count].filter(([, n]) => n > 1);
  assert.ok(repeated.every(([line, n]) => n === 2 && JSON.parse(line).type === 'checkout'));
  assert.equal(repeated.length, generator.stats.duplicates);
  const share = generator.stats.duplicates / generator.stats.checkouts;
  assert.ok(share > 0.25 && share < 0.35, `duplicated share of checkouts ${share}`);
  // The copy comes after the original.
  const firstAt = new Map<string, number>();
  lines.forEach((l, i) => {
    if (l.kind === 'checkout') firstAt.set(l.line, i);
    if (l.kind === 'duplicate') assert.ok(firstAt.has(l.line), 'a copy after its original');
  });
});

test('the knobs change how events are delivered, never which events the website produced', () => {
  const plain = deliveredLines({ events: 8000, seed: 23 }).lines.map((l) => l.line);
  const shuffled = deliveredLines({ events: 8000, seed: 23, disorder: 0.5 }).lines.map((l) => l.line);
  assert.notDeepEqual(shuffled, plain);
  assert.deepEqual([...shuffled].sort(), [...plain].sort());
});

test('event time starts at startMs and advances at the rate asked for', () => {
  const startMs = Date.UTC(2030, 0, 1);
  for (const ratePerSecond of [10, 100, 1000]) {
    const events = 20_000;
    const { lines } = deliveredLines({ events, seed: 29, startMs, ratePerSecond });
    const first = lines[0]!.eventTimeMs;
    const last = lines[lines.length - 1]!.eventTimeMs;
    assert.ok(
      first >= startMs && first - startMs < (20 * 1000) / ratePerSecond,
      `first event at +${first - startMs} ms`,
    );
    const spanS = (last - first) / 1000;
    const expected = events / ratePerSecond;
    assert.ok(Math.abs(spanS - expected) / expected < 0.1, `rate ${ratePerSecond}: ${spanS} s for ${expected} s`);
  }
});

test('bad options are refused with the name of the option', () => {
  const bad: Array<[object, RegExp]> = [
    [{ events: 0 }, /events must be a positive integer/],
    [{ events: 10, disorder: 2 }, /disorder must be a fraction between 0 and 1, got 2/],
    [{ events: 10, disorder: 0.6, late: 0.6 }, /disorder \+ late must be at most 1/],
    [{ events: 10, seed: -1 }, /seed must be a non-negative integer/],
    [{ events: 10, ratePerSecond: 0 }, /ratePerSecond must be a positive number/],
    [{ events: 10, maxDisorderMs: 60_000, lateMinDelayMs: 30_000 }, /lateMinDelayMs must be an integer greater than/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => new EventGenerator(CATALOG, options as { events: number }),
      (err) => isFlowmarkError(err, 'FM_CONFIG_INVALID') && message.test(err.message),
      JSON.stringify(options),
    );
  }
  // A wider bound moves the default late delays beyond it.
  const g = new EventGenerator(CATALOG, { events: 10, maxDisorderMs: 60_000 });
  assert.ok(g.options.lateMinDelayMs > 60_000);
});

test('an EventGenerator is single use', () => {
  const g = new EventGenerator(CATALOG, { events: 3 });
  assert.equal([...g.lines()].length, 3);
  assert.throws(() => [...g.lines()], /only once/);
});
