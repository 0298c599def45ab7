/**
 * State (issue 6, item 7): what the attribution state costs as it grows.
 *
 * 1. **memory per click**: the real attribution pipeline (in memory, no I/O) over generated
 *    events pulled one poll at a time (never all in memory), until the state holds N clicks
 *    (1 M, 10 M by default); a lookback of 24 h, so that none is dropped. Heap used and RSS
 *    after a full GC, minus the same figures before the first event, divided by the clicks
 *    held. Each size runs in a fresh child process (`--expose-gc`, a heap large enough).
 * 2. **engine checkpoint vs state size**: in the same child, then a fixed delta of
 *    {@link DELTA_EVENTS} more events and a checkpoint, several times: its duration (taking the
 *    changes + encoding the snapshot, the runtime's own `flowmark_checkpoint_duration_seconds`)
 *    and the bytes of the encoded delta. Incremental means both stay flat as the state grows.
 * 3. **PGlite checkpoint vs state size**: the embedded database's `state` table filled (by SQL,
 *    in the exact shape the committer writes) to each size, then the same fixed incremental
 *    checkpoint as bench/postgres-bench.ts commits into a server (10 k changed click keys + 1 k
 *    sink rows) through `SqlCommitter.commit`. The server's figures are that benchmark's
 *    (`npm run bench -- postgres`), not repeated here.
 * 4. **restart** from PGlite at the largest size: `Runtime.open()` of the attribution pipeline
 *    in a fresh child process (no separate read-only pass: at 300 k clicks `load()` with every
 *    entry read took as long as the whole `open()`, and at 10 M each pass takes minutes).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { attributionOptions } from '../src/attribution/attribution-options.ts';
import { buildAttributionPipeline } from '../src/attribution/attribution-pipeline.ts';
import { outputMigrations, SINK_TABLES } from '../src/attribution/output-schema.ts';
import { MemorySource } from '../src/connectors/memory/memory-source.ts';
import { openPgliteDatabase } from '../src/connectors/pglite/index.ts';
import { SqlCommitter } from '../src/connectors/sql/index.ts';
import {
  type Checkpoint,
  type CheckpointCommitter,
  type Clock,
  encodeSnapshot,
  type MetricsRegistry,
  type RestorePoint,
  Runtime,
  type SnapshotEntry,
} from '../src/engine/index.ts';
import { SNAPSHOT_FORMAT_VERSION } from '../src/engine/snapshot.ts';
import { EventGenerator, generateCatalog, SOURCES } from '../src/generator/index.ts';
import { type BenchResult, fmt, median } from './bench-lib.ts';
import { attributionPipeline, ClickState, checkoutRows, DELTA, realCheckpoint } from './postgres-bench.ts';
import { PullSource } from './pull-source.ts';

export const DEFAULT_STATE_CLICKS = [1_000_000, 10_000_000];

export interface StateBenchOptions {
  /** State sizes (clicks), increasing; the restart is measured at the largest. */
  clicks: number[];
  /** Timed checkpoints per size (after one untimed warm-up). */
  reps: number;
  /** Which parts to run: `memory` (1 + 2) and/or `pglite` (3 + 4). */
  parts: ReadonlyArray<'memory' | 'pglite'>;
}

const LOG = (line: string) => process.stderr.write(`[state] ${line}\n`);
const JOB = 'attribution';
const SCHEMA = 'flowmark';
/** Events of the fixed delta between two measured engine checkpoints. */
const DELTA_EVENTS = 10_000;
/** Longer than the event time of 10 M events at 1 000 events/s (2.8 h): no click is dropped. */
const HOLD_ALL_LOOKBACK_MS = 24 * 3_600_000;
/** Sub-millisecond processing time, so that short checkpoints are timed precisely. */
const preciseClock: Clock = {
  nowMs: () => performance.timeOrigin + performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
const MiB = 2 ** 20;

export async function stateBenchmarks(o: StateBenchOptions): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  if (o.parts.includes('memory')) {
    const memory: MemoryPoint[] = [];
    for (const clicks of o.clicks) {
      // About 500 B of heap per click today, plus room to collect garbage.
      const heapMiB = Math.max(2048, Math.ceil((clicks * 1000) / MiB));
      LOG(`memory: building ${fmt(clicks)} clicks of live state in a child process (--max-old-space-size=${heapMiB})…`);
      const r = await runChild(['memory', String(clicks), String(o.reps)], heapMiB);
      if ('error' in r) throw new Error(`state bench: the memory child for ${clicks} clicks failed: ${r.error}`);
      memory.push(r as unknown as MemoryPoint);
      LOG(`memory at ${fmt(clicks)} clicks: ${JSON.stringify(r)}`);
    }
    results.push(memoryResult(memory), engineCheckpointResult(memory));
  }
  if (o.parts.includes('pglite')) results.push(...(await pgliteBenchmarks(o)));
  return results;
}

// ---- 1 + 2: live state in a child process ---------------------------------------------------

interface MemoryPoint {
  clicks: number;
  events: number;
  buildS: number;
  keys: number;
  stateEntries: number;
  /** flowmark's own estimate of the state's bytes (`stats().state.bytes`, what the gauge shows). */
  estimatedBytes: number;
  heapBytes: number;
  rssBytes: number;
  maxRssMiB: number;
  checkpointMs: number[];
  /** Garbage collection within each measured checkpoint, ms. */
  checkpointGcMs: number[];
  deltaBytes: number[];
  deltaEntries: number[];
}

/** Encodes every snapshot (as a durable store must) and remembers the last one's size. */
class SizingCommitter implements CheckpointCommitter {
  lastBytes = 0;
  lastEntries = 0;
  async load(): Promise<RestorePoint | undefined> {
    return undefined;
  }
  async commit(cp: Checkpoint): Promise<void> {
    this.lastBytes = encodeSnapshot(cp.snapshot).length;
    this.lastEntries = cp.snapshot.entries.length;
  }
}

function settledMemory(): { heap: number; rss: number } {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

async function memoryChild(clicks: number, reps: number): Promise<MemoryPoint> {
  const catalog = generateCatalog({ users: 20_000, products: 2_000, seed: 1 });
  const events = Math.ceil(clicks * 1.1) + DELTA_EVENTS * (reps + 2);
  const source = new PullSource(new EventGenerator(catalog, { seed: 1, ratePerSecond: 1000, events }).lines());
  const none = async () => new Map();
  const options = attributionOptions({ lookbackMs: HOLD_ALL_LOOKBACK_MS });
  const pipeline = buildAttributionPipeline({ events: source }, { users: none, products: none }, options, preciseClock);
  // Each checkpoint's [start, end] on the performance timeline, and garbage collections: how much
  // of a checkpoint is GC (whose cost follows the size of the whole heap, not of the delta).
  const durations: Array<[start: number, end: number]> = [];
  const gcs: Array<[start: number, end: number]> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const gcMsWithin = ([a, b]: [number, number]) => {
    for (const e of gcObserver.takeRecords()) gcs.push([e.startTime, e.startTime + e.duration]);
    return gcs.reduce((ms, [s, e]) => ms + Math.max(0, Math.min(b, e) - Math.max(a, s)), 0);
  };
  const noop = { inc() {}, set() {}, observe() {} };
  const metrics: MetricsRegistry = {
    counter: () => noop,
    gauge: () => noop,
    histogram: (name) =>
      name === 'flowmark_checkpoint_duration_seconds'
        ? { observe: (_l, s) => void durations.push([performance.now() - s * 1000, performance.now()]) }
        : noop,
  };
  const committer = new SizingCommitter();
  const runtime = new Runtime(pipeline, { committer, clock: preciseClock, metrics });
  await runtime.open();
  const run = async (records: number, clickLimit = Number.POSITIVE_INFINITY) => {
    const ac = new AbortController();
    source.allow(records, () => ac.abort(), clickLimit);
    await runtime.run({ signal: ac.signal });
  };
  const before = settledMemory();
  const t0 = performance.now();
  await run(Number.POSITIVE_INFINITY, clicks);
  const buildS = (performance.now() - t0) / 1000;
  const held = source.clicks;
  const built = source.delivered;
  const after = settledMemory();
  const attribute = runtime.stats().find((s) => s.id === 'attribute');
  const stats = runtime.stats();
  process.stderr.write(`[state] child: ${fmt(held)} clicks held after ${buildS.toFixed(0)} s; measuring checkpoints\n`);
  const checkpointMs: number[] = [];
  const checkpointGcMs: number[] = [];
  const deltaBytes: number[] = [];
  const deltaEntries: number[] = [];
  for (let rep = 0; rep <= reps; rep++) {
    await run(DELTA_EVENTS);
    if (rep === 0) continue; // warm-up
    const window = durations.at(-1) as [number, number];
    checkpointMs.push(window[1] - window[0]);
    checkpointGcMs.push(gcMsWithin(window));
    deltaBytes.push(committer.lastBytes);
    deltaEntries.push(committer.lastEntries);
  }
  gcObserver.disconnect();
  await runtime.close();
  return {
    clicks: held,
    events: built,
    buildS,
    keys: attribute?.state.entries ?? 0,
    stateEntries: stats.reduce((n, s) => n + s.state.entries, 0),
    estimatedBytes: stats.reduce((n, s) => n + s.state.bytes, 0),
    heapBytes: after.heap - before.heap,
    rssBytes: after.rss - before.rss,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    checkpointMs,
    checkpointGcMs,
    deltaBytes,
    deltaEntries,
  };
}

function memoryResult(points: MemoryPoint[]): BenchResult {
  const figures: Record<string, number> = {};
  const rows: Array<[string, string]> = [
    [
      'how',
      'the attribution pipeline in memory over generated events (20 k users × 2 k products, 1 000 events/s), ' +
        'lookback 24 h so that no click is dropped; heap used and RSS after a full GC, minus before the first event',
    ],
  ];
  for (const p of points) {
    const tag = String(p.clicks >= 1e6 ? `${p.clicks / 1e6}m` : p.clicks);
    const perHeap = p.heapBytes / p.clicks;
    const perRss = p.rssBytes / p.clicks;
    figures[`clicks_${tag}`] = p.clicks;
    figures[`heap_bytes_per_click_${tag}`] = perHeap;
    figures[`rss_bytes_per_click_${tag}`] = perRss;
    figures[`estimated_bytes_per_click_${tag}`] = p.estimatedBytes / p.clicks;
    figures[`state_entries_${tag}`] = p.stateEntries;
    figures[`build_events_per_s_${tag}`] = p.events / p.buildS;
    rows.push(
      [
        `${fmt(p.clicks)} clicks held (${fmt(p.stateEntries)} state entries, ${fmt(p.events)} events in ${p.buildS.toFixed(0)} s)`,
        `**${perHeap.toFixed(0)} B of heap per click** (${(p.heapBytes / MiB).toFixed(0)} MiB), ` +
          `${perRss.toFixed(0)} B of RSS per click (${(p.rssBytes / MiB).toFixed(0)} MiB); peak RSS ${p.maxRssMiB.toFixed(0)} MiB`,
      ],
      [
        `  flowmark's own estimate (stats().state.bytes, the flowmark_state_bytes gauge)`,
        `${(p.estimatedBytes / p.clicks).toFixed(0)} B per click (${((p.estimatedBytes / p.heapBytes) * 100).toFixed(0)} % of the measured heap)`,
      ],
    );
  }
  const target = 80;
  const last = points.at(-1) as MemoryPoint;
  figures.target_bytes_per_click = target;
  rows.push(['target', `≤ ${target} B per click: ${((last.heapBytes / last.clicks / target) * 1).toFixed(1)}× over`]);
  return {
    name: `state: memory per click held in attribution state (${points.map((p) => fmt(p.clicks)).join(', ')})`,
    figures,
    rows,
  };
}

function engineCheckpointResult(points: MemoryPoint[]): BenchResult {
  const base = points[0] as MemoryPoint;
  const figures: Record<string, number> = { delta_events: DELTA_EVENTS };
  const rows: Array<[string, string]> = [
    [
      'the measured checkpoint',
      `after ${fmt(DELTA_EVENTS)} more events; taking the changes + encoding the snapshot (runtime's checkpoint duration, committer: encode only); median of ${base.checkpointMs.length} after a warm-up`,
    ],
  ];
  for (const p of points) {
    const tag = String(p.clicks >= 1e6 ? `${p.clicks / 1e6}m` : p.clicks);
    const ms = median(p.checkpointMs);
    const bytes = median(p.deltaBytes);
    figures[`checkpoint_ms_${tag}`] = ms;
    figures[`delta_bytes_${tag}`] = bytes;
    figures[`checkpoint_ratio_${tag}`] = ms / median(base.checkpointMs);
    figures[`checkpoint_gc_ms_${tag}`] = median(p.checkpointGcMs);
    rows.push([
      `checkpoint with ${fmt(p.clicks)} clicks of live state`,
      `${(ms / median(base.checkpointMs)).toFixed(2)}× the first size: ${ms.toFixed(1)} ms median ` +
        `(${Math.min(...p.checkpointMs).toFixed(1)}–${Math.max(...p.checkpointMs).toFixed(1)}), delta ${(bytes / 1024).toFixed(0)} KiB ` +
        `in ${fmt(median(p.deltaEntries))} entries; of which garbage collection ${median(p.checkpointGcMs).toFixed(1)} ms`,
    ]);
  }
  return {
    name: `state: engine checkpoint of a fixed delta as the live state grows (${points.map((p) => fmt(p.clicks)).join(' → ')} clicks)`,
    figures,
    rows,
  };
}

// ---- 3 + 4: PGlite ---------------------------------------------------------------------------

interface PglitePoint {
  clicks: number;
  stateRows: number;
  stateBytes: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  deltaBytes: number;
  walMiB: number;
}

/** Fills `state` with synthetic click keys [from, to) by SQL, in the committer's exact format. */
async function bulkLoad(
  db: { exec(sql: string): Promise<void> },
  from: number,
  to: number,
  wm: number,
  lookbackMs: number,
): Promise<void> {
  const sources = SOURCES.map(([s]) => `'${s}'`).join(',');
  // Like ClickState.entry: key u<6 digits>\0p<5 digits> (products from p02000), one key in 12
  // with two clicks, times within 50 min before the watermark, expiring a lookback after the last.
  const click = (t: string, id: string, s: string) =>
    `'[' || ${t} || ',{"clickId":"' || ${id} || '","source":"' || ${s} || '","eventTimeMs":' || ${t} || '}]'`;
  await db.exec(`
    INSERT INTO "${SCHEMA}".state (job, node, tbl, key, value, expires_at_ms)
    SELECT '${JOB}', 'attribute', 'clicks',
      'u' || lpad((i % 1000000)::text, 6, '0') || E'\\\\0p' || lpad((2000 + i / 1000000)::text, 5, '0'),
      (CASE WHEN i % 12 = 0
        THEN '[' || ${click('t1', 'c1', 's1')} || ',' || ${click('t2', 'c2', 's2')} || ']'
        ELSE '[' || ${click('t2', 'c2', 's2')} || ']' END)::json,
      t2 + ${lookbackMs}
    FROM (
      SELECT i,
        ${wm} - 1000 - (i * 7919) % 3000000 AS t2,
        ${wm} - 1000 - (i * 7919) % 3000000 - 1 - (i * 104729) % 60000 AS t1,
        md5('a' || i)::uuid::text AS c1, md5('b' || i)::uuid::text AS c2,
        (ARRAY[${sources}])[1 + i % ${SOURCES.length}] AS s1,
        (ARRAY[${sources}])[1 + (i / 7) % ${SOURCES.length}] AS s2
      FROM generate_series(${from}::bigint, ${to - 1}::bigint) AS i
    ) AS g
    ON CONFLICT DO NOTHING`); // p02000 is also the catalog's last product: a few real keys collide
}

async function pgliteBenchmarks(o: StateBenchOptions): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-state-'));
  const dataDir = join(dir, 'data');
  try {
    const sizes = [...new Set([100_000, ...o.clicks])].sort((a, b) => a - b);
    const { points, clicks, buildS } = await pgliteCheckpoints(dataDir, sizes, o.reps);
    const restart = await pgliteRestart(dataDir, clicks, points.at(-1) as PglitePoint);
    return [pgliteCheckpointResult(points, buildS, o.reps), restart];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function pgliteCheckpoints(
  dataDir: string,
  sizes: number[],
  reps: number,
): Promise<{ points: PglitePoint[]; clicks: number; buildS: number }> {
  const db = await openPgliteDatabase(dataDir, { migrations: outputMigrations(SCHEMA), schema: SCHEMA });
  try {
    LOG('PGlite: running the real pipeline over 20 k generated events for the checkpoint metadata');
    const real = await realCheckpoint(20_000);
    const wm = real.meta.nodes.attribute?.watermarkMs as number;
    const gen = new ClickState(wm);
    const committer = new SqlCommitter(db, { schema: SCHEMA, job: JOB, sinks: SINK_TABLES });
    await committer.load();
    let id = 0;
    const snapshotOf = (entries: SnapshotEntry[]) => ({
      version: SNAPSHOT_FORMAT_VERSION,
      checkpointId: id,
      kind: id === 1 ? ('full' as const) : ('delta' as const),
      meta: real.meta,
      entries,
    });
    const commit = async (entries: SnapshotEntry[], rows: readonly unknown[] = []) => {
      id++;
      const snapshot = snapshotOf(entries);
      await committer.commit({ id, snapshot, outputs: new Map([['attributed_checkouts', rows]]) });
      return snapshot;
    };
    await commit(real.entries);
    let clicks = real.entries
      .filter((e) => e.table === 'clicks')
      .reduce((s, e) => s + (e.value as unknown[]).length, 0);
    let keys = 0;
    let buildS = 0;
    let newKey = 500_000_000;
    let sinkRow = 0;
    let salt = 0;
    const points: PglitePoint[] = [];
    const lookbackMs = attributionOptions().lookbackMs;
    for (const target of sizes) {
      const t0 = performance.now();
      while (clicks < target) {
        const from = keys;
        while (clicks < target && keys - from < 500_000) clicks += ClickState.clicksOf(keys++);
        await bulkLoad(db, from, keys, wm, lookbackMs);
        LOG(
          `PGlite: ${fmt(clicks)} / ${fmt(target)} clicks in state (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        );
      }
      buildS += (performance.now() - t0) / 1000;
      await db.exec(`ANALYZE "${SCHEMA}".state`);
      await db.exec('CHECKPOINT');
      const { rows: sz } = await db.query<{ n: string; bytes: string }>(
        `SELECT count(*)::text AS n, pg_total_relation_size('"${SCHEMA}".state')::text AS bytes FROM "${SCHEMA}".state`,
      );
      // The same checkpoint as the postgres benchmark: updated, new and deleted keys at random
      // over the whole state, and the sink rows of the interval.
      let s = target;
      const rnd = () => {
        s = (s * 1664525 + 1013904223) >>> 0;
        return s / 2 ** 32;
      };
      const ms: number[] = [];
      const wal: number[] = [];
      let deltaBytes = 0;
      for (let rep = 0; rep <= reps; rep++) {
        salt++;
        const entries: SnapshotEntry[] = [];
        for (let j = 0; j < DELTA.updates; j++) {
          const i = Math.floor(rnd() * keys);
          entries.push(gen.entry(i, ClickState.clicksOf(i) + 1, salt));
        }
        for (let j = 0; j < DELTA.inserts; j++) entries.push(gen.entry(newKey++));
        for (let j = 0; j < DELTA.deletes; j++) {
          entries.push({
            node: 'attribute',
            table: 'clicks',
            key: ClickState.key(Math.floor(rnd() * keys)),
            value: undefined,
          });
        }
        const rows = checkoutRows(DELTA.sinkRows, 10_000_000 + sinkRow, sinkRow + 1);
        sinkRow += DELTA.sinkRows;
        const lsn = await db.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l');
        const t = performance.now();
        const snapshot = await commit(entries, rows);
        const took = performance.now() - t;
        const w = await db.query<{ n: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text AS n', [
          lsn.rows[0]?.l,
        ]);
        if (rep === 0) continue;
        ms.push(took);
        wal.push(Number(w.rows[0]?.n));
        deltaBytes = encodeSnapshot(snapshot).length;
      }
      points.push({
        clicks,
        stateRows: Number(sz[0]?.n),
        stateBytes: Number(sz[0]?.bytes),
        medianMs: median(ms),
        minMs: Math.min(...ms),
        maxMs: Math.max(...ms),
        deltaBytes,
        walMiB: median(wal) / MiB,
      });
      LOG(`PGlite checkpoint at ${fmt(clicks)} clicks: ${ms.map((m) => m.toFixed(0)).join(', ')} ms`);
    }
    return { points, clicks, buildS };
  } finally {
    await db.close();
  }
}

function pgliteCheckpointResult(points: PglitePoint[], buildS: number, reps: number): BenchResult {
  const base = points[0] as PglitePoint;
  const last = points.at(-1) as PglitePoint;
  const figures: Record<string, number> = {
    build_s: buildS,
    reps,
    delta_state_changes: DELTA.updates + DELTA.inserts + DELTA.deletes,
    delta_sink_rows: DELTA.sinkRows,
    checkpoint_ratio_largest_to_smallest: last.medianMs / base.medianMs,
  };
  const rows: Array<[string, string]> = [
    [
      'the measured checkpoint (the same as the postgres benchmark)',
      `${DELTA.updates + DELTA.inserts + DELTA.deletes} changed click keys (${DELTA.updates} updated, ${DELTA.inserts} new, ${DELTA.deletes} deleted, random over the whole state) + ${fmt(DELTA.sinkRows)} attributed_checkouts rows through SqlCommitter.commit; median of ${reps} after a warm-up`,
    ],
    ['state built', `by SQL in the committer's format (${buildS.toFixed(0)} s in all); ANALYZE + CHECKPOINT per size`],
  ];
  for (const p of points) {
    const tag = String(p.clicks);
    figures[`checkpoint_ms_${tag}`] = p.medianMs;
    figures[`checkpoint_ratio_${tag}`] = p.medianMs / base.medianMs;
    figures[`delta_bytes_${tag}`] = p.deltaBytes;
    figures[`wal_mib_${tag}`] = p.walMiB;
    figures[`state_bytes_${tag}`] = p.stateBytes;
    rows.push([
      `checkpoint with ${fmt(p.clicks)} clicks in PGlite (${fmt(p.stateRows)} rows, ${(p.stateBytes / MiB).toFixed(0)} MiB with indexes)`,
      `${(p.medianMs / base.medianMs).toFixed(2)}× the first size: ${p.medianMs.toFixed(0)} ms median (${p.minMs.toFixed(0)}–${p.maxMs.toFixed(0)}); ` +
        `delta ${(p.deltaBytes / 1024).toFixed(0)} KiB encoded, ${p.walMiB.toFixed(0)} MiB of WAL`,
    ]);
  }
  rows.push([
    'PostgreSQL server',
    'the same checkpoint: `npm run bench -- postgres --clicks 1e5,1e6,1e7` (its section)',
  ]);
  return {
    name: `state: PGlite checkpoint of a fixed delta as the state grows (${points.map((p) => fmt(p.clicks)).join(' → ')} clicks)`,
    figures,
    rows,
  };
}

interface RestartChildResult {
  openMs: number;
  heapUsedMiB: number;
  maxRssMiB: number;
  heapLimitMiB: number;
}

async function pgliteRestart(dataDir: string, clicks: number, p: PglitePoint): Promise<BenchResult> {
  const heapMiB = Math.min(16_384, Math.floor((totalmem() / MiB) * 0.5));
  LOG(`PGlite restart over ${fmt(clicks)} clicks in a child process (--max-old-space-size=${heapMiB})…`);
  const r = await runChild(['restart', dataDir], heapMiB);
  const name = `state: restart from a PGlite checkpoint with ${fmt(clicks)} clicks of state`;
  const rows: Array<[string, string]> = [
    [
      'state',
      `${fmt(clicks)} clicks in ${fmt(p.stateRows)} state rows (${(p.stateBytes / MiB).toFixed(0)} MiB in PGlite)`,
    ],
  ];
  if ('error' in r) {
    rows.push(['Runtime.open()', `failed: ${r.error}`]);
    return { name, figures: { clicks }, rows };
  }
  const c = r as unknown as RestartChildResult;
  rows.push(
    [
      'Runtime.open() of the attribution pipeline (load + restore), s',
      `**${(c.openMs / 1000).toFixed(1)}** (${fmt(p.stateRows / (c.openMs / 1000))} rows/s); target ≤ 5 s: ${(c.openMs / 5000).toFixed(0)}× over`,
    ],
    [
      'after open(): heap used, peak RSS',
      `${c.heapUsedMiB.toFixed(0)} MiB, ${c.maxRssMiB.toFixed(0)} MiB (heap limit ${c.heapLimitMiB.toFixed(0)} MiB)`,
    ],
    ['PostgreSQL server', 'the same restart: `npm run bench -- postgres --clicks 1e5,1e6,1e7` (its section)'],
  );
  return {
    name,
    figures: {
      clicks,
      state_rows: p.stateRows,
      open_s: c.openMs / 1000,
      open_heap_used_mib: c.heapUsedMiB,
      open_max_rss_mib: c.maxRssMiB,
    },
    rows,
  };
}

async function restartChild(dataDir: string): Promise<RestartChildResult> {
  const db = await openPgliteDatabase(dataDir, { migrations: outputMigrations(SCHEMA), schema: SCHEMA });
  try {
    const committer = new SqlCommitter(db, { schema: SCHEMA, job: JOB, sinks: SINK_TABLES });
    const runtime = new Runtime(attributionPipeline(new MemorySource<string>({ bounded: false })), {
      committer,
      clock: preciseClock,
    });
    const t1 = performance.now();
    await runtime.open();
    const openMs = performance.now() - t1;
    const { heap } = settledMemory();
    const { default: v8 } = await import('node:v8');
    return {
      openMs,
      heapUsedMiB: heap / MiB,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      heapLimitMiB: v8.getHeapStatistics().heap_size_limit / MiB,
    };
  } finally {
    await db.close();
  }
}

// ---- child processes ----------------------------------------------------------------------------

const CHILD_FLAG = '--state-bench-child';

function runChild(args: string[], heapMiB: number): Promise<Record<string, unknown>> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', `--max-old-space-size=${heapMiB}`, fileURLToPath(import.meta.url), CHILD_FLAG, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
    for (const line of String(d).split('\n')) if (line.startsWith('[state]')) process.stderr.write(`${line}\n`);
  });
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line.startsWith('{')) return resolve(JSON.parse(line) as Record<string, unknown>);
      resolve({ error: `exit ${code ?? signal}: ${err.trim().split('\n').slice(-3).join(' ')}` });
    });
  });
}

if (process.argv[2] === CHILD_FLAG) {
  const [mode, a, b] = process.argv.slice(3);
  const result = mode === 'memory' ? await memoryChild(Number(a), Number(b)) : await restartChild(a as string);
  console.log(JSON.stringify(result));
}
