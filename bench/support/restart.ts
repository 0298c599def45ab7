/**
 * Restarts measured in a worker process of their own (bench/support/workers/restart.ts): the
 * postgres suite's `SqlCommitter.load()` and `Runtime.open()` from a server, the state suite's
 * `Runtime.open()` from PGlite, each over the chunks of bench/support/chunked-checkpoints.ts.
 */
import { totalmem } from 'node:os';
import { runChild, workerScript } from './child-process.ts';
import { type ChunkLayout, layoutName } from './chunked-checkpoints.ts';
import { fmt, fmtCount } from './report.ts';

const MiB = 2 ** 20;

/** The share of the heap limit at which a restart worker gives up (see its watchdog). */
export const HEAP_STOP = 0.92;
/** The exit code of a worker stopped by the heap watchdog. */
export const HEAP_STOP_EXIT = 3;

export interface RestartResult {
  mode: 'load' | 'open';
  /** load: JSON state entries and chunks yielded by load(), the chunks' bytes; the reference's rows and time. */
  entries?: number;
  chunks?: number;
  chunkBytes?: number;
  rawReadMs?: number;
  rawReadRows?: number;
  /** load: load() and the iteration of every entry it yields. */
  loadMs?: number;
  /** open: Runtime.open(), load and restore into the state tables. */
  openMs?: number;
  /** open: peak RSS before Runtime.open() (the database client opened, nothing restored). */
  maxRssBeforeOpenMiB?: number;
  /** open: state entries held after open() (every step), and those of the clicks' step. */
  stateEntries?: number;
  clickNodeEntries?: number;
  /** Garbage collection during the step, s. */
  gcSeconds: number;
  heapUsedMiB: number;
  rssMiB: number;
  maxRssMiB: number;
  heapLimitMiB: number;
}

export interface RestartFailure {
  error: string;
  /** It did not fit in the heap (stopped by the watchdog, or out of memory). */
  oom: boolean;
  seconds: number;
}

/** Where the checkpoint is: a server (its URL) or PGlite (its data directory), and the schema. */
export type RestartFrom = { url: string; schema: string } | { pgliteDir: string; schema: string };

/**
 * Runs one restart `mode` in a fresh worker with `--max-old-space-size=heapMiB` (undefined:
 * Node's default), and tells `log` what it does and what came of it.
 */
export async function measureRestart(
  from: RestartFrom,
  mode: 'load' | 'open',
  heapMiB: number | undefined,
  log: (line: string) => void = () => undefined,
): Promise<RestartResult | RestartFailure> {
  log(
    `restart (${mode}) in a child process (${heapMiB === undefined ? "Node's default heap" : `--max-old-space-size=${heapMiB}`})…`,
  );
  const r = await runRestart(from, mode, heapMiB);
  log('error' in r ? `restart (${mode}) failed: ${r.error}` : `restart (${mode}): ${JSON.stringify(r)}`);
  return r;
}

async function runRestart(
  from: RestartFrom,
  mode: 'load' | 'open',
  heapMiB: number | undefined,
): Promise<RestartResult | RestartFailure> {
  const nodeFlags = ['--expose-gc', ...(heapMiB === undefined ? [] : [`--max-old-space-size=${heapMiB}`])];
  const args = 'url' in from ? ['pg', from.schema, mode] : ['pglite', from.schema, mode, from.pgliteDir];
  const env = 'url' in from ? { ...process.env, FM_BENCH_PG_URL: from.url } : process.env;
  const r = await runChild<RestartResult>(workerScript('restart.ts'), args, { nodeFlags, env, forward: '[restart]' });
  if (r.ok) return r.result;
  if (r.code === HEAP_STOP_EXIT && r.lastLine.startsWith('{')) {
    const h = JSON.parse(r.lastLine) as { heapUsedMiB: number; heapLimitMiB: number; seconds: number };
    return {
      oom: true,
      seconds: r.seconds,
      error:
        `does not fit in a ${h.heapLimitMiB.toFixed(0)} MiB heap: stopped after ${h.seconds.toFixed(0)} s with ` +
        `${h.heapUsedMiB.toFixed(0)} MiB used (${HEAP_STOP * 100} % of the limit; beyond it V8 collects garbage for minutes, then dies)`,
    };
  }
  return {
    oom: r.oom,
    seconds: r.seconds,
    error: r.oom
      ? `ran out of heap after ${r.seconds.toFixed(0)} s (JavaScript heap out of memory)`
      : `exit ${r.code ?? r.signal} after ${r.seconds.toFixed(0)} s: ${r.stderrTail}`,
  };
}

/**
 * `open` with `heapMiB`; when it runs out of Node's default heap (no `heapMiB`), again with half
 * the machine's memory. `firstOpen` is the first attempt, `retried` whether there was a second.
 */
export async function measureOpenRetrying(
  from: RestartFrom,
  heapMiB: number | undefined,
  log: (line: string) => void,
): Promise<{
  open: RestartResult | RestartFailure;
  firstOpen: RestartResult | RestartFailure;
  retried: boolean;
  retryHeapMiB: number;
}> {
  const firstOpen = await measureRestart(from, 'open', heapMiB, log);
  const retryHeapMiB = Math.floor((totalmem() / 2 ** 20) * 0.5);
  const retried = 'error' in firstOpen && firstOpen.oom && heapMiB === undefined;
  const open = retried ? await measureRestart(from, 'open', retryHeapMiB, log) : firstOpen;
  return { open, firstOpen, retried, retryHeapMiB };
}

/** A restart (`Runtime.open()`) measured over the clicks committed in one chunk layout. */
export interface LayoutRestart {
  layout: ChunkLayout;
  clicks: number;
  stored: { chunks: number; chunkBytes: number; tableBytes: number };
  r: RestartResult | RestartFailure;
}

/** The rows and figures of restarts over the chunk layouts: the first layout's figures unsuffixed. */
export function restartRows(restarts: readonly LayoutRestart[]): {
  figures: Record<string, number>;
  rows: Array<[string, string]>;
} {
  const figures: Record<string, number> = {};
  const rows: Array<[string, string]> = [];
  for (const [i, { layout, clicks, stored, r }] of restarts.entries()) {
    const sfx = i === 0 ? '' : `_chunk_ms_${layout.chunkMs}`;
    figures[`clicks${sfx}`] = clicks;
    figures[`state_chunks${sfx}`] = stored.chunks;
    figures[`state_chunk_bytes${sfx}`] = stored.chunkBytes;
    const what = `${fmt(clicks)} clicks in ${fmtCount(stored.chunks)} chunks of ${(stored.chunkBytes / MiB).toFixed(0)} MiB (${layoutName(layout)})`;
    if ('error' in r) {
      rows.push([`Runtime.open(), ${what}`, `failed: ${r.error}`]);
      continue;
    }
    const openMs = r.openMs as number;
    const entries = r.stateEntries as number;
    Object.assign(figures, {
      [`open_s${sfx}`]: openMs / 1000,
      [`open_heap_used_mib${sfx}`]: r.heapUsedMiB,
      [`open_max_rss_mib${sfx}`]: r.maxRssMiB,
      [`open_max_rss_before_mib${sfx}`]: r.maxRssBeforeOpenMiB ?? 0,
      [`open_gc_s${sfx}`]: r.gcSeconds,
      [`restored_entries${sfx}`]: entries,
    });
    rows.push(
      [
        `Runtime.open() of the attribution pipeline, ${what}, s`,
        `**${(openMs / 1000).toFixed(1)}** (${fmt(clicks / (openMs / 1000))} clicks/s); target ≤ 5 s` +
          (openMs > 5000 ? `: ${(openMs / 5000).toFixed(1)}× over` : ': met'),
      ],
      [
        '  entries restored (every step; all are clicks)',
        entries === clicks ? `${fmt(entries)} = the clicks committed` : `**MISMATCH**: ${entries}, expected ${clicks}`,
      ],
      [
        '  after open(): heap used, peak RSS; GC during open()',
        `${r.heapUsedMiB.toFixed(0)} MiB, **${r.maxRssMiB.toFixed(0)} MiB** (${(r.maxRssBeforeOpenMiB ?? 0).toFixed(0)} MiB before open(), the database client opened; ` +
          `heap limit ${r.heapLimitMiB.toFixed(0)} MiB); GC ${r.gcSeconds.toFixed(1)} s`,
      ],
    );
  }
  return { figures, rows };
}
