/**
 * Runs of a golden case through the embedded mode (the CLI's import loop into a log, the CLI's
 * attribution job into PGlite), shared by the golden tests and the state-upgrade test.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type AttributionModel, attributionOptions } from '../../src/attribution/attribution-options.ts';
import { parseLookbackBySource } from '../../src/attribution/lookback-windows.ts';
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
import { freshSchema, tableRows } from '../connectors/sql/sql-fixtures.ts';
import type { GoldenCase } from './golden-cases.ts';

export function options(c: GoldenCase, provisional: boolean) {
  return attributionOptions({
    model: (c.flags.model ?? 'first_click') as AttributionModel,
    scope: (c.flags.scope ?? 'product') as 'product' | 'user',
    lookbackMs: durationFlag('lookback', c.flags.lookback ?? '1h'),
    lookbackBySource: parseLookbackBySource(c.flags['lookback-by-source'], 'lookback-by-source'),
    maxOutOfOrdernessMs: durationFlag('max-out-of-orderness', c.flags['max-out-of-orderness'] ?? '15s'),
    halfLifeMs: durationFlag('half-life', c.flags['half-life'] ?? '15m'),
    excludedSources: listFlag(c.flags['excluded-sources']),
    provisional,
  });
}

/** A data dir's log and a fresh schema of the shared PGlite, with the case's users and products. */
export async function stores(t: TestContext, c: GoldenCase, client: SqlClient): Promise<JobStores> {
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
export async function importLines(t: TestContext, s: JobStores, lines: readonly string[]): Promise<ImportCounts> {
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
export async function runLiveUntilRead(s: JobStores, c: GoldenCase, records: number): Promise<void> {
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

export async function results(s: JobStores) {
  const rows = await tableRows(s.db, s.schema, 'attributed_checkouts', 'checkout_id');
  const dead = await tableRows(s.db, s.schema, 'dead_letters', 'id');
  return { rows, dead };
}
