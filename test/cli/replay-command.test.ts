import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runReplay } from '../../src/cli/commands/replay.ts';
import { loadProducts, loadUsers } from '../../src/cli/dimension-loading.ts';
import { isFlowmarkError } from '../../src/engine/errors.ts';
import { checkoutsFromEvents, dimensionsOf, minuteRows, referenceMinutes } from '../attribution/analytics-reference.ts';
import { referenceFirstClick } from '../attribution/brute-force-reference.ts';
import { writeDataSet } from '../support/data-set.ts';

const golden = new URL('../golden/keeps-whole-window/', import.meta.url).pathname;
const base = {
  events: join(golden, 'input.jsonl'),
  users: join(golden, 'users.csv'),
  products: join(golden, 'products.csv'),
  scope: 'product',
  lookback: '1h',
  maxOutOfOrderness: '15s',
  halfLife: '15m',
  quiet: true,
};
const jsonl = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('replay --credits and --analytics write the multi-touch credits and the minute analytics', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-replay-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await runReplay({
    ...base,
    model: 'linear',
    out: join(dir, 'out.jsonl'),
    credits: join(dir, 'credits.jsonl'),
    analytics: join(dir, 'analytics.jsonl'),
  });
  // Clicks at −70, −50, −10 min: the two within the hour share the credit.
  assert.deepEqual(
    jsonl(join(dir, 'credits.jsonl')).map((c) => [c.click_id, c.credit, c.model]),
    [
      ['m50', 0.5, 'linear'],
      ['m10', 0.5, 'linear'],
    ],
  );
  // Every breakdown of the one checkout: u1 is female, p1 a home product at 37.12 with 10 %.
  const users = new Map([['u1', { gender: 'female' }]]);
  const products = new Map([['p1', { category: 'home', price: 37.12, commissionRate: 0.1 }]]);
  const lines = readFileSync(join(golden, 'input.jsonl'), 'utf8').split('\n');
  assert.deepEqual(
    minuteRows(jsonl(join(dir, 'analytics.jsonl'))),
    referenceMinutes(checkoutsFromEvents(lines, users, products, new Map([['c1', 'm50']]))),
  );
  assert.equal(jsonl(join(dir, 'out.jsonl'))[0]?.click_id, 'm50', 'the headline click: highest credit, earliest');
});

test('replay refuses bad flags before reading anything, naming the flag', async () => {
  await assert.rejects(
    runReplay({ ...base, model: 'first_click', out: '/tmp/x.jsonl', lookback: 'soon' }),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID') && /--lookback must be a duration/.test(e.message),
  );
  await assert.rejects(
    runReplay({ ...base, model: 'first_click', out: '/tmp/x.jsonl', users: '/nonexistent.csv' }),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID') && /--users \/nonexistent.csv: no such file/.test(e.message),
  );
});

test('replay --analytics: every breakdown of every minute equals an independent count of the generated events', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-replay-analytics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines = writeDataSet(dir, 6_000, 23);
  await runReplay({
    ...base,
    events: join(dir, 'events.jsonl'),
    users: join(dir, 'users.csv'),
    products: join(dir, 'products.csv'),
    model: 'first_click',
    out: join(dir, 'out.jsonl'),
    analytics: join(dir, 'analytics.jsonl'),
  });
  const attributed = referenceFirstClick(lines, {
    lookbackMs: 3_600_000,
    maxOutOfOrdernessMs: 15_000,
    scope: 'product',
  });
  const expected = referenceMinutes(
    checkoutsFromEvents(
      lines,
      await loadUsers(join(dir, 'users.csv')),
      await loadProducts(join(dir, 'products.csv')),
      attributed,
    ),
  );
  const actual = minuteRows(jsonl(join(dir, 'analytics.jsonl')));
  assert.deepEqual(dimensionsOf(expected), ['category', 'failed_reason', 'gender', 'source', 'total']);
  assert.ok(expected.length > 20, `${expected.length} rows`);
  assert.deepEqual(actual, expected);
});
