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
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type AttributionModel, attributionOptions } from '../../src/attribution/attribution-options.ts';
import { durationFlag, listFlag } from '../../src/cli/cli-flags.ts';
import { loadProducts, loadUsers } from '../../src/cli/dimension-loading.ts';
import { type ImportCounts, importEventFile } from '../../src/cli/event-import.ts';
import {
  type JobStores,
  logEventQueue,
  runAttribution,
  TOPIC_PARTITIONS,
  TOPICS,
} from '../../src/cli/modes/embedded.ts';
import { LogDirectory } from '../../src/connectors/log/index.ts';
import { type SqlClient, upsertProducts, upsertUsers } from '../../src/connectors/sql/index.ts';
import { type Runtime, systemClock } from '../../src/engine/index.ts';
import { sharedPglite } from '../connectors/pglite/pglite-fixtures.ts';
import { freshSchema, tableRows } from '../connectors/sql/sql-fixtures.ts';
import { asEmbedded, assertDeadLetters, assertRows, type GoldenCase, goldenCases, inputLines } from './golden-cases.ts';

const db = sharedPglite();

function options(c: GoldenCase, provisional: boolean) {
  return attributionOptions({
    model: (c.flags.model ?? 'first_click') as AttributionModel,
    scope: (c.flags.scope ?? 'product') as 'product' | 'user',
    lookbackMs: durationFlag('lookback', c.flags.lookback ?? '1h'),
    maxOutOfOrdernessMs: durationFlag('max-out-of-orderness', c.flags['max-out-of-orderness'] ?? '15s'),
    halfLifeMs: durationFlag('half-life', c.flags['half-life'] ?? '15m'),
    excludedSources: listFlag(c.flags['excluded-sources']),
    provisional,
  });
}

/** A data dir's log and a fresh schema of the shared PGlite, with the case's users and products. */
async function stores(t: TestContext, c: GoldenCase, client: SqlClient): Promise<JobStores> {
  const dir = mkdtempSync(join(tmpdir(), `flowmark-golden-embedded-${c.name}-`));
  const schema = await freshSchema(t, client, 'fm_golden');
  const log = LogDirectory.open(join(dir, 'log'));
  t.after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const topic of Object.values(TOPICS)) log.createTopic(topic, { partitions: TOPIC_PARTITIONS });
  await upsertUsers(client, [...(await loadUsers(c.users)).values()], { schema });
  await upsertProducts(client, [...(await loadProducts(c.products)).values()], { schema });
  // The log is closed by the test, not by the runs: the shared PGlite outlives them all.
  return { log, db: client, schema, where: `PGlite schema ${schema}`, close: async () => {} };
}

/** `flowmark import` of `lines` (as a file of their own) into the log of `s`. */
async function importLines(t: TestContext, s: JobStores, lines: readonly string[]): Promise<ImportCounts> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-golden-lines-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'events.jsonl');
  writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
  const queue = logEventQueue(s.log);
  try {
    return (await importEventFile(file, { db: s.db, schema: s.schema, queue, clock: systemClock })).counts;
  } finally {
    queue.close();
  }
}

/**
 * A live run (`run` without --drain) stopped once its sources have read `records` records: it
 * commits a last checkpoint on the way out, as after Ctrl-C.
 */
async function runLiveUntilRead(s: JobStores, c: GoldenCase, records: number): Promise<void> {
  const controller = new AbortController();
  let runtime: Runtime | undefined;
  const read = () =>
    (runtime?.stats() ?? []).filter((n) => n.kind === 'source').reduce((sum, n) => sum + n.recordsIn, 0);
  const watch = setInterval(() => {
    if (read() >= records) controller.abort();
  }, 10);
  try {
    await runAttribution(s, {
      attribution: options(c, true),
      clock: systemClock,
      drain: false,
      signal: controller.signal,
      onRuntime: (r) => {
        runtime = r;
      },
    });
  } finally {
    clearInterval(watch);
  }
  assert.ok(read() >= records, `the live run read ${read()} of ${records} records before it stopped`);
}

async function results(s: JobStores) {
  const rows = await tableRows(s.db, s.schema, 'attributed_checkouts', 'checkout_id');
  const dead = await tableRows(s.db, s.schema, 'dead_letters', 'id');
  return { rows, dead };
}

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
