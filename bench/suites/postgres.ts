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
 * 2. **checkpoint vs state size**: the attribution's `clicks` time-bucketed table (its own
 *    declaration) filled with the website simulator's clicks up to each size (1e6, 1e7 by
 *    default) and committed as the live pipeline does, one chunk per checkpoint into
 *    `state_chunks` through `SqlCommitter.commit` (bench/support/chunked-checkpoints.ts; one chunk
 *    per `chunkMs` of event time, the first of `--chunk-ms`); then the duration, chunk bytes and
 *    WAL of a fixed incremental checkpoint (a chunk of 10 k new clicks + 1 k sink rows) at each
 *    size. Incremental means flat: the ratio to the smallest size should stay near 1.
 * 3. **restart**: `SqlCommitter.load()` and a full `Runtime.open()` of the attribution pipeline
 *    over the largest state, each in a fresh worker process with Node's default heap (unless
 *    `--restart-heap-mib`; bench/support/restart.ts; a worker that runs out of heap is reported,
 *    not fatal), next to the raw SQL read of the same chunk rows; the state entries restored are
 *    checked against the clicks committed. Again over the same clicks cut into each other chunk
 *    layout of `--chunk-ms` (few large chunks vs many small ones), each in a schema of its own.
 *
 * Every schema created here (`fm_bench_<pid>_…`) is dropped at the end.
 */
import { outputMigrations, SINK_TABLES } from '../../src/attribution/output-schema.ts';
import { openPostgresDatabase, type PostgresDatabase } from '../../src/connectors/postgres/index.ts';
import { DEFAULT_BATCH_ROWS, runMigrations, writeRows } from '../../src/connectors/sql/index.ts';
import {
  ChunkedCheckpoints,
  type ChunkLayout,
  DELTA,
  layoutName,
  type SizePoint,
  storedChunks,
} from '../support/chunked-checkpoints.ts';
import { type BenchResult, fmt, fmtCount, median } from '../support/report.ts';
import {
  type LayoutRestart,
  measureOpenRetrying,
  measureRestart,
  type RestartFailure,
  restartRows,
} from '../support/restart.ts';
import { serverSettings } from '../support/services.ts';
import { TimedClient } from '../support/sql-timing.ts';
import { checkoutRows } from '../support/state-data.ts';
import { MAX_PARAMS, writeRowsValues } from '../support/values-writer.ts';

export { NO_SERVER_MESSAGE } from '../support/services.ts';

export interface PostgresBenchOptions {
  /** The server; every schema created is dropped at the end. */
  url: string;
  /** attributed_checkouts rows per sink variant and round. */
  rows: number;
  /** State sizes (clicks), increasing; the restart is measured at the largest. */
  clicks: number[];
  /**
   * Event time per chunk (ms) of each chunk layout: the first is the layout of the checkpoint
   * figures; each gets a restart at the largest size.
   */
  chunkMs: number[];
  /** Timed incremental checkpoints per state size (after one untimed warm-up). */
  reps: number;
  /** `--max-old-space-size` of the restart child processes (undefined: Node's default). */
  restartHeapMiB?: number;
}

/** The sizes run by default: issue 15's targets compare 1e6 with 1e7 clicks. */
export const DEFAULT_CLICKS = [1_000_000, 10_000_000];

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
    const [first, ...others] = o.chunkMs.map((chunkMs): ChunkLayout => ({ chunkMs }));
    // The clicks' rate is set by the largest state (+ the measured chunks): they span 50 minutes.
    const maxClicks = (o.clicks.at(-1) as number) + o.clicks.length * (o.reps + 1) * DELTA.clicks;
    const cp = await checkpointBenchmark(db, o, main, first as ChunkLayout, maxClicks);
    const layouts = [{ schema: main, layout: first as ChunkLayout, clicks: cp.clicks, stored: cp.stored }];
    for (const layout of others) {
      const schema = `${prefix}_state_${layout.chunkMs}ms`;
      created.push(schema);
      const stored = await buildLayout(db, schema, layout, maxClicks, cp.clicks);
      layouts.push({ schema, layout, clicks: cp.clicks, stored });
    }
    const restart = await restartBenchmark(o, layouts);
    return [sink, cp.result, restart];
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
  layout: ChunkLayout,
  maxClicks: number,
): Promise<{ result: BenchResult; clicks: number; stored: LayoutRestart['stored'] }> {
  const timed = new TimedClient(db);
  const s = await ChunkedCheckpoints.start(db, schema, layout, maxClicks, LOG, timed);
  let settleS = 0;
  const points: Array<SizePoint & { breakdown: Map<string, number> }> = [];
  for (const target of o.clicks) {
    const t0 = performance.now();
    await s.growTo(target);
    const built = (performance.now() - t0) / 1000;
    settleS += await s.settle();
    LOG(
      `state of ${fmt(s.clicks)} clicks built in ${built.toFixed(1)} s (${fmtCount(s.checkpoints)} checkpoints); measuring checkpoints`,
    );
    const p = await s.measure(o.reps, () => timed.times.clear()); // the warm-up is not counted
    points.push({ ...p, breakdown: new Map([...timed.times].map(([k, v]) => [k, v / o.reps])) });
    LOG(
      `checkpoint at ${fmt(p.clicks)} clicks: median ${median(p.ms).toFixed(0)} ms (${p.ms.map((m) => m.toFixed(0)).join(', ')})`,
    );
  }
  const base = points[0] as (typeof points)[number];
  const last = points.at(-1) as (typeof points)[number];
  const buildS = s.generateS + s.commitS;
  const figures: Record<string, number> = {
    generate_s: s.generateS,
    build_commit_s: s.commitS,
    build_checkpoints: s.checkpoints,
    settle_s: settleS,
    chunk_ms: layout.chunkMs,
    reps: o.reps,
    delta_clicks: DELTA.clicks,
    delta_sink_rows: DELTA.sinkRows,
  };
  const rows: Array<[string, string]> = [
    [
      'state',
      `the attribution's clicks table (its own declaration), filled with the website simulator's clicks over the 50 min before the watermark, ` +
        `committed through SqlCommitter.commit as checkpoints of one chunk each, ${layoutName(layout)}; nothing expired`,
    ],
    [
      'state built',
      `${fmt(s.clicks)} clicks in ${fmtCount(s.checkpoints)} checkpoints, ${buildS.toFixed(0)} s: ${s.generateS.toFixed(0)} s generating and inserting clicks, ` +
        `${s.commitS.toFixed(0)} s committing (${fmt(s.checkpoints / Math.max(s.commitS, 1e-9))} checkpoints/s); then ANALYZE + CHECKPOINT per size (${settleS.toFixed(0)} s)`,
    ],
    [
      'the measured checkpoint',
      `a chunk of ${fmt(DELTA.clicks)} new clicks + ${fmt(DELTA.sinkRows)} attributed_checkouts rows through SqlCommitter.commit; median of ${o.reps} after a warm-up`,
    ],
  ];
  for (const p of points) {
    const tag = String(p.clicks);
    const ms = median(p.ms);
    const walMiB = median(p.walBytes) / 2 ** 20;
    figures[`state_chunks_${tag}`] = p.chunks;
    figures[`state_chunk_bytes_${tag}`] = p.chunkBytes;
    figures[`state_bytes_${tag}`] = p.tableBytes;
    figures[`checkpoint_ms_${tag}`] = ms;
    figures[`checkpoint_ratio_${tag}`] = ms / median(base.ms);
    figures[`checkpoint_chunk_bytes_${tag}`] = median(p.deltaBytes);
    figures[`checkpoint_wal_mib_${tag}`] = walMiB;
    rows.push([
      `checkpoint with ${fmt(p.clicks)} clicks of state (${fmtCount(p.chunks)} chunks, ${(p.chunkBytes / 2 ** 20).toFixed(0)} MiB; ${(p.tableBytes / 2 ** 20).toFixed(0)} MiB with indexes)`,
      `${(ms / median(base.ms)).toFixed(2)}× the first size: ${ms.toFixed(0)} ms median (${Math.min(...p.ms).toFixed(0)}–${Math.max(...p.ms).toFixed(0)}); ` +
        `chunk ${(median(p.deltaBytes) / 1024).toFixed(0)} KiB, ${walMiB.toFixed(1)} MiB of WAL`,
    ]);
  }
  const parts = (p: (typeof points)[number]) =>
    ['chunk insert', 'chunk expiry delete', 'sink', 'fence', 'BEGIN/COMMIT']
      .map((k) => `${k} ${(p.breakdown.get(k) ?? 0).toFixed(1)}`)
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
    clicks: s.clicks,
    stored: await storedChunks(db, schema),
  };
}

/** The same clicks as the measured layout's (same simulator, seed and rate) in another layout. */
async function buildLayout(
  db: PostgresDatabase,
  schema: string,
  layout: ChunkLayout,
  maxClicks: number,
  clicks: number,
): Promise<LayoutRestart['stored']> {
  await runMigrations(db, schema, outputMigrations(schema));
  const log = (line: string) => LOG(`${layoutName(layout)}: ${line}`);
  const s = await ChunkedCheckpoints.start(db, schema, layout, maxClicks, log);
  await s.growTo(clicks);
  await s.settle();
  log(`${fmt(s.clicks)} clicks in ${fmtCount(s.checkpoints)} checkpoints`);
  return storedChunks(db, schema);
}

// ---- 3. restart -------------------------------------------------------------------------------

/** `load` and `open` (Node's default heap unless --restart-heap-mib) over the largest state of `layout`. */
async function restartBenchmark(
  o: PostgresBenchOptions,
  layouts: ReadonlyArray<{ schema: string; layout: ChunkLayout; clicks: number; stored: LayoutRestart['stored'] }>,
): Promise<BenchResult> {
  const figures: Record<string, number> = {};
  const rows: Array<[string, string]> = [
    [
      'how',
      'each step in a fresh child process: SqlCommitter.load() (every chunk read) next to the raw SQL read of the same rows, then Runtime.open() of the attribution pipeline; ' +
        "over the checkpoint benchmark's largest state, and the same clicks cut into each other chunk layout",
    ],
    ['heap limit', o.restartHeapMiB === undefined ? "Node's default" : `--max-old-space-size=${o.restartHeapMiB}`],
  ];
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const opens: LayoutRestart[] = [];
  for (const [i, l] of layouts.entries()) {
    const sfx = i === 0 ? '' : `_chunk_ms_${l.layout.chunkMs}`;
    const from = { url: o.url, schema: l.schema };
    LOG(
      `restart over ${fmt(l.clicks)} clicks in ${fmtCount(l.stored.chunks)} chunks (${layoutName(l.layout)}), each step in a child process`,
    );
    const load = await measureRestart(from, 'load', o.restartHeapMiB, LOG);
    const { open, firstOpen, retried, retryHeapMiB } = await measureOpenRetrying(from, o.restartHeapMiB, LOG);
    const what = `${fmtCount(l.stored.chunks)} chunks (${layoutName(l.layout)})`;
    if (retried) {
      figures[`default_heap_open_failed_after_s${sfx}`] = (firstOpen as RestartFailure).seconds;
      rows.push([
        `Runtime.open() with Node's default heap, ${what}`,
        `${(firstOpen as RestartFailure).error}; measured again with --max-old-space-size=${retryHeapMiB}`,
      ]);
    }
    if ('error' in load) rows.push([`SqlCommitter.load(), ${what}`, `failed: ${load.error}`]);
    else {
      const raw = load.rawReadMs as number;
      const loaded = load.loadMs as number;
      Object.assign(figures, {
        [`raw_read_s${sfx}`]: raw / 1000,
        [`load_s${sfx}`]: loaded / 1000,
        [`load_to_raw_read${sfx}`]: loaded / raw,
        [`load_max_rss_mib${sfx}`]: load.maxRssMiB,
      });
      rows.push(
        [
          `reference: raw SQL read of the chunk rows (the load's scan, bytes dropped), ${what}, s`,
          `${s(raw)} (${fmt(l.stored.chunkBytes / 2 ** 20 / (raw / 1000))} MiB/s)`,
        ],
        [
          `SqlCommitter.load(), ${what}, s`,
          `${s(loaded)} (${fmtCount(load.chunks ?? 0)} chunks, ${((load.chunkBytes ?? 0) / 2 ** 20).toFixed(0)} MiB, ${fmtCount(load.entries ?? 0)} JSON entries); ` +
            `${(loaded / raw).toFixed(2)}× the raw read; peak RSS ${load.maxRssMiB.toFixed(0)} MiB`,
        ],
      );
    }
    opens.push({ layout: l.layout, clicks: l.clicks, stored: l.stored, r: open });
  }
  const r = restartRows(opens);
  Object.assign(figures, r.figures);
  rows.push(...r.rows);
  const first = layouts[0] as (typeof layouts)[number];
  return { name: `postgres: restart from a checkpoint with ${fmt(first.clicks)} clicks of state`, figures, rows };
}
