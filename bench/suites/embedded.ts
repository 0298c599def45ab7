/**
 * End to end in embedded mode (issue 6): events pre-loaded in flowmark's own log (as `flowmark
 * import` loads them), then the attribution job run to the end of the log (`flowmark run --drain`,
 * timed) into PGlite in the data directory and, given a server, into PostgreSQL (a fresh schema
 * `fm_bench_e2e_<random>` per round, dropped afterwards). Next to them, in the same run, `flowmark
 * replay` of the same events (files in, files out): the ratio says what the log and the database
 * cost. Rows/s counts every row the job wrote (attributed_checkouts + attribution_credits +
 * dead_letters + analytics_minute) over the run's time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProducts, loadUsers } from '../../src/cli/dimension-loading.ts';
import { importEventFile } from '../../src/cli/event-import.ts';
import { type JobStores, logEventQueue, openStores, runAttribution } from '../../src/cli/modes/embedded.ts';
import { chooseDatabase } from '../../src/cli/modes/mode.ts';
import { upsertProducts, upsertUsers } from '../../src/connectors/sql/index.ts';
import { systemClock } from '../../src/engine/index.ts';
import {
  BENCH_ATTRIBUTION,
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  replayDataSet,
  writeDataSet,
} from '../support/data-sets.ts';
import { COUNTED_TABLES, countRows, rowsWritten } from '../support/output-tables.ts';
import { type BenchResult, fmt, fmtCount, pct } from '../support/report.ts';
import { benchSchema, dropSchemas } from '../support/services.ts';
import { sideBySide, type Work } from '../support/side-by-side.ts';

/** `flowmark run`'s checkpoint interval (`checkpoint.interval`'s default). */
const CHECKPOINT_INTERVAL_MS = DEFAULT_CHECKPOINT_INTERVAL_MS;
const ROUNDS = 2;

export interface EmbeddedBenchOptions {
  events: number;
  /** A PostgreSQL server; absent: PGlite only. */
  databaseUrl: string | undefined;
}

export async function embeddedBenchmarks(o: EmbeddedBenchOptions): Promise<BenchResult[]> {
  const n = o.events;
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-embedded-'));
  const schemas: string[] = []; // created on the server, dropped at the end if not already
  let current: { stores: JobStores; dataDir: string; schema?: string } | undefined; // of the variant running
  try {
    // As the replay benchmark: 5 % of events out of order by up to 5 s.
    const ds = writeDataSet(dir, n, { disorder: 0.05, maxDisorderMs: 5000 });
    const [users, products] = await Promise.all([loadUsers(ds.users), loadProducts(ds.products)]);

    // Untimed: a fresh data dir (and schema) with the dimensions and the events loaded.
    let importSeconds = 0;
    const embedded = (server: boolean) => async (): Promise<Work> => {
      const dataDir = mkdtempSync(join(dir, 'data-'));
      const schema = server ? benchSchema('e2e') : undefined;
      if (schema !== undefined) schemas.push(schema);
      const url = o.databaseUrl as string;
      const config =
        schema === undefined ? { dataDir } : { dataDir, database: { url, displayUrl: url, schema, poolSize: 4 } };
      const stores = await openStores(config, chooseDatabase(config));
      current = { stores, dataDir, ...(schema === undefined ? {} : { schema }) };
      await upsertUsers(stores.db, [...users.values()], { schema: stores.schema });
      await upsertProducts(stores.db, [...products.values()], { schema: stores.schema });
      const t0 = performance.now();
      const queue = logEventQueue(stores.log);
      const { counts: c } = await importEventFile(ds.events, {
        db: stores.db,
        schema: stores.schema,
        queue,
        clock: systemClock,
      });
      queue.close();
      importSeconds = (performance.now() - t0) / 1000;
      if (c.clicks + c.checkouts !== n) throw new Error(`imported ${c.clicks + c.checkouts} events, expected ${n}`);
      return () =>
        runAttribution(stores, {
          attribution: BENCH_ATTRIBUTION,
          clock: systemClock,
          drain: true,
          checkpointIntervalMs: CHECKPOINT_INTERVAL_MS,
        });
    };
    const variants: Record<string, () => Work | Promise<Work>> = {
      replay: () => async () => {
        await replayDataSet(ds, dir, {
          credits: join(dir, 'credits.jsonl'),
          analytics: join(dir, 'analytics.jsonl'),
        });
        return n;
      },
      pglite: embedded(false),
      ...(o.databaseUrl === undefined ? {} : { postgres: embedded(true) }),
    };

    const rows: Record<string, number[]> = {};
    const imports: Record<string, number[]> = {};
    let lastCounts: Record<string, Record<string, number>> = {};
    const extra: Record<string, { stateRows: number; checkpoints: number }> = {};
    const t = await sideBySide(variants, ROUNDS, async (name, result) => {
      if (name === 'replay' || current === undefined) return;
      const { stores, dataDir, schema } = current;
      current = undefined;
      try {
        const summary = result as { recordsRead: number; checkpoints: number };
        if (summary.recordsRead !== n) throw new Error(`${name}: the job read ${summary.recordsRead} of ${n} events`);
        const counts = await countRows(stores.db, stores.schema);
        lastCounts = { ...lastCounts, [name]: counts };
        extra[name] = { stateRows: counts.state ?? 0, checkpoints: summary.checkpoints };
        (rows[name] ??= []).push(rowsWritten(counts));
        (imports[name] ??= []).push(importSeconds);
        if (schema !== undefined) {
          await stores.db.exec(`DROP SCHEMA "${schema}" CASCADE`);
          schemas.splice(schemas.indexOf(schema), 1);
        }
      } finally {
        await stores.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    const replayRate = n / (t.seconds.replay as number);
    const figures: Record<string, number> = {
      events: n,
      bytes: ds.bytes,
      checkpoint_interval_ms: CHECKPOINT_INTERVAL_MS,
      replay_events_per_s: replayRate,
    };
    const table: BenchResult['rows'] = [
      ['events (bytes)', `${fmt(n)} (${(ds.bytes / 2 ** 20).toFixed(0)} MiB), 5 % out of order by ≤ 5 s`],
      ['checkpoint interval', `${CHECKPOINT_INTERVAL_MS} ms (the default of flowmark run)`],
      ['flowmark replay (files in, files out), events/s', fmt(replayRate)],
    ];
    const labels: Record<string, string> = { pglite: 'PGlite', postgres: 'PostgreSQL' };
    for (const name of Object.keys(variants)) {
      if (name === 'replay') continue;
      const secs = t.seconds[name] as number;
      const rate = n / secs;
      const written = rows[name]?.at(-1) ?? 0;
      const importRate = n / Math.min(...(imports[name] ?? [Number.NaN]));
      figures[`${name}_events_per_s`] = rate;
      figures[`${name}_rows_written`] = written;
      figures[`${name}_rows_per_s`] = written / secs;
      figures[`${name}_ratio_to_replay`] = rate / replayRate;
      figures[`${name}_import_events_per_s`] = importRate;
      figures[`${name}_state_rows`] = extra[name]?.stateRows ?? 0;
      figures[`${name}_checkpoints`] = extra[name]?.checkpoints ?? 0;
      const c = lastCounts[name] ?? {};
      table.push(
        [`run --drain into ${labels[name]}, events/s`, fmt(rate)],
        [`  rows written, rows/s`, `${fmtCount(written)}, ${fmt(written / secs)}/s`],
        [`  rows by table`, COUNTED_TABLES.map((tb) => `${tb} ${fmtCount(c[tb] ?? 0)}`).join(', ')],
        [
          `  state rows left after the drain (upserted at each checkpoint, deleted as keys expire), checkpoints`,
          `${fmtCount(extra[name]?.stateRows ?? 0)}, ${extra[name]?.checkpoints ?? 0}`,
        ],
        [`  ${labels[name]} / replay`, pct(rate, replayRate)],
        [`  (untimed) import into the log, events/s`, fmt(importRate)],
      );
    }
    if (o.databaseUrl === undefined) {
      table.push(['PostgreSQL', 'not measured: no --database-url nor $FLOWMARK_TEST_PG_URL']);
    }
    return [
      {
        name: `embedded: flowmark run --drain over ${fmt(n)} events pre-loaded in the log, into PGlite${o.databaseUrl === undefined ? '' : ' and PostgreSQL'}, vs replay`,
        figures,
        rows: table,
      },
    ];
  } finally {
    await current?.stores.close().catch(() => undefined);
    if (o.databaseUrl !== undefined) await dropSchemas(o.databaseUrl, schemas);
    rmSync(dir, { recursive: true, force: true });
  }
}
