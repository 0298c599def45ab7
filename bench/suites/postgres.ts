/**
 * PostgreSQL in production (issue #4), against a real server (`--database-url`, or
 * FLOWMARK_TEST_PG_URL from `scripts/services.sh postgres`):
 *
 * 1. **sink**: attributed_checkouts rows written by flowmark's strategy (`writeRows`: one
 *    `INSERT … SELECT FROM unnest($1::text[], …) ON CONFLICT … DO UPDATE` per batch) next to a
 *    plain multi-row `INSERT … VALUES ($1, …), (…) ON CONFLICT … DO UPDATE` (at most 65 535
 *    parameters per statement; bench/support/values-writer.ts), both one transaction per batch
 *    of the committer's default size, into a fresh schema each, alternating which goes first.
 *    COPY is not measured: it needs pg-copy-streams, which flowmark does not depend on.
 * 2. **checkpoint vs state size**: committed state of 1e5, 1e6, 1e7 clicks (bulk-loaded through
 *    `SqlCommitter.commit`, in the shape of the attribution function's `clicks` state), then the
 *    duration of a fixed incremental checkpoint (10 k changed click keys + 1 k sink rows) at each
 *    size (bench/support/synthetic-checkpoints.ts). Incremental means flat: the ratio to the
 *    smallest size should stay near 1.
 * 3. **restart**: `SqlCommitter.load()` and a full `Runtime.open()` of the attribution pipeline
 *    over the largest state, each in a fresh worker process (bench/support/restart.ts; a worker
 *    that runs out of heap is reported, not fatal), next to the raw SQL read of the same rows.
 *
 * Every schema created here (`fm_bench_<pid>_…`) is dropped at the end.
 */
import { outputMigrations, SINK_TABLES } from '../../src/attribution/output-schema.ts';
import { openPostgresDatabase, type PostgresDatabase } from '../../src/connectors/postgres/index.ts';
import { DEFAULT_BATCH_ROWS, runMigrations, writeRows } from '../../src/connectors/sql/index.ts';
import { type BenchResult, fmt, median } from '../support/report.ts';
import { measureOpenRetrying, measureRestart, type RestartFailure, type RestartResult } from '../support/restart.ts';
import { serverSettings } from '../support/services.ts';
import { TimedClient } from '../support/sql-timing.ts';
import { checkoutRows, DELTA } from '../support/state-data.ts';
import { type SizePoint, SyntheticCheckpoints } from '../support/synthetic-checkpoints.ts';
import { MAX_PARAMS, writeRowsValues } from '../support/values-writer.ts';

export { NO_SERVER_MESSAGE } from '../support/services.ts';

export interface PostgresBenchOptions {
  /** The server; every schema created is dropped at the end. */
  url: string;
  /** attributed_checkouts rows per sink variant and round. */
  rows: number;
  /** State sizes (clicks), increasing; the restart is measured at the largest. */
  clicks: number[];
  /** Timed incremental checkpoints per state size (after one untimed warm-up). */
  reps: number;
  /** `--max-old-space-size` of the restart child processes (undefined: Node's default). */
  restartHeapMiB?: number;
}

/**
 * The sizes run by default (about 5 minutes on a 2-core box). `--clicks 1e5,1e6,1e7` takes about
 * 20: building 1e7 clicks of state alone takes 7–8 minutes, and its restart does not fit in
 * Node's default heap (measured, then measured again with a larger heap).
 */
export const DEFAULT_CLICKS = [100_000, 1_000_000];

const LOG = (line: string) => process.stderr.write(`[postgres] ${line}\n`);

export async function postgresBenchmarks(o: PostgresBenchOptions): Promise<BenchResult[]> {
  const prefix = `fm_bench_${process.pid}`;
  const main = `${prefix}_state`;
  const db = await openPostgresDatabase(o.url, {
    migrations: outputMigrations(main),
    schema: main,
    poolSize: 2,
    applicationName: 'flowmark-bench',
  });
  const created = [main];
  try {
    const server = await serverSettings(db);
    LOG(`server: ${server}`);
    const sink = await sinkBenchmark(db, o, prefix, created, server);
    const { result: cp, keys, clicks } = await checkpointBenchmark(db, o, main);
    const restart = await restartBenchmark(db, o, main, keys, clicks);
    return [sink, cp, restart];
  } finally {
    for (const s of created) await db.exec(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
    await db.close();
  }
}

// ---- 1. sink throughput -----------------------------------------------------------------------

type SinkVariant = 'unnest' | 'values';

async function sinkBenchmark(
  db: PostgresDatabase,
  o: PostgresBenchOptions,
  prefix: string,
  created: string[],
  server: string,
): Promise<BenchResult> {
  const table = SINK_TABLES.attributed_checkouts;
  const rows = checkoutRows(o.rows, 0, 7);
  const batch = DEFAULT_BATCH_ROWS;
  const perStatement = Math.floor(MAX_PARAMS / table.columns.length);
  const write = async (variant: SinkVariant, schema: string) => {
    for (let from = 0; from < rows.length; from += batch) {
      const chunk = rows.slice(from, from + batch);
      await db.transaction((tx) =>
        variant === 'unnest' ? writeRows(tx, schema, table, chunk, batch) : writeRowsValues(tx, schema, table, chunk),
      );
    }
  };
  const rounds = 3;
  const insertS: Record<SinkVariant, number[]> = { unnest: [], values: [] };
  const updateS: Record<SinkVariant, number[]> = { unnest: [], values: [] };
  const counts: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    const order: SinkVariant[] = r % 2 === 0 ? ['unnest', 'values'] : ['values', 'unnest'];
    for (const v of order) {
      const schema = `${prefix}_sink_${v}_${r}`;
      created.push(schema);
      await runMigrations(db, schema, outputMigrations(schema));
      globalThis.gc?.();
      let t0 = performance.now();
      await write(v, schema);
      insertS[v].push((performance.now() - t0) / 1000);
      // The same rows again: every row is a conflict, updated in place.
      t0 = performance.now();
      await write(v, schema);
      updateS[v].push((performance.now() - t0) / 1000);
      const { rows: n } = await db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM "${schema}".attributed_checkouts`,
      );
      counts[v] = Number(n[0]?.n);
      await db.exec(`DROP SCHEMA "${schema}" CASCADE`);
      LOG(
        `sink round ${r + 1}/${rounds} ${v}: ${fmt(o.rows / (insertS[v].at(-1) as number))} rows/s insert, ` +
          `${fmt(o.rows / (updateS[v].at(-1) as number))} rows/s update`,
      );
    }
  }
  if (counts.unnest !== o.rows || counts.values !== o.rows) {
    throw new Error(`sink variants wrote ${counts.unnest} and ${counts.values} rows, expected ${o.rows}`);
  }
  const rate = (s: number[]) => o.rows / median(s);
  const [u, v, uu, vu] = [rate(insertS.unnest), rate(insertS.values), rate(updateS.unnest), rate(updateS.values)];
  return {
    name: `postgres: sink throughput, ${fmt(o.rows)} attributed_checkouts rows, unnest (flowmark) vs multi-row INSERT … VALUES`,
    figures: {
      rows: o.rows,
      batch_rows: batch,
      values_rows_per_statement: perStatement,
      unnest_rows_per_s: u,
      values_rows_per_s: v,
      unnest_to_values: u / v,
      unnest_update_rows_per_s: uu,
      values_update_rows_per_s: vu,
      unnest_to_values_update: uu / vu,
    },
    rows: [
      ['server (same machine)', server],
      ['rows (24 columns), per variant and round', `${fmt(o.rows)}; median of ${rounds} rounds, order alternating`],
      [
        'transactions',
        `one per ${fmt(batch)} rows (the committer's batchRows); unnest: 1 statement per transaction, VALUES: ${Math.ceil(batch / perStatement)} of ≤ ${fmt(perStatement)} rows (65 535 parameters)`,
      ],
      ['unnest (flowmark writeRows), rows/s into a fresh table', fmt(u)],
      ['multi-row INSERT … VALUES, rows/s into a fresh table', fmt(v)],
      ['unnest / VALUES (insert)', `${(u / v).toFixed(2)}×`],
      ['unnest, rows/s re-writing the same rows (all conflicts → update)', fmt(uu)],
      ['multi-row VALUES, rows/s re-writing the same rows', fmt(vu)],
      ['unnest / VALUES (update)', `${(uu / vu).toFixed(2)}×`],
      ['COPY', 'not measured: needs pg-copy-streams, which flowmark does not depend on'],
    ],
  };
}

// ---- 2. checkpoint duration as the state grows --------------------------------------------------

async function checkpointBenchmark(
  db: PostgresDatabase,
  o: PostgresBenchOptions,
  schema: string,
): Promise<{ result: BenchResult; keys: number; clicks: number }> {
  const timed = new TimedClient(db);
  const s = await SyntheticCheckpoints.start(db, schema, LOG, timed);
  const shape = s.shape();
  let buildS = 0;
  let settleS = 0;
  const points: Array<SizePoint & { breakdown: Map<string, number> }> = [];
  for (const target of o.clicks) {
    const t0 = performance.now();
    await s.growByCommits(target);
    const built = (performance.now() - t0) / 1000;
    buildS += built;
    settleS += await s.settle();
    LOG(`state of ${fmt(s.clicks)} clicks built in ${built.toFixed(1)} s; measuring checkpoints`);
    const p = await s.measure(o.reps, () => timed.times.clear()); // the warm-up is not counted
    points.push({ ...p, breakdown: new Map([...timed.times].map(([k, v]) => [k, v / o.reps])) });
    LOG(
      `checkpoint at ${fmt(p.clicks)} clicks: median ${median(p.ms).toFixed(0)} ms (${p.ms.map((m) => m.toFixed(0)).join(', ')})`,
    );
  }
  const base = points[0] as (typeof points)[number];
  const last = points.at(-1) as (typeof points)[number];
  const changes = DELTA.updates + DELTA.inserts + DELTA.deletes;
  const figures: Record<string, number> = {
    build_s: buildS,
    build_clicks_per_s: s.clicks / buildS,
    settle_s: settleS,
    reps: o.reps,
    delta_state_changes: changes,
    delta_sink_rows: DELTA.sinkRows,
  };
  const rows: Array<[string, string]> = [
    [
      'state shape (real run of the pipeline vs synthetic)',
      `clicks entry: real ${shape.realBytes.toFixed(0)} B (key + JSON value, ${shape.realClicksPerKey.toFixed(2)} clicks/key), ` +
        `synthetic ${shape.syntheticBytes.toFixed(0)} B (1.08 clicks/key)`,
    ],
    [
      'state built through SqlCommitter.commit',
      `${fmt(s.clicks)} clicks in ${buildS.toFixed(0)} s (${fmt(s.clicks / buildS)} clicks/s, 200.0 k keys per commit); then ANALYZE + CHECKPOINT per size (${settleS.toFixed(0)} s)`,
    ],
    [
      'the measured checkpoint',
      `${changes} changed click keys (${DELTA.updates} updated, ${DELTA.inserts} new, ${DELTA.deletes} deleted, random over the whole state) + ${fmt(DELTA.sinkRows)} attributed_checkouts rows; median of ${o.reps} after a warm-up`,
    ],
  ];
  for (const p of points) {
    const tag = String(p.clicks);
    const ms = median(p.ms);
    const walMiB = median(p.walBytes) / 2 ** 20;
    figures[`state_rows_${tag}`] = p.stateRows;
    figures[`state_bytes_${tag}`] = p.stateBytes;
    figures[`checkpoint_ms_${tag}`] = ms;
    figures[`checkpoint_ratio_${tag}`] = ms / median(base.ms);
    figures[`checkpoint_wal_mib_${tag}`] = walMiB;
    rows.push([
      `checkpoint with ${fmt(p.clicks)} clicks of state (${fmt(p.stateRows)} rows, ${(p.stateBytes / 2 ** 20).toFixed(0)} MiB with indexes)`,
      `${(ms / median(base.ms)).toFixed(2)}× the first size: ${ms.toFixed(0)} ms median (${Math.min(...p.ms).toFixed(0)}–${Math.max(...p.ms).toFixed(0)}), ${walMiB.toFixed(0)} MiB of WAL`,
    ]);
  }
  const parts = (p: (typeof points)[number]) =>
    ['state upsert', 'state delete', 'sink', 'fence', 'BEGIN/COMMIT']
      .map((k) => `${k} ${(p.breakdown.get(k) ?? 0).toFixed(0)}`)
      .join(', ');
  rows.push([`where a checkpoint's ms go at ${fmt(base.clicks)} clicks (mean)`, parts(base)]);
  if (last !== base) rows.push([`where a checkpoint's ms go at ${fmt(last.clicks)} clicks (mean)`, parts(last)]);
  figures.checkpoint_ratio_largest_to_smallest = median(last.ms) / median(base.ms);
  return {
    result: {
      name: `postgres: incremental checkpoint duration as the state grows (${o.clicks.map(fmt).join(' → ')} clicks)`,
      figures,
      rows,
    },
    keys: s.keys,
    clicks: s.clicks,
  };
}

// ---- 3. restart -------------------------------------------------------------------------------

async function restartBenchmark(
  db: PostgresDatabase,
  o: PostgresBenchOptions,
  schema: string,
  keys: number,
  clicks: number,
): Promise<BenchResult> {
  const { rows: sz } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${schema}".state`);
  const stateRows = Number(sz[0]?.n);
  const from = { url: o.url, schema };
  LOG(`restart over ${fmt(clicks)} clicks, each step in a child process`);
  const load = await measureRestart(from, 'load', o.restartHeapMiB, LOG);
  const { open, firstOpen, retried, retryHeapMiB } = await measureOpenRetrying(from, o.restartHeapMiB, LOG);
  const figures: Record<string, number> = { clicks, state_keys: keys, state_rows: stateRows };
  const rows: Array<[string, string]> = [
    ['state', `${fmt(clicks)} clicks in ${fmt(stateRows)} state rows`],
    [
      'each step in a fresh child process, heap limit',
      o.restartHeapMiB === undefined ? "Node's default" : `--max-old-space-size=${o.restartHeapMiB}`,
    ],
  ];
  if (retried) {
    figures.default_heap_open_failed_after_s = (firstOpen as RestartFailure).seconds;
    rows.push([
      "Runtime.open() with Node's default heap",
      `${(firstOpen as RestartFailure).error}; measured again with --max-old-space-size=${retryHeapMiB}`,
    ]);
  }
  const s = (ms: number) => (ms / 1000).toFixed(1);
  const mem = (r: RestartResult) =>
    `${r.heapUsedMiB.toFixed(0)} MiB, ${r.maxRssMiB.toFixed(0)} MiB (heap limit ${r.heapLimitMiB.toFixed(0)} MiB); GC ${r.gcSeconds.toFixed(1)} s`;
  let raw: number | undefined;
  let loaded: number | undefined;
  if ('error' in load) rows.push(['SqlCommitter.load()', `failed: ${load.error}`]);
  else {
    raw = load.rawReadMs as number;
    loaded = load.loadMs as number;
    Object.assign(figures, {
      raw_read_s: raw / 1000,
      load_s: loaded / 1000,
      load_to_raw_read: loaded / raw,
      load_heap_used_mib: load.heapUsedMiB,
      load_max_rss_mib: load.maxRssMiB,
      load_gc_s: load.gcSeconds,
      heap_limit_mib: load.heapLimitMiB,
    });
    rows.push(
      [
        'reference: raw SQL read of the rows (the same keyset pages, no JSON.parse), s',
        `${s(raw)} (${fmt((load.rawReadRows as number) / (raw / 1000))} rows/s)`,
      ],
      [
        'SqlCommitter.load() + every entry read (JSON.parse, key decoding), s',
        `${s(loaded)} (${fmt((load.entries as number) / (loaded / 1000))} entries/s)`,
      ],
      ['load / raw SQL read', `${(loaded / raw).toFixed(2)}×`],
      ['after load(): heap used with the RestorePoint held, peak RSS; GC in the child (raw read + load)', mem(load)],
    );
  }
  if ('error' in open) rows.push(['Runtime.open() of the attribution pipeline', `failed: ${open.error}`]);
  else {
    const openMs = open.openMs as number;
    Object.assign(figures, {
      open_s: openMs / 1000,
      open_heap_used_mib: open.heapUsedMiB,
      open_max_rss_mib: open.maxRssMiB,
      open_heap_limit_mib: open.heapLimitMiB,
      open_gc_s: open.gcSeconds,
    });
    rows.push([
      'Runtime.open() of the attribution pipeline (load + restore into its state tables), s',
      loaded === undefined ? s(openMs) : `${s(openMs)} (restore ≈ ${s(openMs - loaded)}: open − load, two processes)`,
    ]);
    if (raw !== undefined && loaded !== undefined) {
      figures.restore_s = (openMs - loaded) / 1000;
      figures.open_to_raw_read = openMs / raw;
      rows.push(['open / raw SQL read', `${(openMs / raw).toFixed(2)}×`]);
    }
    rows.push(['after open(): heap used (the restored state tables), peak RSS; GC during open()', mem(open)]);
  }
  return { name: `postgres: restart from a checkpoint with ${fmt(clicks)} clicks of state`, figures, rows };
}
