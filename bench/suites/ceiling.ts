/**
 * The ceiling of replay (issue 6): on the same generated lines, in the same run,
 *
 * - `JSON.parse` alone over every line (read + split + parse, nothing else);
 * - a hand-written single loop doing parse + first-click attribution with a plain Map: per
 *   (user, product) the clicks within the lookback; for each checkout the first click (smallest
 *   (t, click_id)) within [t_c − 1 h, t_c]. No engine, no watermarks: the generator's default
 *   options deliver events in event-time order, so one pass is correct;
 * - `flowmark replay` in process (as the replay benchmark runs it).
 *
 * The hand loop's attributed click per checkout is checked against replay's output of the same
 * run, and the agreement is reported.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_ATTRIBUTION, replayDataSet, writeDataSet } from '../support/data-sets.ts';
import { FirstClickLoop } from '../support/hand-loops.ts';
import { type BenchResult, fmt, pct } from '../support/report.ts';
import { sideBySide } from '../support/side-by-side.ts';

/** Parse + first-click attribution by hand over in-order lines, in one pass (see {@link FirstClickLoop}). */
export function handLoopFirstClick(
  lines: readonly string[],
  lookbackMs = BENCH_ATTRIBUTION.lookbackMs,
): Map<string, string | null> {
  const loop = new FirstClickLoop(lookbackMs);
  for (const line of lines) {
    if (line.length === 0) continue;
    const e = JSON.parse(line) as Record<string, string>;
    const t = Date.parse(e.event_time as string);
    const key = `${e.user_id}\u0000${e.product_id}`;
    if (e.type === 'click') loop.click(key, e.click_id as string, t);
    else loop.checkout(key, e.checkout_id as string, t);
  }
  return loop.finish();
}

export async function ceilingBenchmarks(n: number): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-ceiling-'));
  try {
    // The generator's defaults: no disorder, no late events, no duplicates, no malformed lines.
    const ds = writeDataSet(dir, n);
    const out = join(dir, 'out.jsonl');
    const readLines = () => readFileSync(ds.events, 'utf8').split('\n');

    const t = await sideBySide(
      {
        parse: () => () => {
          let parsed = 0;
          for (const line of readLines()) {
            if (line.length === 0) continue;
            JSON.parse(line);
            parsed++;
          }
          return parsed;
        },
        hand_loop: () => () => handLoopFirstClick(readLines()),
        replay: () => async () => {
          await replayDataSet(ds, dir); // writes `out` (out.jsonl in dir)
          return n;
        },
      },
      2,
    );

    // Agreement: every checkout of replay's output against the hand loop's.
    const hand = t.results.hand_loop as Map<string, string | null>;
    let checkouts = 0;
    let agree = 0;
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      if (line.length === 0) continue;
      const row = JSON.parse(line) as { checkout_id: string; click_id: string | null };
      checkouts++;
      if (hand.has(row.checkout_id) && hand.get(row.checkout_id) === row.click_id) agree++;
    }
    const attributed = [...hand.values()].filter((c) => c !== null).length;

    const secs = t.seconds as Record<'parse' | 'hand_loop' | 'replay', number>;
    const parseRate = n / secs.parse;
    const handRate = n / secs.hand_loop;
    const replayRate = n / secs.replay;
    return [
      {
        name: `ceiling: JSON.parse vs hand-written first-click loop vs flowmark replay, ${fmt(n)} in-order events`,
        figures: {
          events: n,
          bytes: ds.bytes,
          parse_events_per_s: parseRate,
          parse_mb_per_s: ds.bytes / 1e6 / secs.parse,
          hand_loop_events_per_s: handRate,
          replay_events_per_s: replayRate,
          hand_loop_ratio_to_parse: handRate / parseRate,
          replay_ratio_to_parse: replayRate / parseRate,
          replay_ratio_to_hand_loop: replayRate / handRate,
          checkouts_replay: checkouts,
          checkouts_hand_loop: hand.size,
          checkouts_agreeing: agree,
          checkouts_attributed: attributed,
        },
        rows: [
          ['events (bytes)', `${fmt(n)} (${(ds.bytes / 2 ** 20).toFixed(0)} MiB), generator defaults (in order)`],
          [
            'JSON.parse alone (read + split + parse), events/s',
            `${fmt(parseRate)} (${(ds.bytes / 1e6 / secs.parse).toFixed(0)} MB/s)`,
          ],
          ['hand-written loop (read + parse + first click, Map), events/s', fmt(handRate)],
          ['flowmark replay, events/s', fmt(replayRate)],
          ['hand loop / JSON.parse', pct(handRate, parseRate)],
          ['replay / JSON.parse', pct(replayRate, parseRate)],
          ['replay / hand loop', pct(replayRate, handRate)],
          [
            'attributed click: hand loop = replay',
            `${agree === checkouts && hand.size === checkouts ? 'all ' : ''}${agree} of ${checkouts} checkouts (${attributed} with a click; hand loop: ${hand.size} checkouts)`,
          ],
        ],
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
