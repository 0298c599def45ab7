/**
 * Replay throughput: `flowmark replay` (in process) over a generated data set, next to the
 * ceiling measured on the same lines in the same run: reading the file and `JSON.parse` of every
 * line, nothing else.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchResult, fmt, replayDataSet, sideBySide, writeDataSet } from './bench-lib.ts';

export async function replayBenchmarks(n: number): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-replay-'));
  try {
    const ds = writeDataSet(dir, n, { disorder: 0.05, maxDisorderMs: 5000 });
    const { events, bytes } = ds;

    const t = await sideBySide(
      {
        parse: () => () => {
          let parsed = 0;
          for (const line of readFileSync(events, 'utf8').split('\n')) {
            if (line.length === 0) continue;
            JSON.parse(line);
            parsed++;
          }
          return parsed;
        },
        replay: () => async () => {
          await replayDataSet(ds, dir);
          return n;
        },
      },
      2,
    );
    const parseRate = n / (t.seconds.parse as number);
    const replayRate = n / (t.seconds.replay as number);
    const rows = readFileSync(join(dir, 'out.jsonl'), 'utf8').split('\n').length - 1;
    const rssMiB = process.resourceUsage().maxRSS / 1024;
    return [
      {
        name: `replay: flowmark replay of ${fmt(n)} generated events vs JSON.parse alone`,
        figures: {
          events: n,
          bytes,
          parse_events_per_s: parseRate,
          parse_mb_per_s: bytes / 1e6 / (t.seconds.parse as number),
          events_per_s: replayRate,
          ratio_to_parse: replayRate / parseRate,
          rows_written: rows,
          peak_rss_mib: rssMiB,
        },
        rows: [
          ['events (bytes)', `${fmt(n)} (${(bytes / 2 ** 20).toFixed(0)} MiB)`],
          [
            'JSON.parse alone (read + split + parse), events/s',
            `${fmt(parseRate)} (${(bytes / 1e6 / (t.seconds.parse as number)).toFixed(0)} MB/s)`,
          ],
          ['flowmark replay, events/s', fmt(replayRate)],
          ['replay / JSON.parse ceiling', `${((replayRate / parseRate) * 100).toFixed(0)} %`],
          ['checkouts written', fmt(rows)],
          ['peak RSS of the bench process (both variants)', `${rssMiB.toFixed(0)} MiB`],
        ],
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
