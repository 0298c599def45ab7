import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runReplay } from '../../src/cli/replay-command.ts';
import { isFlowmarkError } from '../../src/engine/errors.ts';

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
  const total = jsonl(join(dir, 'analytics.jsonl')).filter((r) => r.dimension === 'total');
  assert.deepEqual(
    total.map((r) => [r.checkouts, r.revenue]),
    [[1, 37.12]],
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
