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
 * 3. **PGlite checkpoint vs state size**: the attribution's `clicks` time-bucketed table filled
 *    with the website simulator's clicks up to each size and committed into the embedded
 *    database's `state_chunks` as the live pipeline does, one chunk per checkpoint through
 *    `SqlCommitter.commit` (bench/support/chunked-checkpoints.ts; one chunk per `chunkMs` of event
 *    time, the first of `--chunk-ms`), then the same fixed incremental checkpoint as the postgres
 *    suite commits into a server (a chunk of 10 k new clicks + 1 k sink rows): its duration, its
 *    chunk's bytes and the WAL written. Incremental means flat from the smallest size to the
 *    largest. The server's figures are that benchmark's (`npm run bench -- postgres`).
 * 4. **restart** from PGlite at the largest size: `Runtime.open()` of the attribution pipeline in
 *    a fresh worker process with Node's default heap, its time, peak RSS and the state entries it
 *    restored (checked against the clicks committed); again over the same clicks cut into each
 *    other chunk layout of `--chunk-ms` (few large chunks vs many small ones).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { outputMigrations } from '../../src/attribution/output-schema.ts';
import { openPgliteDatabase } from '../../src/connectors/pglite/index.ts';
import { runChildOrThrow, workerScript } from '../support/child-process.ts';
import {
  ChunkedCheckpoints,
  type ChunkLayout,
  DELTA,
  layoutName,
  type SizePoint,
  storedChunks,
} from '../support/chunked-checkpoints.ts';
import { type BenchResult, fmt, fmtCount, median } from '../support/report.ts';
import { type LayoutRestart, measureRestart, restartRows } from '../support/restart.ts';
import { DELTA_EVENTS } from '../support/state-data.ts';
import type { MemoryPoint } from '../support/workers/state-memory.ts';

export const DEFAULT_STATE_CLICKS = [1_000_000, 10_000_000];

export interface StateBenchOptions {
  /** State sizes (clicks), increasing; the restart is measured at the largest. */
  clicks: number[];
  /** Timed checkpoints per size (after one untimed warm-up). */
  reps: number;
  /**
   * PGlite: event time per chunk (ms) of each chunk layout; the first is the layout of the
   * checkpoint figures, each gets a restart at the largest size.
   */
  chunkMs: number[];
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
        'lookback 24 h so that no click is dropped; heap used + array buffers (the typed arrays of the time-bucketed tables) and RSS after a full GC, minus before the first event',
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
        `**${perHeap.toFixed(0)} B of heap + array buffers per click** (${(p.heapBytes / MiB).toFixed(0)} MiB), ` +
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
  const [main, ...others] = o.chunkMs.map((chunkMs): ChunkLayout => ({ chunkMs }));
  const largest = o.clicks.at(-1) as number;
  // The clicks' rate is set by the largest state (+ the measured chunks): they span 50 minutes.
  const maxClicks = largest + o.clicks.length * (o.reps + 1) * DELTA.clicks;
  const points: SizePoint[] = [];
  const restarts: LayoutRestart[] = [];
  let mainBuild = { generateS: 0, commitS: 0, settleS: 0, checkpoints: 0 };
  for (const layout of [main as ChunkLayout, ...others]) {
    const measured = layout === main;
    const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-state-'));
    const dataDir = join(dir, 'data');
    const log = (line: string) => LOG(`PGlite, ${layoutName(layout)}: ${line}`);
    try {
      const db = await openPgliteDatabase(dataDir, { migrations: outputMigrations(SCHEMA), schema: SCHEMA });
      let clicks = 0;
      let stored: LayoutRestart['stored'];
      try {
        const s = await ChunkedCheckpoints.start(db, SCHEMA, layout, maxClicks, log);
        let settleS = 0;
        // The other layouts hold the same clicks as the measured one (the same simulator, seed and
        // rate), built straight to its final size: only their restart is measured.
        const targets = measured ? o.clicks : [(restarts[0] as LayoutRestart).clicks];
        for (const target of targets) {
          await s.growTo(target);
          settleS += await s.settle();
          if (!measured) continue;
          // The fixed checkpoint: a chunk of new clicks and the sink rows of the interval.
          const p = await s.measure(o.reps);
          points.push(p);
          log(`checkpoint at ${fmt(p.clicks)} clicks: ${p.ms.map((m) => m.toFixed(0)).join(', ')} ms`);
        }
        if (measured) {
          mainBuild = { generateS: s.generateS, commitS: s.commitS, settleS, checkpoints: s.checkpoints };
        }
        clicks = s.clicks;
        stored = await storedChunks(db, SCHEMA);
      } finally {
        await db.close();
      }
      log(
        `restart over ${fmt(clicks)} clicks in ${fmtCount(stored.chunks)} chunks, in a child process (Node's default heap)…`,
      );
      const r = await measureRestart({ pgliteDir: dataDir, schema: SCHEMA }, 'open', undefined);
      log('error' in r ? `restart failed: ${r.error}` : `restart: ${JSON.stringify(r)}`);
      restarts.push({ layout, clicks, stored, r });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return [pgliteCheckpointResult(points, main as ChunkLayout, mainBuild, o.reps), pgliteRestartResult(restarts)];
}

const tagOf = (clicks: number) => (clicks >= 1e6 && clicks % 1e5 === 0 ? `${clicks / 1e6}m` : String(clicks));

function pgliteCheckpointResult(
  points: SizePoint[],
  layout: ChunkLayout,
  build: { generateS: number; commitS: number; settleS: number; checkpoints: number },
  reps: number,
): BenchResult {
  const base = points[0] as SizePoint;
  const last = points.at(-1) as SizePoint;
  const figures: Record<string, number> = {
    generate_s: build.generateS,
    build_commit_s: build.commitS,
    build_checkpoints: build.checkpoints,
    chunk_ms: layout.chunkMs,
    reps,
    delta_clicks: DELTA.clicks,
    delta_sink_rows: DELTA.sinkRows,
    checkpoint_ratio_largest_to_smallest: median(last.ms) / median(base.ms),
  };
  const rows: Array<[string, string]> = [
    [
      'state',
      `the attribution's clicks table (its own declaration), filled with the website simulator's clicks over the 50 min before the watermark, ` +
        `committed through SqlCommitter.commit as checkpoints of one chunk each, ${layoutName(layout)}; nothing expired`,
    ],
    [
      'state built',
      `${fmtCount(build.checkpoints)} checkpoints: ${build.generateS.toFixed(0)} s generating and inserting clicks, ${build.commitS.toFixed(0)} s committing; ` +
        `ANALYZE + CHECKPOINT per size (${build.settleS.toFixed(0)} s)`,
    ],
    [
      'the measured checkpoint (the same as the postgres benchmark)',
      `a chunk of ${fmt(DELTA.clicks)} new clicks + ${fmt(DELTA.sinkRows)} attributed_checkouts rows through SqlCommitter.commit; median of ${reps} after a warm-up`,
    ],
  ];
  for (const p of points) {
    const tag = tagOf(p.clicks);
    const ms = median(p.ms);
    const walMiB = median(p.walBytes) / MiB;
    figures[`checkpoint_ms_${tag}`] = ms;
    figures[`checkpoint_ratio_${tag}`] = ms / median(base.ms);
    figures[`chunk_bytes_${tag}`] = median(p.deltaBytes);
    figures[`wal_mib_${tag}`] = walMiB;
    figures[`state_chunks_${tag}`] = p.chunks;
    figures[`state_chunk_bytes_${tag}`] = p.chunkBytes;
    figures[`state_bytes_${tag}`] = p.tableBytes;
    rows.push([
      `checkpoint with ${fmt(p.clicks)} clicks in PGlite (${fmtCount(p.chunks)} chunks, ${(p.chunkBytes / MiB).toFixed(0)} MiB; ${(p.tableBytes / MiB).toFixed(0)} MiB with indexes)`,
      `${(ms / median(base.ms)).toFixed(2)}× the first size: ${ms.toFixed(0)} ms median (${Math.min(...p.ms).toFixed(0)}–${Math.max(...p.ms).toFixed(0)}); ` +
        `chunk ${(median(p.deltaBytes) / 1024).toFixed(0)} KiB, ${walMiB.toFixed(1)} MiB of WAL`,
    ]);
  }
  rows.push(['PostgreSQL server', 'the same checkpoint: `npm run bench -- postgres --clicks 1e6,1e7` (its section)']);
  return {
    name: `state: PGlite checkpoint of a fixed chunk as the state grows (${points.map((p) => fmt(p.clicks)).join(' → ')} clicks)`,
    figures,
    rows,
  };
}

function pgliteRestartResult(restarts: readonly LayoutRestart[]): BenchResult {
  const first = restarts[0] as LayoutRestart;
  const { figures, rows } = restartRows(restarts);
  return {
    name: `state: restart from a PGlite checkpoint with ${fmt(first.clicks)} clicks of state`,
    figures,
    rows: [
      [
        'how',
        "Runtime.open() of the attribution pipeline over the chunks of the checkpoint benchmark's largest state (and of the same clicks cut into other chunk layouts), each in a fresh child process with Node's default heap",
      ],
      ...rows,
      ['PostgreSQL server', 'the same restart: `npm run bench -- postgres --clicks 1e6,1e7` (its section)'],
    ],
  };
}
