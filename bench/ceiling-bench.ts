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
import { type BenchResult, fmt, pct, replayDataSet, sideBySide, writeDataSet } from './bench-lib.ts';

const LOOKBACK_MS = 3_600_000;

interface Click {
  id: string;
  t: number;
}

interface PendingCheckout {
  id: string;
  key: string;
  t: number;
}

/**
 * Parse + first-click attribution (scope product, 1 h lookback) over in-order lines: the
 * attributed click id (or null) per checkout id. Checkouts wait until event time moves past them,
 * so that a click with the same millisecond delivered right after its checkout still counts, as in
 * the engine (whose checkouts wait for the watermark).
 */
export function handLoopFirstClick(lines: readonly string[], lookbackMs = LOOKBACK_MS): Map<string, string | null> {
  const out = new Map<string, string | null>();
  const clicks = new Map<string, Click[]>();
  let pending: PendingCheckout[] = [];
  let pendingT = Number.NEGATIVE_INFINITY;
  let nextSweep = Number.NEGATIVE_INFINITY;

  const attribute = (c: PendingCheckout) => {
    const list = clicks.get(c.key);
    let best: Click | null = null;
    if (list !== undefined) {
      const from = c.t - lookbackMs;
      // In order: the list is sorted by time; the first one in the window, smallest id on ties.
      for (const k of list) {
        if (k.t < from) continue;
        if (k.t > c.t || (best !== null && k.t > best.t)) break;
        if (best === null || k.id < best.id) best = k;
      }
    }
    out.set(c.id, best === null ? null : best.id);
  };
  const flush = () => {
    for (const c of pending) attribute(c);
    pending = [];
  };

  for (const line of lines) {
    if (line.length === 0) continue;
    const e = JSON.parse(line) as Record<string, string>;
    const t = Date.parse(e.event_time as string);
    if (t > pendingT && pending.length > 0) flush();
    if (t >= nextSweep) {
      // Once per lookback of event time: forget keys whose last click is out of every window.
      const horizon = (pending.length > 0 ? pendingT : t) - lookbackMs;
      for (const [key, list] of clicks) if ((list[list.length - 1] as Click).t < horizon) clicks.delete(key);
      nextSweep = t + lookbackMs;
    }
    const key = `${e.user_id}\u0000${e.product_id}`;
    if (e.type === 'click') {
      const list = clicks.get(key);
      const click = { id: e.click_id as string, t };
      if (list === undefined) clicks.set(key, [click]);
      else {
        // Drop this key's clicks that no checkout to come (t_c ≥ min(t, pending)) can reach.
        const horizon = (pending.length > 0 ? pendingT : t) - lookbackMs;
        let drop = 0;
        while (drop < list.length && (list[drop] as Click).t < horizon) drop++;
        if (drop > 0) list.splice(0, drop);
        list.push(click);
      }
    } else {
      const id = e.checkout_id as string;
      if (out.has(id) || pending.some((p) => p.id === id)) continue; // duplicate delivery
      pending.push({ id, key, t });
      pendingT = t;
    }
  }
  flush();
  return out;
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
