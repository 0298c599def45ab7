/**
 * A replay of a generated data set (with disorder, late events, duplicates and malformed lines)
 * checked against the brute-force reference implementation of §3.2–§3.3, checkout by checkout:
 * with the default 1-hour lookback, and on a shop spread over 60 days of event time with a
 * 30-day lookback and with per-source windows from one day to 30 days.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runReplay } from '../../src/cli/commands/replay.ts';
import { EventGenerator, generateCatalog, productsCsvLines, usersCsvLines } from '../../src/generator/index.ts';
import { writeDataSet } from '../support/data-set.ts';
import { referenceFirstClick } from './brute-force-reference.ts';

for (const [scope, seed] of [
  ['product', 7],
  ['user', 11],
] as const) {
  test(`replay equals the brute-force reference on a generated data set (scope ${scope})`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'flowmark-reference-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const lines = writeDataSet(dir, 20_000, seed);
    await runReplay({
      events: join(dir, 'events.jsonl'),
      users: join(dir, 'users.csv'),
      products: join(dir, 'products.csv'),
      out: join(dir, 'out.jsonl'),
      deadLetter: join(dir, 'dead.jsonl'),
      model: 'first_click',
      scope,
      lookback: '1h',
      maxOutOfOrderness: '15s',
      halfLife: '15m',
      quiet: true,
    });
    const rows = readFileSync(join(dir, 'out.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { checkout_id: string; click_id: string | null });
    const expected = referenceFirstClick(lines, { lookbackMs: 3_600_000, maxOutOfOrdernessMs: 15_000, scope });
    assert.ok(expected.size > 50, `the data set has checkouts (${expected.size})`);
    assert.ok(
      [...expected.values()].some((v) => v !== null),
      'some checkouts have a click',
    );
    if (scope === 'product')
      assert.ok(
        [...expected.values()].some((v) => v === null),
        'and some have none',
      );
    assert.equal(new Set(rows.map((r) => r.checkout_id)).size, rows.length, 'every checkout exactly once');
    assert.deepEqual(new Map(rows.map((r) => [r.checkout_id, r.click_id])), expected);
    // Nothing is lost: every line is a checkout row, a click, or a dead letter.
    const dead = readFileSync(join(dir, 'dead.jsonl'), 'utf8').trim().split('\n');
    assert.ok(dead.some((d) => d.includes('"reason":"late"')) && dead.some((d) => d.includes('"reason":"duplicate"')));
  });
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const EVENTS = 20_000;

/** A generated data set whose events span about 60 days: a user-product pair is clicked every few days. */
function writeSlowDataSet(dir: string, seed: number): string[] {
  const catalog = generateCatalog({ users: 60, products: 15, seed });
  const lines = [
    ...new EventGenerator(catalog, {
      events: EVENTS,
      seed,
      ratePerSecond: EVENTS / (60 * 86_400),
      conversionScale: 4,
      disorder: 0.2,
      maxDisorderMs: 10_000,
      late: 0.01,
      duplicates: 0.05,
      malformed: 0.01,
    }).lines(),
  ];
  writeFileSync(join(dir, 'events.jsonl'), `${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'users.csv'), `${[...usersCsvLines(catalog.users)].join('\n')}\n`);
  writeFileSync(join(dir, 'products.csv'), `${[...productsCsvLines(catalog.products)].join('\n')}\n`);
  return lines;
}

async function replay(dir: string, lookback: string, lookbackBySource?: string): Promise<Map<string, string | null>> {
  const out = join(dir, `out-${lookback}-${lookbackBySource ?? 'none'}.jsonl`);
  await runReplay({
    events: join(dir, 'events.jsonl'),
    users: join(dir, 'users.csv'),
    products: join(dir, 'products.csv'),
    out,
    deadLetter: join(dir, 'dead.jsonl'),
    model: 'first_click',
    scope: 'product',
    lookback,
    ...(lookbackBySource === undefined ? {} : { lookbackBySource }),
    maxOutOfOrderness: '15s',
    halfLife: '15m',
    quiet: true,
  });
  const rows = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { checkout_id: string; click_id: string | null });
  assert.equal(new Set(rows.map((r) => r.checkout_id)).size, rows.length, 'every checkout exactly once');
  return new Map(rows.map((r) => [r.checkout_id, r.click_id]));
}

test('replay equals the brute-force reference with a 30-day lookback and with per-source windows', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-reference-long-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines = writeSlowDataSet(dir, 23);
  const base = { maxOutOfOrdernessMs: 15_000, scope: 'product' as const };

  const month = referenceFirstClick(lines, { ...base, lookbackMs: 30 * DAY });
  const hour = referenceFirstClick(lines, { ...base, lookbackMs: HOUR });
  assert.ok(month.size > 500, `the data set has checkouts (${month.size})`);
  const differ = (a: Map<string, string | null>, b: Map<string, string | null>) =>
    [...a].filter(([id, k]) => b.get(id) !== k).length;
  // The long window must matter: many checkouts get an older click, or one at all.
  assert.ok(differ(month, hour) > 100, `30 days vs 1 hour differ on ${differ(month, hour)} checkouts`);
  assert.deepEqual(await replay(dir, '30d'), month);

  const bySource = { email: 30 * DAY, google_ads: 7 * DAY, direct: DAY };
  const channels = referenceFirstClick(lines, { ...base, lookbackMs: 2 * HOUR, lookbackBySource: bySource });
  const twoHours = referenceFirstClick(lines, { ...base, lookbackMs: 2 * HOUR });
  const longest = referenceFirstClick(lines, { ...base, lookbackMs: 30 * DAY });
  assert.ok(differ(channels, twoHours) > 50, `per-source windows vs the default alone: ${differ(channels, twoHours)}`);
  assert.ok(differ(channels, longest) > 50, `per-source windows vs the longest for all: ${differ(channels, longest)}`);
  assert.deepEqual(await replay(dir, '2h', 'email=30d,google_ads=7d,direct=1d'), channels);
});
