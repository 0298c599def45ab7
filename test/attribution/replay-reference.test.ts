/**
 * A replay of a generated data set (with disorder, late events, duplicates and malformed lines)
 * checked against the brute-force reference implementation of §3.2–§3.3, checkout by checkout.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runReplay } from '../../src/cli/commands/replay.ts';
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
