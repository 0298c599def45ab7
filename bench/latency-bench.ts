/**
 * Latency of a live run (issue 6, item 6): the embedded job (`runAttribution`, as `flowmark run`
 * runs it live: provisional rows, the dashboard served on a free port) follows the log into PGlite
 * and, given a server, into PostgreSQL, while a producer in a worker thread
 * (`latency-producer-worker.ts`, so the pipeline cannot starve it) generates events at a fixed
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
 * How it is observed, in the benchmark process: the job's `SqlClient` is wrapped, and every
 * transaction that carries checkpoint metadata (source offsets and step watermarks, as the
 * `SqlCommitter` writes them) is recorded with the time its COMMIT resolved. After the run the
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
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { attributionOptions } from '../src/attribution/attribution-options.ts';
import { runAttribution, TOPICS } from '../src/cli/embedded-job.ts';
import { type JobStores, openStores } from '../src/cli/job-stores.ts';
import { type LogDirectory, LogProducer, LogSource } from '../src/connectors/log/index.ts';
import { type SqlClient, upsertProducts, upsertUsers } from '../src/connectors/sql/index.ts';
import { type Runtime, systemClock } from '../src/engine/index.ts';
import { generateCatalog } from '../src/generator/index.ts';
import { type BenchResult, fmt, fmtCount, median } from './bench-lib.ts';
import type { ProducedBatch } from './latency-producer-worker.ts';

const PRODUCER = new URL('./latency-producer-worker.ts', import.meta.url);
const WARMUP_MS = 3000;
const SAMPLE_EVERY_MS = 10;
const KNEE_P99_MS = 1000;
/**
 * The producer goes on this long after the measured window, so that the watermark (15 s behind
 * the latest event time by default) passes every checkout of the window and its final row is
 * measured too.
 */
const TAIL_MS = 16_000;

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

/** After the producer stops, how long the job may take to commit what is left. */
function drainCapSeconds(seconds: number): number {
  return Math.min(60, Math.max(15, seconds));
}

interface Commit {
  /** Wall-clock ms when the transaction began and when its COMMIT resolved. */
  startedMs: number;
  atMs: number;
  /** Next offset per partition, per topic (source id = topic). */
  offsets: Record<string, Map<number, number>>;
  /** The attribution step's watermark in the checkpoint. */
  attributeWm: number;
}

interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

interface LiveRunResult {
  targetRate: number;
  seconds: number;
  appended: number;
  achievedRate: number;
  /** Per event: the producer thread's post → its append to the log on the job's thread. */
  sendToAppend: Percentiles;
  /** The log's flush (write + fdatasync) after each batch. */
  flushMs: { p50: number; p99: number; n: number };
  /** Producer ticks that started late (its 5 ms schedule slipped). */
  producerTicksBehind: number;
  /** (a) for checkouts and for every event; (b) for checkouts. */
  arrivalCheckouts: Percentiles;
  arrivalAll: Percentiles;
  /** (a) from the producer thread's post of the checkout's batch instead of its append. */
  postedCheckouts: Percentiles;
  finalCheckouts: Percentiles;
  /** Checkouts (after the warm-up) whose final row was not committed before the run stopped. */
  notFinal: number;
  commits: number;
  commitMs: { p50: number; p99: number };
  sampleGapMs: number;
  sampleGapP99Ms: number;
  recordsRead: number;
}

function wmOf(v: unknown): number {
  if (v === '+inf') return Number.POSITIVE_INFINITY;
  if (v === '-inf' || typeof v !== 'number') return Number.NEGATIVE_INFINITY;
  return v;
}

/** The checkpoint metadata as the SqlCommitter writes it (JSON, ±∞ as strings). */
function parseMeta(meta: string): Pick<Commit, 'offsets' | 'attributeWm'> {
  const m = JSON.parse(meta) as {
    sources: Record<string, { offsets: Record<string, number> }>;
    nodes: Record<string, { watermarkMs: unknown }>;
  };
  const offsets: Record<string, Map<number, number>> = {};
  for (const [id, s] of Object.entries(m.sources)) {
    offsets[id] = new Map(Object.entries(s.offsets).map(([p, o]) => [Number(p), o]));
  }
  return { offsets, attributeWm: wmOf(m.nodes.attribute?.watermarkMs) };
}

/**
 * The job's database client, recording each transaction that writes checkpoint metadata: the
 * SqlCommitter's fencing UPDATE carries it as its 4th parameter (`meta = $4`).
 */
function observeCommits(db: SqlClient, commits: Commit[]): SqlClient {
  const spy = (client: SqlClient, onMeta: (meta: string) => void): SqlClient => ({
    query: <R>(text: string, params?: readonly unknown[]) => {
      const meta = params?.[3];
      if (typeof meta === 'string' && text.includes('meta = $4')) onMeta(meta);
      return client.query<R>(text, params);
    },
    exec: (script) => client.exec(script),
    transaction: <T>(fn: (tx: SqlClient) => Promise<T>) => client.transaction((tx) => fn(spy(tx, onMeta))),
    close: () => client.close(),
  });
  return {
    ...spy(db, () => undefined),
    transaction: async <T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> => {
      const startedMs = Date.now();
      let meta: string | undefined;
      const out = await db.transaction((tx) =>
        fn(
          spy(tx, (m) => {
            meta = m;
          }),
        ),
      );
      if (meta !== undefined) commits.push({ startedMs, atMs: Date.now(), ...parseMeta(meta) });
      return out;
    },
  };
}

interface LogRecord {
  topic: string;
  partition: number;
  offset: number;
  appendMs: number;
  /** Checkouts only. */
  eventTimeMs?: number;
}

/** Every record of both topics, read back from the log after the run. */
async function readBack(log: LogDirectory): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const topic of Object.values(TOPICS)) {
    const src = new LogSource(log, topic, { consumer: 'latency-bench', endAtOpen: true });
    try {
      for (;;) {
        const res = await src.poll(1 << 16);
        for (const r of res.records) {
          const rec: LogRecord = {
            topic,
            partition: r.partition,
            offset: r.offset,
            appendMs: r.timestampMs ?? Number.NaN,
          };
          if (topic === TOPICS.checkouts) {
            rec.eventTimeMs = Date.parse((JSON.parse(r.value) as { event_time: string }).event_time);
          }
          out.push(rec);
        }
        if (res.ended === true) break;
      }
    } finally {
      src.close();
    }
  }
  return out;
}

/** Nearest-rank percentiles; Infinity (never committed) sorts last. */
function percentiles(xs: number[]): Percentiles {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => (s.length === 0 ? Number.NaN : (s[Math.max(0, Math.ceil(p * s.length) - 1)] as number));
  return { n: s.length, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: s.at(-1) ?? Number.NaN };
}

/** The first index in [0, n) where `ok(i)` holds, for a monotone predicate; n if none. */
function firstWhere(n: number, ok: (i: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ok(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The shop's users and products into flowmark's tables (as the demo loads its catalog). */
async function loadCatalog(stores: JobStores, catalog: ReturnType<typeof generateCatalog>): Promise<void> {
  const schema = stores.schema;
  await upsertUsers(stores.db, catalog.users, { schema });
  await upsertProducts(
    stores.db,
    catalog.products.map((p) => ({
      productId: p.productId,
      name: p.productName,
      category: p.category,
      price: p.price,
      commissionRate: p.commissionRate,
    })),
    { schema },
  );
}

interface Target {
  label: string;
  /** Opens fresh stores (a new data dir; on a server, a new schema) with the catalog loaded. */
  open(dataDir: string): Promise<{ stores: JobStores; drop(): Promise<void> }>;
}

async function liveRun(
  target: Target,
  rate: number,
  seconds: number,
  o: LatencyBenchOptions,
  catalog: ReturnType<typeof generateCatalog>,
): Promise<LiveRunResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flowmark-bench-latency-'));
  const { stores, drop } = await target.open(dataDir);
  try {
    await loadCatalog(stores, catalog);
    const log = stores.log;
    const commits: Commit[] = [];
    const jobStores: JobStores = { ...stores, db: observeCommits(stores.db, commits) };
    const controller = new AbortController();
    let runtime: Runtime | undefined;
    const samples: Array<{ atMs: number; wm: number }> = [];
    const ticks: number[] = [];
    const sampler = setInterval(() => {
      ticks.push(Date.now());
      const wm = runtime?.stats().find((s) => s.id === 'attribute')?.watermarkMs;
      if (wm !== undefined && (samples.length === 0 || wm > (samples.at(-1) as { wm: number }).wm)) {
        samples.push({ atMs: Date.now(), wm });
      }
    }, SAMPLE_EVERY_MS);
    const job = runAttribution(jobStores, {
      attribution: attributionOptions({
        model: 'first_click',
        scope: 'product',
        lookbackMs: 3_600_000,
        provisional: true,
      }),
      clock: systemClock,
      drain: false,
      signal: controller.signal,
      checkpointIntervalMs: o.checkpointIntervalMs,
      onRuntime: (r) => {
        runtime = r;
      },
      serve: { host: '127.0.0.1', port: 0 },
    });
    let jobError: unknown;
    job.catch((err: unknown) => {
      jobError = err;
    });
    const waitFor = async (capMs: number, done: () => boolean): Promise<boolean> => {
      const until = Date.now() + capMs;
      while (!done()) {
        if (jobError !== undefined) throw jobError;
        if (Date.now() > until) return false;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return true;
    };
    if (!(await waitFor(60_000, () => commits.length > 0))) {
      throw new Error(
        'latency: the job committed no checkpoint in 60 s (or the SqlCommitter no longer writes "meta = $4")',
      );
    }

    // The producer thread posts batches; they are appended here, to the job's own log, and
    // flushed (write + fdatasync) one flush after the other, as `flowmark demo` does.
    const producer = new LogProducer(log);
    const sendDelays: number[] = []; // per event: the batch's post → its append here
    const batches: Array<{ appendMs: number; sentMs: number }> = [];
    let firstAppendMs = Number.NaN;
    let lastAppendMs = Number.NaN;
    let appended = 0;
    let flushes = 0;
    const flushMs: number[] = [];
    let flushing: Promise<void> = Promise.resolve();
    let flushError: unknown;
    const worker = new Worker(PRODUCER, { workerData: { rate, seconds: seconds + TAIL_MS / 1000 } });
    const produced = await new Promise<{ sent: number; ticksBehind: number }>((resolve, reject) => {
      worker.on('error', reject);
      worker.on('message', (m: ProducedBatch | { done: true; sent: number; ticksBehind: number }) => {
        if ('done' in m) {
          resolve(m);
          return;
        }
        const now = Date.now();
        batches.push({ appendMs: now, sentMs: m.sentMs });
        for (let i = 0; i < m.lines.length; i++) {
          producer.append(m.topics[i] as string, m.lines[i] as string, m.keys[i]);
          sendDelays.push(now - m.sentMs);
        }
        if (Number.isNaN(firstAppendMs)) firstAppendMs = now;
        lastAppendMs = now;
        appended += m.lines.length;
        flushing = flushing
          .then(async () => {
            const t0 = performance.now();
            await producer.flush();
            flushes++;
            flushMs.push(performance.now() - t0);
          })
          .catch((err: unknown) => {
            flushError ??= err;
          });
      });
    });
    await worker.terminate();
    await flushing;
    if (flushError !== undefined) throw flushError;
    if (produced.sent !== appended)
      throw new Error(`latency: the producer sent ${produced.sent} events, ${appended} appended`);
    // Everything appended, committed? (or give up after the cap: the rest counts as never committed)
    const ends = Object.fromEntries(Object.values(TOPICS).map((t) => [t, log.endOffsets(t)]));
    await waitFor(drainCapSeconds(seconds) * 1000, () => {
      const last = commits.at(-1);
      return (
        last !== undefined &&
        Object.entries(ends).every(([t, end]) => [...end].every(([p, e]) => (last.offsets[t]?.get(p) ?? 0) >= e))
      );
    });
    controller.abort();
    const summary = await job;
    clearInterval(sampler);

    const records = await readBack(log);
    const from = firstAppendMs + WARMUP_MS;
    const until = firstAppendMs + seconds * 1000;
    const arrivalAll: number[] = [];
    const arrivalCheckouts: number[] = [];
    const postedCheckouts: number[] = [];
    const finals: number[] = [];
    let notFinal = 0;
    for (const r of records) {
      if (!(r.appendMs >= from && r.appendMs < until)) continue;
      const i = firstWhere(
        commits.length,
        (k) => ((commits[k] as Commit).offsets[r.topic]?.get(r.partition) ?? 0) > r.offset,
      );
      const a = i < commits.length ? (commits[i] as Commit).atMs - r.appendMs : Number.POSITIVE_INFINITY;
      arrivalAll.push(a);
      if (r.eventTimeMs === undefined) continue;
      arrivalCheckouts.push(a);
      // The batch it came in: the last appended at or before its append time.
      const b =
        batches[
          Math.max(0, firstWhere(batches.length, (k) => (batches[k] as { appendMs: number }).appendMs > r.appendMs) - 1)
        ];
      postedCheckouts.push(a + r.appendMs - (b?.sentMs ?? r.appendMs));
      const t = r.eventTimeMs;
      const f = firstWhere(commits.length, (k) => (commits[k] as Commit).attributeWm > t);
      if (f === commits.length) {
        notFinal++;
        continue;
      }
      const fc = commits[f] as Commit;
      const s = firstWhere(samples.length, (k) => (samples[k] as { wm: number }).wm > t);
      const passedMs = Math.min(
        s < samples.length ? (samples[s] as { atMs: number }).atMs : fc.startedMs,
        fc.startedMs,
      );
      finals.push(fc.atMs - passedMs);
    }
    // The sampling resolution: the gaps between the sampler's ticks while the producer ran.
    const gaps = ticks
      .slice(1)
      .map((t, i) => t - (ticks[i] as number))
      .filter((_, i) => (ticks[i] as number) >= from && (ticks[i] as number) < until + TAIL_MS);
    const commitMs = commits.map((c) => c.atMs - c.startedMs);
    return {
      targetRate: rate,
      seconds,
      appended,
      achievedRate: appended / Math.max(1e-3, (lastAppendMs - firstAppendMs) / 1000),
      sendToAppend: percentiles(sendDelays),
      flushMs: { p50: percentiles(flushMs).p50, p99: percentiles(flushMs).p99, n: flushes },
      producerTicksBehind: produced.ticksBehind,
      arrivalCheckouts: percentiles(arrivalCheckouts),
      arrivalAll: percentiles(arrivalAll),
      postedCheckouts: percentiles(postedCheckouts),
      finalCheckouts: percentiles(finals),
      notFinal,
      commits: commits.length,
      commitMs: { p50: percentiles(commitMs).p50, p99: percentiles(commitMs).p99 },
      sampleGapMs: gaps.length === 0 ? Number.NaN : median(gaps),
      sampleGapP99Ms: percentiles(gaps).p99,
      recordsRead: summary.recordsRead,
    };
  } finally {
    await stores.close().catch(() => undefined);
    await drop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
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

async function measureTarget(
  target: Target,
  o: LatencyBenchOptions,
  catalog: ReturnType<typeof generateCatalog>,
): Promise<BenchResult> {
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
  const catalog = generateCatalog({ users: 20_000, products: 2_000, seed: 1 });
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
        const schema = `fm_bench_latency_${randomBytes(6).toString('hex')}`;
        const stores = await openStores({ dataDir, database: { url, displayUrl: url, schema, poolSize: 4 } });
        return {
          stores,
          drop: async () => {
            const client = new pg.Client({ connectionString: url });
            await client.connect();
            try {
              await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
            } finally {
              await client.end();
            }
          },
        };
      },
    });
  }
  const out: BenchResult[] = [];
  for (const t of targets) out.push(await measureTarget(t, o, catalog));
  return out;
}
