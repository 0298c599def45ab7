/**
 * Golden cases through `flowmark replay` (the case format: golden-cases.ts). The same cases run
 * through the embedded mode, and stopped midway and resumed, in golden-embedded.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runReplay } from '../../src/cli/commands/replay.ts';
import { assertDeadLetters, assertRows, goldenCases, readJsonl } from './golden-cases.ts';

for (const c of goldenCases()) {
  test(`golden ${c.name}: ${c.description}`, async (t) => {
    const out = mkdtempSync(join(tmpdir(), `flowmark-golden-${c.name}-`));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    await runReplay({
      ...c.input,
      users: c.users,
      products: c.products,
      out: join(out, 'out.jsonl'),
      deadLetter: join(out, 'dead.jsonl'),
      model: c.flags.model ?? 'first_click',
      scope: c.flags.scope ?? 'product',
      lookback: c.flags.lookback ?? '1h',
      ...(c.flags['lookback-by-source'] === undefined ? {} : { lookbackBySource: c.flags['lookback-by-source'] }),
      maxOutOfOrderness: c.flags['max-out-of-orderness'] ?? '15s',
      halfLife: c.flags['half-life'] ?? '15m',
      ...(c.flags['excluded-sources'] === undefined ? {} : { excludedSources: c.flags['excluded-sources'] }),
      quiet: true,
    });
    const rows = readJsonl(join(out, 'out.jsonl'));
    assertRows(rows, c, { ordered: true });
    for (const row of rows) assert.equal(row.is_final, true, 'a replay writes final rows only');
    assertDeadLetters(readJsonl(join(out, 'dead.jsonl')), c);
  });
}
