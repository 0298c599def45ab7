/**
 * Lookback (issue 18): a long lookback with the clicks beyond a memory budget on local disk.
 *
 * A simulated month of clicks (`clicks`, evenly over 30 days of event time: 259 M at 100
 * clicks/s; the default is small, `--events` scales it) through the attribution's access pattern on
 * its `clicks` table (bench/support/workers/lookback-variant.ts), each variant in a process of its
 * own:
 * 1. **30-day lookback, memory budget** (`--budget-mib`, default 64): peak heap (+ array buffers,
 *    over the process's own before the first click) and RSS against the budget, events/s, the p99 of a checkout's look-up that found its click
 *    on disk (and of every look-up);
 * 2. **1 h lookback, all in memory**, the same data: events/s, the reference of the ratio;
 * 3. **restart** of variant 1: a fresh process reads the chunk files and restores, reusing the
 *    local store the run left: its time, the segments reused and the chunks not decoded.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChildOrThrow, workerScript } from '../support/child-process.ts';
import { type BenchResult, fmt, fmtCount } from '../support/report.ts';
import type { LookbackRestartResult, LookbackRunResult, LookbackVariant } from '../support/workers/lookback-variant.ts';

export const DEFAULT_LOOKBACK_CLICKS = 300_000;
const DAY = 86_400_000;

export interface LookbackBenchOptions {
  clicks: number;
  budgetMiB: number;
}

export async function lookbackBenchmarks(o: LookbackBenchOptions): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fm-bench-lookback-'));
  try {
    const base = {
      clicks: o.clicks,
      spanMs: 30 * DAY,
      checkoutEvery: 20,
      // A checkpoint per 2.5 s of a 100 clicks/s shop; at least 1 000 clicks.
      checkpointEvery: Math.max(1000, Math.floor(o.clicks / 10_000)),
    };
    const script = workerScript('lookback-variant.ts');
    const run = (v: LookbackVariant) =>
      runChildOrThrow<LookbackRunResult>(`lookback ${v.lookbackMs / DAY} d`, script, [JSON.stringify(v)], {
        nodeFlags: ['--expose-gc'],
        forward: '[lookback]',
      });
    const long: LookbackVariant = {
      ...base,
      phase: 'run',
      lookbackMs: 30 * DAY,
      budgetBytes: o.budgetMiB * 2 ** 20,
      dir: join(dir, 'long'),
    };
    const longRun = await run(long);
    const restart = await runChildOrThrow<LookbackRestartResult>('lookback restart', script, [
      JSON.stringify({ ...long, phase: 'restart' }),
    ]);
    const shortRun = await run({
      ...base,
      phase: 'run',
      lookbackMs: 3_600_000,
      budgetBytes: null,
      dir: join(dir, 'short'),
    });
    return [
      {
        name: `lookback: a month of clicks (${fmtCount(o.clicks)}), 30 d lookback, budget ${o.budgetMiB} MiB, vs 1 h in memory`,
        figures: {
          clicks: o.clicks,
          budgetMiB: o.budgetMiB,
          peakHeapMiB: longRun.peakHeapMiB,
          peakRssMiB: longRun.peakRssMiB,
          peakTableMiB: longRun.peakTableMiB,
          peakLiveHeapMiB: longRun.peakLiveHeapMiB,
          eventsPerS: longRun.eventsPerS,
          eventsPerS1h: shortRun.eventsPerS,
          ratioTo1h: longRun.eventsPerS / shortRun.eventsPerS,
          p99ColdLookupUs: longRun.p99ColdLookupUs,
          p99LookupUs: longRun.p99LookupUs,
          coldLookups: longRun.coldLookups,
          segments: longRun.segments,
          restartS: restart.restartS,
          reusedSegments: restart.reusedSegments,
          chunksSkipped: restart.chunksSkipped,
        },
        rows: [
          ['clicks held at the end (30 d)', fmtCount(longRun.stateEntries)],
          [
            'peak heap + array buffers over baseline / RSS',
            `${longRun.peakHeapMiB.toFixed(1)} / ${longRun.peakRssMiB.toFixed(0)} MiB (budget ${o.budgetMiB} MiB; baseline heap ${longRun.baselineHeapMiB.toFixed(0)} MiB)`,
          ],
          ["peak state in memory (the table's measure)", `${longRun.peakTableMiB.toFixed(1)} MiB`],
          ['peak live heap (after a full GC, every 100 k clicks)', `${longRun.peakLiveHeapMiB.toFixed(1)} MiB`],
          ['segments on disk at the end', fmtCount(longRun.segments)],
          ['events/s, 30 d + budget', fmt(longRun.eventsPerS)],
          ['events/s, 1 h in memory (same data)', fmt(shortRun.eventsPerS)],
          ['ratio 30 d / 1 h', `${((longRun.eventsPerS / shortRun.eventsPerS) * 100).toFixed(0)} %`],
          [
            'p99 look-up finding its click on disk',
            `${longRun.p99ColdLookupUs.toFixed(0)} µs (${fmtCount(longRun.coldLookups)} of ${fmtCount(longRun.checkouts)})`,
          ],
          ['p99 look-up, all', `${longRun.p99LookupUs.toFixed(0)} µs`],
          [
            'restart (read chunk files + restore)',
            `${restart.restartS.toFixed(2)} s, ${restart.chunks} chunks (${restart.chunkMiB.toFixed(1)} MiB)`,
          ],
          ['  segments reused / chunks not decoded', `${restart.reusedSegments} / ${restart.chunksSkipped}`],
          ['  entries restored, peak RSS', `${fmtCount(restart.stateEntries)}, ${restart.peakRssMiB.toFixed(0)} MiB`],
        ],
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
