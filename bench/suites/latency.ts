/**
 * Latency of a live run (issue 6, item 6): the embedded job (`runAttribution`, as `flowmark run`
 * runs it live: provisional rows, the dashboard served on a free port) follows the log into PGlite
 * and, given a server, into PostgreSQL, while a producer in a worker thread
 * (`support/workers/latency-producer.ts`, so the pipeline cannot starve it) generates events at a fixed
 * rate and posts them every 5 ms to the job's thread, which appends them to its log and flushes,
 * as `flowmark demo` does (the log has one writer process; see the report for why not a
 * separate writer process). Measured for every record, not sampled:
 *
 * - (a) arrival → committed: a record's append time in the log → the commit of the first
 *   checkpoint whose source offsets cover it (for checkouts, and for all events);
 * - (b) watermark → final row committed: the moment the attribution step's watermark passed a
 *   checkout's event time (its result became final) → the commit of the first checkpoint whose
 *   watermark of that step is past it (the checkpoint holding the final row).
 *
 * How it is observed, in the benchmark process (bench/support/live-run.ts): the job's `SqlClient`
 * is wrapped, and after every transaction the job's last checkpoint is read back with the shipped
 * checkpoint reader (`readLastCheckpoint`: source offsets and step watermarks; one primary-key
 * read per checkpoint, before the job goes on); a new checkpoint is recorded with the time its
 * COMMIT resolved (bench/support/sql-timing.ts). After the run the
 * log is read back (append times, offsets, event times). The watermark's passing is timed by
 * sampling `runtime.stats()` every {@link SAMPLE_EVERY_MS} ms (bounded by the start of the
 * checkpoint that carries it, so (b) is exact to the sampling gap, reported).
 *
 * Measured: the records appended in the window [first append + {@link WARMUP_MS}, first append +
 * seconds) — the first seconds are left out (JIT, the first full checkpoint); the producer goes on
 * for {@link TAIL_MS} after the window, so that the watermark passes its checkouts. After
 * the producer stops, the job runs until it has committed everything appended (at most
 * {@link drainCapSeconds}); a record never committed counts as infinitely late. The knee is
 * searched in steps: the highest rate whose p99 of (a) for checkouts stays ≤ 1 s, and the lowest
 * above 1 s, narrowed (geometric midpoints) while the time budget lasts.
 */
import { openStores } from '../../src/cli/modes/embedded.ts';
import { chooseDatabase } from '../../src/cli/modes/mode.ts';
import type { ShopCatalog } from '../../src/generator/index.ts';
import { benchCatalog } from '../support/data-sets.ts';
import { type LiveRunResult, liveRun, type Percentiles, TAIL_MS, type Target, WARMUP_MS } from '../support/live-run.ts';
import { type BenchResult, fmt, fmtCount } from '../support/report.ts';
import { benchSchema, dropSchemas } from '../support/services.ts';

const KNEE_P99_MS = 1000;

export interface LatencyBenchOptions {
  /** Input rates (events/s), each run for `seconds`. */
  rates: number[];
  seconds: number;
  /** Each step of the knee search runs this long. */
  kneeSeconds: number;
  /** The knee search stops starting steps after this long (per database); 0: no search. */
  kneeBudgetSeconds: number;
  checkpointIntervalMs: number;
  /** A PostgreSQL server; absent: PGlite only. */
  databaseUrl: string | undefined;
}

function ms(x: number): string {
  if (x === Number.POSITIVE_INFINITY) return 'never';
  if (Number.isNaN(x)) return 'n/a';
  return x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`;
}

function p3(p: Percentiles): string {
  return `${ms(p.p50)} / ${ms(p.p99)} / ${ms(p.p999)} (n = ${fmtCount(p.n)})`;
}

/** Below the knee: p99 of (a) for checkouts ≤ 1 s. */
function keepsUp(r: LiveRunResult): boolean {
  return r.arrivalCheckouts.p99 <= KNEE_P99_MS;
}

/** Two significant digits: 14 142 → 14 000. */
function round2(x: number): number {
  const e = 10 ** Math.max(0, Math.floor(Math.log10(x)) - 1);
  return Math.round(x / e) * e;
}

async function measureTarget(target: Target, o: LatencyBenchOptions, catalog: ShopCatalog): Promise<BenchResult> {
  const runs: LiveRunResult[] = [];
  const run = async (rate: number, seconds: number) => {
    const r = await liveRun(target, rate, seconds, o, catalog);
    runs.push(r);
    process.stderr.write(
      `latency ${target.label} ${fmt(rate)}/s: achieved ${fmt(r.achievedRate)}/s, (a) p99 ${ms(r.arrivalCheckouts.p99)}, (b) p99 ${ms(r.finalCheckouts.p99)}\n`,
    );
    return r;
  };
  for (const rate of o.rates) await run(rate, o.seconds);

  // The knee: the highest rate that keeps up and the lowest that does not, narrowed in steps.
  const started = performance.now();
  let limitedByProducer = false;
  for (;;) {
    if ((performance.now() - started) / 1000 >= o.kneeBudgetSeconds) break;
    const up = runs.filter(keepsUp);
    const down = runs.filter((r) => !keepsUp(r));
    const ok = up.length === 0 ? undefined : Math.max(...up.map((r) => r.targetRate));
    const bad = down.length === 0 ? undefined : Math.min(...down.map((r) => r.targetRate));
    const okRun = up.find((r) => r.targetRate === ok);
    if (bad === undefined && okRun !== undefined && okRun.achievedRate < 0.9 * okRun.targetRate) {
      limitedByProducer = true; // the producer cannot go faster: the knee is above what it achieves
      break;
    }
    let next: number;
    if (bad === undefined) next = (ok as number) * 2;
    else if (ok === undefined) next = bad / 2;
    else if (bad / ok <= 1.3) break;
    else next = Math.sqrt(ok * bad);
    next = round2(next);
    if (runs.some((r) => r.targetRate === next)) break;
    await run(next, o.kneeSeconds);
  }
  const up = runs.filter(keepsUp);
  const down = runs.filter((r) => !keepsUp(r));
  const kneeLow = up.length === 0 ? 0 : Math.max(...up.map((r) => r.targetRate));
  const kneeHigh = down.length === 0 ? Number.NaN : Math.min(...down.map((r) => r.targetRate));
  const kneeText =
    down.length === 0
      ? `above ${fmt(kneeLow)} events/s${limitedByProducer ? ' (the producer could not go faster)' : ' (search stopped by its budget)'}`
      : up.length === 0
        ? `below ${fmt(kneeHigh)} events/s`
        : `between ${fmt(kneeLow)} (p99 ≤ 1 s) and ${fmt(kneeHigh)} events/s (p99 > 1 s)`;

  const key = target.label === 'PGlite' ? 'pglite' : 'postgres';
  const figures: Record<string, number> = {
    checkpoint_interval_ms: o.checkpointIntervalMs,
    knee_low_events_per_s: kneeLow,
    knee_high_events_per_s: kneeHigh,
  };
  const rows: BenchResult['rows'] = [
    [
      'setup',
      `producer worker thread (5 ms ticks) → batches appended to the log on the job's thread, one flush (write + fdatasync) after another → flowmark run live (provisional rows, dashboard served) → ${target.label}; checkpoint every ${o.checkpointIntervalMs} ms; measured: arrivals from ${WARMUP_MS / 1000} s to the end of each rate's seconds (the producer goes on ${TAIL_MS / 1000} s more, so that the watermark passes them)`,
    ],
    ['columns', 'p50 / p99 / p99.9 (n); "never": not committed within the run'],
  ];
  for (const r of [...runs].sort((a, b) => a.targetRate - b.targetRate)) {
    const f = `r${r.targetRate}`;
    figures[`${f}_achieved_events_per_s`] = r.achievedRate;
    figures[`${f}_arrival_checkout_p50_ms`] = r.arrivalCheckouts.p50;
    figures[`${f}_arrival_checkout_p99_ms`] = r.arrivalCheckouts.p99;
    figures[`${f}_arrival_checkout_p999_ms`] = r.arrivalCheckouts.p999;
    figures[`${f}_arrival_all_p99_ms`] = r.arrivalAll.p99;
    figures[`${f}_posted_checkout_p99_ms`] = r.postedCheckouts.p99;
    figures[`${f}_final_p50_ms`] = r.finalCheckouts.p50;
    figures[`${f}_final_p99_ms`] = r.finalCheckouts.p99;
    figures[`${f}_final_p999_ms`] = r.finalCheckouts.p999;
    figures[`${f}_commit_p50_ms`] = r.commitMs.p50;
    figures[`${f}_send_to_append_p99_ms`] = r.sendToAppend.p99;
    const head = `${fmt(r.targetRate)}/s for ${r.seconds} s`;
    rows.push(
      [
        head,
        `achieved ${fmt(r.achievedRate)}/s (${((r.achievedRate / r.targetRate) * 100).toFixed(0)} %), ${fmtCount(r.appended)} events, job read ${fmtCount(r.recordsRead)}`,
      ],
      [`  (a) arrival → committed, checkouts`, p3(r.arrivalCheckouts)],
      [`  (a) arrival → committed, all events`, p3(r.arrivalAll)],
      [`  (a') producer's post → committed, checkouts`, p3(r.postedCheckouts)],
      [
        `  (b) watermark → final row committed`,
        `${p3(r.finalCheckouts)}${r.notFinal > 0 ? `; ${fmtCount(r.notFinal)} never final within the run` : ''}`,
      ],
      [
        `  checkpoints`,
        `${r.commits} commits, commit p50 ${ms(r.commitMs.p50)}, p99 ${ms(r.commitMs.p99)}; watermark sampled every ${ms(r.sampleGapMs)} (median; p99 ${ms(r.sampleGapP99Ms)})`,
      ],
      [
        `  producer`,
        `post → append on the job's thread ${ms(r.sendToAppend.p50)} / ${ms(r.sendToAppend.p99)} / ${ms(r.sendToAppend.p999)}; log flush p50 ${ms(r.flushMs.p50)}, p99 ${ms(r.flushMs.p99)} (${fmtCount(r.flushMs.n)} flushes); ${r.producerTicksBehind} ticks late`,
      ],
    );
  }
  figures.knee_events_per_s = kneeLow;
  rows.push(['knee (p99 of (a) for checkouts > 1 s)', kneeText]);
  return {
    name: `latency: a live run into ${target.label} at fixed input rates; the knee`,
    figures: Object.fromEntries(Object.entries(figures).map(([k, v]) => [`${key}_${k}`, v])),
    rows,
  };
}

export async function latencyBenchmarks(o: LatencyBenchOptions): Promise<BenchResult[]> {
  const catalog = benchCatalog();
  const targets: Target[] = [
    {
      label: 'PGlite',
      open: async (dataDir) => ({ stores: await openStores({ dataDir }), drop: async () => undefined }),
    },
  ];
  const url = o.databaseUrl;
  if (url !== undefined) {
    targets.push({
      label: 'PostgreSQL',
      open: async (dataDir) => {
        const schema = benchSchema('latency');
        const config = { dataDir, database: { url, displayUrl: url, schema, poolSize: 4 } };
        const stores = await openStores(config, chooseDatabase(config));
        return {
          stores,
          drop: () => dropSchemas(url, [schema]),
        };
      },
    });
  }
  const out: BenchResult[] = [];
  for (const t of targets) out.push(await measureTarget(t, o, catalog));
  return out;
}
