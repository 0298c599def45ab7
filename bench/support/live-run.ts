/**
 * One live run of the latency suite (see bench/suites/latency.ts for what is measured and how):
 * a fresh job following its log into a database, a producer in a worker thread at a fixed rate,
 * every record's latency from the log read back against the checkpoints the job committed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { parseCheckout } from '../../src/attribution/events/index.ts';
import { loadCatalog } from '../../src/cli/demo-shop.ts';
import { JOB, type JobStores, runAttribution, TOPICS } from '../../src/cli/modes/embedded.ts';
import { type LogDirectory, LogProducer, LogSource } from '../../src/connectors/log/index.ts';
import { nextOffsets } from '../../src/connectors/sql/index.ts';
import { Rejected, type Runtime, systemClock } from '../../src/engine/index.ts';
import type { ShopCatalog } from '../../src/generator/index.ts';
import { BENCH_ATTRIBUTION } from './data-sets.ts';
import { median } from './report.ts';
import { type ObservedCommit, observeCommits } from './sql-timing.ts';
import type { ProducedBatch } from './workers/latency-producer.ts';

const PRODUCER = new URL('./workers/latency-producer.ts', import.meta.url);
export const WARMUP_MS = 3000;
const SAMPLE_EVERY_MS = 10;
/**
 * The producer goes on this long after the measured window, so that the watermark (15 s behind
 * the latest event time by default) passes every checkout of the window and its final row is
 * measured too.
 */
export const TAIL_MS = 16_000;

/** What a live run needs of the suite's options. */
export interface LiveRunOptions {
  checkpointIntervalMs: number;
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

export interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export interface LiveRunResult {
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
            // As the pipeline reads it (the time its watermark is compared with).
            const c = parseCheckout(r.value);
            rec.eventTimeMs = c instanceof Rejected ? Number.NaN : c.eventTimeMs;
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
export function percentiles(xs: number[]): Percentiles {
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

export interface Target {
  label: string;
  /** Opens fresh stores (a new data dir; on a server, a new schema) with the catalog loaded. */
  open(dataDir: string): Promise<{ stores: JobStores; drop(): Promise<void> }>;
}

export async function liveRun(
  target: Target,
  rate: number,
  seconds: number,
  o: LiveRunOptions,
  catalog: ShopCatalog,
): Promise<LiveRunResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flowmark-bench-latency-'));
  const { stores, drop } = await target.open(dataDir);
  try {
    await loadCatalog(stores, catalog);
    const log = stores.log;
    const observed: ObservedCommit[] = [];
    const jobStores: JobStores = { ...stores, db: observeCommits(stores.db, stores.schema, JOB, observed) };
    // Each commit's offsets per topic and the attribution step's watermark, read once for the searches below.
    const commits: Commit[] = [];
    const commitsSoFar = () => {
      for (const c of observed.slice(commits.length)) {
        const meta = c.checkpoint.meta;
        const offsets = Object.fromEntries(Object.values(TOPICS).map((t) => [t, nextOffsets(meta, t)]));
        const attributeWm = meta.nodes.attribute?.watermarkMs ?? Number.NEGATIVE_INFINITY;
        commits.push({ startedMs: c.startedMs, atMs: c.atMs, offsets, attributeWm });
      }
      return commits;
    };
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
      attribution: { ...BENCH_ATTRIBUTION, provisional: true },
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
    if (!(await waitFor(60_000, () => observed.length > 0))) {
      throw new Error('latency: the job committed no checkpoint in 60 s');
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
      const last = commitsSoFar().at(-1);
      return (
        last !== undefined &&
        Object.entries(ends).every(([t, end]) => [...end].every(([p, e]) => (last.offsets[t]?.get(p) ?? 0) >= e))
      );
    });
    controller.abort();
    const summary = await job;
    clearInterval(sampler);

    commitsSoFar();
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
