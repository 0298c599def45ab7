/**
 * State (issue 6, item 7): what the attribution state costs as it grows.
 *
 * 1. **memory per click**: the real attribution pipeline (in memory, no I/O) over generated
 *    events pulled one poll at a time (never all in memory), until the state holds N clicks
 *    (1 M, 10 M by default); a lookback of 24 h, so that none is dropped. Heap used and RSS
 *    after a full GC, minus the same figures before the first event, divided by the clicks
 *    held. Each size runs in a fresh worker process (bench/support/workers/state-memory.ts).
 * 2. **engine checkpoint vs state size**: in the same child, then a fixed delta of
 *    {@link DELTA_EVENTS} more events and a checkpoint, several times: its duration (taking the
 *    changes + encoding the snapshot, the runtime's own `flowmark_checkpoint_duration_seconds`)
 *    and the bytes of the encoded delta. Incremental means both stay flat as the state grows.
 * 3. **PGlite checkpoint vs state size**: the embedded database's `state` table filled (by SQL,
 *    in the exact shape the committer writes) to each size, then the same fixed incremental
 *    checkpoint as the postgres suite commits into a server (10 k changed click keys + 1 k
 *    sink rows) through `SqlCommitter.commit`. The server's figures are that benchmark's
 *    (`npm run bench -- postgres`), not repeated here.
 * 4. **restart** from PGlite at the largest size: `Runtime.open()` of the attribution pipeline
 *    in a fresh worker process (no separate read-only pass: at 300 k clicks `load()` with every
 *    entry read took as long as the whole `open()`, and at 10 M each pass takes minutes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { outputMigrations } from '../../src/attribution/output-schema.ts';
import { openPgliteDatabase } from '../../src/connectors/pglite/index.ts';
import { runChildOrThrow, workerScript } from '../support/child-process.ts';
import { type BenchResult, fmt, median } from '../support/report.ts';
import { measureRestart, type RestartResult } from '../support/restart.ts';
import { DELTA, DELTA_EVENTS } from '../support/state-data.ts';
import { type SizePoint, SyntheticCheckpoints } from '../support/synthetic-checkpoints.ts';
import type { MemoryPoint } from '../support/workers/state-memory.ts';

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
const SCHEMA = 'flowmark';
const MiB = 2 ** 20;

export async function stateBenchmarks(o: StateBenchOptions): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  if (o.parts.includes('memory')) {
    const memory: MemoryPoint[] = [];
    for (const clicks of o.clicks) {
      // About 500 B of heap per click today, plus room to collect garbage.
      const heapMiB = Math.max(2048, Math.ceil((clicks * 1000) / MiB));
      LOG(`memory: building ${fmt(clicks)} clicks of live state in a child process (--max-old-space-size=${heapMiB})…`);
      const r = await runChildOrThrow<MemoryPoint>(
        `state bench: the memory child for ${clicks} clicks`,
        workerScript('state-memory.ts'),
        [String(clicks), String(o.reps)],
        { nodeFlags: ['--expose-gc', `--max-old-space-size=${heapMiB}`], forward: '[state]' },
      );
      memory.push(r);
      LOG(`memory at ${fmt(clicks)} clicks: ${JSON.stringify(r)}`);
    }
    results.push(memoryResult(memory), engineCheckpointResult(memory));
  }
  if (o.parts.includes('pglite')) results.push(...(await pgliteBenchmarks(o)));
  return results;
}

// ---- 1 + 2: live state in a worker process ---------------------------------------------------

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

async function pgliteBenchmarks(o: StateBenchOptions): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-state-'));
  const dataDir = join(dir, 'data');
  try {
    const sizes = [...new Set([100_000, ...o.clicks])].sort((a, b) => a - b);
    const db = await openPgliteDatabase(dataDir, { migrations: outputMigrations(SCHEMA), schema: SCHEMA });
    const points: SizePoint[] = [];
    let buildS = 0;
    let clicks = 0;
    try {
      const s = await SyntheticCheckpoints.start(db, SCHEMA, (line) => LOG(`PGlite: ${line}`));
      for (const target of sizes) {
        const t0 = performance.now();
        await s.growBySql(target);
        buildS += (performance.now() - t0) / 1000;
        await s.settle();
        // The same checkpoint as the postgres benchmark: updated, new and deleted keys at random
        // over the whole state, and the sink rows of the interval.
        const p = await s.measure(o.reps);
        points.push(p);
        LOG(`PGlite checkpoint at ${fmt(p.clicks)} clicks: ${p.ms.map((m) => m.toFixed(0)).join(', ')} ms`);
      }
      clicks = s.clicks;
    } finally {
      await db.close();
    }
    const restart = await pgliteRestart(dataDir, clicks, points.at(-1) as SizePoint);
    return [pgliteCheckpointResult(points, buildS, o.reps), restart];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pgliteCheckpointResult(points: SizePoint[], buildS: number, reps: number): BenchResult {
  const base = points[0] as SizePoint;
  const last = points.at(-1) as SizePoint;
  const figures: Record<string, number> = {
    build_s: buildS,
    reps,
    delta_state_changes: DELTA.updates + DELTA.inserts + DELTA.deletes,
    delta_sink_rows: DELTA.sinkRows,
    checkpoint_ratio_largest_to_smallest: median(last.ms) / median(base.ms),
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
    const ms = median(p.ms);
    const walMiB = median(p.walBytes) / MiB;
    figures[`checkpoint_ms_${tag}`] = ms;
    figures[`checkpoint_ratio_${tag}`] = ms / median(base.ms);
    figures[`delta_bytes_${tag}`] = p.deltaBytes;
    figures[`wal_mib_${tag}`] = walMiB;
    figures[`state_bytes_${tag}`] = p.stateBytes;
    rows.push([
      `checkpoint with ${fmt(p.clicks)} clicks in PGlite (${fmt(p.stateRows)} rows, ${(p.stateBytes / MiB).toFixed(0)} MiB with indexes)`,
      `${(ms / median(base.ms)).toFixed(2)}× the first size: ${ms.toFixed(0)} ms median (${Math.min(...p.ms).toFixed(0)}–${Math.max(...p.ms).toFixed(0)}); ` +
        `delta ${(p.deltaBytes / 1024).toFixed(0)} KiB encoded, ${walMiB.toFixed(0)} MiB of WAL`,
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

async function pgliteRestart(dataDir: string, clicks: number, p: SizePoint): Promise<BenchResult> {
  const heapMiB = Math.min(16_384, Math.floor((totalmem() / MiB) * 0.5));
  LOG(`PGlite restart over ${fmt(clicks)} clicks in a child process (--max-old-space-size=${heapMiB})…`);
  const r = await measureRestart({ pgliteDir: dataDir, schema: SCHEMA }, 'open', heapMiB);
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
  const c = r as RestartResult & { openMs: number };
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
