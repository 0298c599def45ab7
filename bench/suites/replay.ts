/**
 * Replay throughput (issue 6, item 3): `flowmark replay` over ≥ 5 M generated events (5 % out
 * of order by ≤ 5 s), next to the ceiling measured on the same lines in the same run: reading
 * the file and `JSON.parse` of every line, nothing else. Each variant runs in a child process of
 * its own (`support/workers/replay-variant.ts`), so that the peak RSS reported is that variant's alone;
 * rounds alternate the variants and the median time (measured inside the child, around the
 * work only) is kept.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChildOrThrow, workerScript } from '../support/child-process.ts';
import { writeDataSet } from '../support/data-sets.ts';
import { type BenchResult, fmt, fmtCount, median, pct } from '../support/report.ts';

const ROUNDS = 2;
const CHILD = workerScript('replay-variant.ts');

interface ChildResult {
  seconds: number;
  events: number;
  maxRssKiB: number;
}

function runChild(variant: 'parse' | 'replay', args: string[]): Promise<ChildResult> {
  return runChildOrThrow<ChildResult>(`the replay benchmark's ${variant} process`, CHILD, [variant, ...args]);
}

export async function replayBenchmarks(n: number): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-replay-'));
  try {
    const ds = writeDataSet(dir, n, { disorder: 0.05, maxDisorderMs: 5000 });
    const args = [ds.events, ds.users, ds.products, dir];
    const runs: Record<'parse' | 'replay', ChildResult[]> = { parse: [], replay: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const v of ['parse', 'replay'] as const) runs[v].push(await runChild(v, args));
    }
    const parsed = runs.parse[0]?.events ?? 0;
    if (parsed !== n) throw new Error(`the parse variant parsed ${parsed} lines of ${n}`);
    const parseSecs = median(runs.parse.map((x) => x.seconds));
    const replaySecs = median(runs.replay.map((x) => x.seconds));
    const parseRate = n / parseSecs;
    const replayRate = n / replaySecs;
    const rssMiB = (v: 'parse' | 'replay') => Math.max(...runs[v].map((x) => x.maxRssKiB)) / 1024;
    const rows = readFileSync(join(dir, 'out.jsonl'), 'utf8').split('\n').length - 1;
    return [
      {
        name: `replay: flowmark replay of ${fmt(n)} generated events vs JSON.parse alone`,
        figures: {
          events: n,
          bytes: ds.bytes,
          parse_events_per_s: parseRate,
          parse_mb_per_s: ds.bytes / 1e6 / parseSecs,
          events_per_s: replayRate,
          ratio_to_parse: replayRate / parseRate,
          rows_written: rows,
          peak_rss_mib: rssMiB('replay'),
          parse_peak_rss_mib: rssMiB('parse'),
        },
        rows: [
          ['events (bytes)', `${fmt(n)} (${(ds.bytes / 2 ** 20).toFixed(0)} MiB), 5 % out of order by ≤ 5 s`],
          ['method', `each variant in a child process of its own; ${ROUNDS} rounds alternating, median`],
          [
            'JSON.parse alone (read in 4 MiB chunks + split + parse), events/s',
            `${fmt(parseRate)} (${(ds.bytes / 1e6 / parseSecs).toFixed(0)} MB/s)`,
          ],
          ['flowmark replay, events/s', fmt(replayRate)],
          ['replay / JSON.parse ceiling', pct(replayRate, parseRate)],
          ['checkouts written', fmtCount(rows)],
          ['peak RSS of the replay process', `${rssMiB('replay').toFixed(0)} MiB`],
          ['peak RSS of the JSON.parse process', `${rssMiB('parse').toFixed(0)} MiB`],
        ],
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
