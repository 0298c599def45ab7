/**
 * A restart from a committed checkpoint, measured in a process of its own (its memory is its
 * own; a restart that does not fit in the heap fails here, not in the benchmark):
 * `node --expose-gc [--max-old-space-size=N] bench/support/workers/restart.ts pg|pglite <schema> load|open [<pglite dir>]`
 * (pg: the server's URL in $FM_BENCH_PG_URL, kept off the command line). Prints one JSON line.
 *
 * - `load`: the reference first — the load's scan of `state_chunks`, bytes fetched and dropped (no
 *   format check) — then `SqlCommitter.load()` and every chunk and JSON entry it yields;
 * - `open`: `Runtime.open()` of the attribution pipeline (load + restore into its state tables),
 *   and the state entries it then holds (`stateEntries()`, and those of the clicks' step).
 *
 * Near the heap limit V8 spends minutes in garbage collection before it gives up: at
 * {@link HEAP_STOP} of the limit the worker stops, prints the heap and exits 3.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import { outputMigrations, SINK_TABLES } from '../../../src/attribution/output-schema.ts';
import { MemorySource } from '../../../src/connectors/memory/memory-source.ts';
import { openPgliteDatabase } from '../../../src/connectors/pglite/index.ts';
import { openPostgresDatabase } from '../../../src/connectors/postgres/index.ts';
import { qualified, type SqlClient, SqlCommitter } from '../../../src/connectors/sql/index.ts';
import { chunkScan } from '../../../src/connectors/sql/state-chunks.ts';
import { Runtime, systemClock } from '../../../src/engine/index.ts';
import { CLICKS_NODE, STATE_JOB } from '../chunked-checkpoints.ts';
import { attributionPipeline } from '../data-sets.ts';
import { HEAP_STOP, HEAP_STOP_EXIT, type RestartResult } from '../restart.ts';

/**
 * Reads every stored chunk of the job with the load's own scan (`chunkScan`, under the same
 * planner settings), bytes fetched and dropped: no format check, no decoding. Rows and bytes.
 */
async function rawRead(db: SqlClient, schema: string): Promise<{ rows: number; bytes: number }> {
  return db.transaction(async (tx) => {
    await tx.query(
      `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
              set_config('enable_sort', 'off', true)`,
    );
    const { rows } = await tx.query<{ size: number }>(chunkScan(qualified(schema, 'state_chunks')), [
      STATE_JOB,
      SLICE_BYTES,
    ]);
    return { rows: rows.length, bytes: rows.reduce((n, r) => n + Number(r.size), 0) };
  });
}

/** The committer's default slice (chunks larger than this are read in slices). */
const SLICE_BYTES = 64 * 1024 * 1024;

const [kind, schema, mode, dir] = process.argv.slice(2) as [string, string, 'load' | 'open', string | undefined];
const migrations = outputMigrations(schema);
const db =
  kind === 'pglite'
    ? await openPgliteDatabase(dir as string, { migrations, schema })
    : await openPostgresDatabase(process.env.FM_BENCH_PG_URL as string, {
        migrations,
        schema,
        poolSize: 2,
        applicationName: 'flowmark-bench-restart',
      });
const started = performance.now();
const watchdog = setInterval(() => {
  const h = v8.getHeapStatistics();
  if (h.used_heap_size < HEAP_STOP * h.heap_size_limit) return;
  const line = {
    mode,
    heapStop: true,
    heapUsedMiB: h.used_heap_size / 2 ** 20,
    heapLimitMiB: h.heap_size_limit / 2 ** 20,
    seconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`, () => process.exit(HEAP_STOP_EXIT));
}, 250);
watchdog.unref();
// Time spent collecting garbage (a large retained state makes every major GC longer).
let gcMs = 0;
const gcs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
});
gcs.observe({ entryTypes: ['gc'] });
const mem = () => {
  for (const e of gcs.takeRecords()) gcMs += e.duration;
  gcs.disconnect();
  const gcSeconds = gcMs / 1000;
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  return {
    gcSeconds,
    heapUsedMiB: m.heapUsed / 2 ** 20,
    rssMiB: m.rss / 2 ** 20,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    heapLimitMiB: v8.getHeapStatistics().heap_size_limit / 2 ** 20,
  };
};
try {
  const committer = new SqlCommitter(db, { schema, job: STATE_JOB, sinks: SINK_TABLES });
  let result: RestartResult;
  if (mode === 'load') {
    const t0 = performance.now();
    const raw = await rawRead(db, schema);
    const rawReadMs = performance.now() - t0;
    process.stderr.write(
      `[restart] raw read of ${raw.rows} chunks (${raw.bytes} bytes) in ${(rawReadMs / 1000).toFixed(1)} s\n`,
    );
    const t1 = performance.now();
    const point = await committer.load();
    let entries = 0;
    for await (const _e of point?.entries ?? []) entries++;
    let chunks = 0;
    let chunkBytes = 0;
    for await (const c of point?.chunks ?? []) {
      chunks++;
      chunkBytes += c.bytes.length;
    }
    const loadMs = performance.now() - t1;
    // `point` is still referenced: the chunks it read count here.
    result = { mode, entries, chunks, chunkBytes, rawReadMs, rawReadRows: raw.rows, loadMs, ...mem() };
    if (point === undefined) process.exitCode = 1;
  } else {
    const runtime = new Runtime(attributionPipeline(new MemorySource<string>({ bounded: false })), {
      committer,
      clock: systemClock,
    });
    // The database's own memory (PGlite's is hundreds of MiB) is there before the restore starts.
    const maxRssBeforeOpenMiB = process.resourceUsage().maxRSS / 1024;
    const t0 = performance.now();
    await runtime.open();
    const openMs = performance.now() - t0;
    const stats = runtime.stats();
    result = {
      mode,
      openMs,
      maxRssBeforeOpenMiB,
      stateEntries: runtime.stateEntries(),
      clickNodeEntries: stats.find((n) => n.id === CLICKS_NODE)?.state.entries ?? 0,
      ...mem(), // the restored state tables
    };
    await runtime.close();
  }
  console.log(JSON.stringify(result));
} finally {
  clearInterval(watchdog);
  await db.close();
}
