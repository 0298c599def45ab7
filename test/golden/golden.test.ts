/**
 * Golden cases: each folder holds the input of a `flowmark replay` (input.jsonl, or clicks.jsonl
 * with checkouts.jsonl), users.csv, products.csv, case.json (description and extra flags) and
 * the expected rows (expected.jsonl: one object per checkout, in output order, listing the fields
 * that matter for the case) and optionally expected-dead-letters.jsonl (reason, and a click or
 * checkout id the raw line must contain).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runReplay } from '../../src/cli/replay-command.ts';

const here = new URL('.', import.meta.url).pathname;
const readJsonl = (path: string): Record<string, unknown>[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

for (const name of readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort()) {
  const dir = join(here, name);
  const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as {
    description: string;
    flags: Record<string, string>;
  };
  test(`golden ${name}: ${meta.description}`, async (t) => {
    const out = mkdtempSync(join(tmpdir(), `flowmark-golden-${name}-`));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    const input = existsSync(join(dir, 'input.jsonl'))
      ? { events: join(dir, 'input.jsonl') }
      : { clicks: join(dir, 'clicks.jsonl'), checkouts: join(dir, 'checkouts.jsonl') };
    await runReplay({
      ...input,
      users: join(dir, 'users.csv'),
      products: join(dir, 'products.csv'),
      out: join(out, 'out.jsonl'),
      deadLetter: join(out, 'dead.jsonl'),
      model: meta.flags.model ?? 'first_click',
      scope: meta.flags.scope ?? 'product',
      lookback: meta.flags.lookback ?? '1h',
      maxOutOfOrderness: meta.flags['max-out-of-orderness'] ?? '15s',
      halfLife: meta.flags['half-life'] ?? '15m',
      ...(meta.flags['excluded-sources'] === undefined ? {} : { excludedSources: meta.flags['excluded-sources'] }),
      quiet: true,
    });
    const rows = readJsonl(join(out, 'out.jsonl'));
    const expected = readJsonl(join(dir, 'expected.jsonl'));
    assert.deepEqual(
      rows.map((r) => r.checkout_id),
      expected.map((e) => e.checkout_id),
      'one row per checkout, in output order',
    );
    expected.forEach((e, i) => {
      const row = rows[i] as Record<string, unknown>;
      for (const [field, value] of Object.entries(e)) assert.deepEqual(row[field], value, `${e.checkout_id}.${field}`);
      assert.equal(row.is_final, true, 'a replay writes final rows only');
    });
    const dead = readJsonl(join(out, 'dead.jsonl'));
    const expectedDead = readJsonl(join(dir, 'expected-dead-letters.jsonl'));
    assert.deepEqual(
      dead.map((d) => d.reason).sort(),
      expectedDead.map((d) => d.reason).sort(),
      `dead letters: ${JSON.stringify(dead)}`,
    );
    for (const e of expectedDead) {
      const id = (e.raw_click_id ?? e.raw_checkout_id) as string | undefined;
      if (id === undefined) continue;
      assert.ok(
        dead.some((d) => d.reason === e.reason && String(d.raw).includes(id)),
        `a ${e.reason} dead letter with the raw line of ${id}`,
      );
    }
    for (const d of dead) assert.equal(typeof d.raw, 'string', 'the raw line is kept');
  });
}
