/**
 * The golden cases (golden-cases.ts) through the embedded mode, the path of `flowmark import` +
 * `flowmark run`: the input is imported into a log (4 partitions per topic, keyed by user) with
 * the CLI's own import loop, and the CLI's attribution job writes to PGlite. Each case runs twice:
 * - `run --drain` over the whole input;
 * - restarted midway: the first half imported, a live run stopped once it has read it all
 *   (provisional rows written, its state checkpointed), the second half imported, then
 *   `run --drain` resumes from the checkpoint.
 * Both must give the expected rows and dead letters (a case whose result differs in the embedded
 * mode by design says why in its case.json, see golden-cases.ts), all rows final. One in-memory
 * PGlite serves every case (a schema each): opening a PGlite per case would cost seconds each.
 */
import { test } from 'node:test';
import { runAttribution } from '../../src/cli/modes/embedded.ts';
import { systemClock } from '../../src/engine/index.ts';
import { sharedPglite } from '../connectors/pglite/pglite-fixtures.ts';
import { importLines, options, results, runLiveUntilRead, stores } from './embedded-runs.ts';
import { asEmbedded, assertDeadLetters, assertRows, goldenCases, inputLines } from './golden-cases.ts';

const db = sharedPglite();

for (const c of goldenCases().map(asEmbedded)) {
  test(`golden ${c.name}, embedded (import + run --drain into PGlite)`, async (t) => {
    const s = await stores(t, c, await db);
    await importLines(t, s, inputLines(c));
    await runAttribution(s, { attribution: options(c, false), clock: systemClock, drain: true });
    const { rows, dead } = await results(s);
    assertRows(rows, c, { ordered: false });
    assertDeadLetters(dead, c);
  });

  // A live run that never read its input would wait forever: the timeout turns that into a failure.
  test(`golden ${c.name}, embedded, stopped after half the input and resumed`, { timeout: 120_000 }, async (t) => {
    const s = await stores(t, c, await db);
    const lines = inputLines(c);
    const half = Math.ceil(lines.length / 2);
    const first = await importLines(t, s, lines.slice(0, half));
    await runLiveUntilRead(s, c, first.clicks + first.checkouts);
    await importLines(t, s, lines.slice(half));
    await runAttribution(s, { attribution: options(c, false), clock: systemClock, drain: true });
    const { rows, dead } = await results(s);
    assertRows(rows, c, { ordered: false });
    assertDeadLetters(dead, c);
  });
}
