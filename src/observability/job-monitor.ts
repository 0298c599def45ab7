/**
 * The {@link JobMonitor} of a running pipeline: what the HTTP server serves as the dashboard's
 * status, `/health`, the alert panel and `/metrics`.
 *
 * Once a second (an unref'd timer, stopped by `close()`) the monitor pushes the runtime's figures
 * to the metrics registry (`publishMetrics`, so `/metrics` is fresh between checkpoints) and takes
 * a {@link MonitorSample}; it keeps the last minutes of samples, from which come the rates, the
 * watermark-stall check and the alert rules (alert-rules.ts). A read (`status`, `health`,
 * `alerts`) takes a sample first when the last one is older than the sampling period.
 *
 * Health (`/health`: 200 when ok, else 503 with the reasons):
 * - the runtime is retrying something (runtime.health() troubles): the database is unavailable
 *   (FM_PG_UNAVAILABLE), checkpoints fail, or a step's look-ups fail;
 * - no checkpoint was committed for more than 3 checkpoint heartbeats (an idle runtime commits
 *   one per heartbeat; counted from the start of monitoring before the first);
 * - the watermark is stalled: it has not moved for `watermarkStallMs` (default 60 s) although
 *   records arrived during that time or are waiting unread. A quiet input is never a stall, and
 *   neither is the end of a bounded input (watermark +∞).
 */
import {
  type Clock,
  checkpointHeartbeatOf,
  formatEventTime,
  MAX_WATERMARK,
  type NodeStats,
  type RuntimeHealth,
  type Trouble,
} from '../engine/index.ts';
import {
  ALERT_RULES,
  ALERT_THRESHOLDS,
  type AlertContext,
  AlertEvaluator,
  type AlertRule,
  WATCHED_STEP,
} from './alert-rules.ts';
import { increase, latest, type MonitorSample, quantile, ratePerSecond } from './monitor-sample.ts';
import type { ActiveAlert, HealthReport, JobMonitor, PipelineStatus } from './monitor-types.ts';
import { DEAD_LETTERS_METRIC, EVENTS_OUT_METRIC, type PrometheusMetrics } from './prometheus-registry.ts';

/** What the monitor reads of a runtime (`Runtime` from src/engine has all of it). */
export interface MonitoredRuntime {
  stats(): NodeStats[];
  health(): RuntimeHealth;
  readonly checkpointId: number;
  /** Pushes the runtime's counters and gauges to its metrics registry. */
  publishMetrics?(): void;
}

export interface JobMonitorOptions {
  runtime: MonitoredRuntime;
  /** Processing time (`systemClock` in the product, a ManualClock in tests). */
  clock: Clock;
  /** The registry the runtime was given (`createPrometheusMetrics()`). */
  metrics: PrometheusMetrics;
  /** The runtime's checkpoint interval (ms): the least time between two checkpoints. */
  checkpointIntervalMs: number;
  /**
   * The longest a healthy runtime goes between two checkpoints (ms): an idle one commits only
   * its heartbeat. Health and the checkpoint alert count in these. Default: the runtime's
   * default heartbeat for `checkpointIntervalMs` (`checkpointHeartbeatOf`).
   */
  checkpointHeartbeatMs?: number;
  /** Budget of operator state, bytes (default 1 GiB); an alert fires above 80 %. */
  stateBytesBudget?: number;
  /** How long the watermark may stand still while records arrive before /health fails (default 60 s). */
  watermarkStallMs?: number;
  /** The step whose watermark is watched (default `attribute`; else the least over all steps). */
  watchedStep?: string;
  /** Sampling period (default 1 000 ms). */
  sampleEveryMs?: number;
  /** Sample on an unref'd timer (default true); false: only on reads and `sample()` (tests). */
  autoSample?: boolean;
  /** The window of `eventsInPerSecond` (default 5 000 ms). */
  rateWindowMs?: number;
  /** The alert rules to evaluate (default: flowmark's, as in deploy/prometheus). */
  rules?: readonly AlertRule[];
}

/** A {@link JobMonitor} with the monitor's own controls. */
export interface RuntimeJobMonitor extends JobMonitor {
  readonly metrics: PrometheusMetrics;
  /** Takes a sample now (also evaluates health trackers and alert rules) and returns it. */
  sample(): MonitorSample;
  /** The samples kept (the last minutes), oldest first. */
  history(): readonly MonitorSample[];
  /** Stops the sampling timer; the monitor can still be read. */
  close(): void;
}

export const DEFAULT_STATE_BYTES_BUDGET = 1024 ** 3;
export const DEFAULT_WATERMARK_STALL_MS = 60_000;
/** The end-to-end latency histogram the engine reports (src/engine/metrics.ts). */
export const LATENCY_METRIC = 'flowmark_end_to_end_latency_seconds';
const LATENCY_WINDOW_MS = 60_000;
/** At most this many latency observations are kept for the quantiles (the most recent). */
const LATENCY_MAX_OBSERVATIONS = 20_000;
/** Samples are kept this long at least (the longest window of the alert rules, plus margin). */
const MIN_HISTORY_MS = 6 * 60_000;

/**
 * Creates the monitor of a runtime whose metrics go to `options.metrics`.
 *
 * @example
 * const metrics = createPrometheusMetrics();
 * const runtime = new Runtime(pipeline, { committer, clock: systemClock, metrics, checkpointIntervalMs: 1000 });
 * const monitor = createJobMonitor({ runtime, clock: systemClock, metrics, checkpointIntervalMs: 1000 });
 * monitor.health() // { ok: true, reasons: [] }
 * monitor.status().eventsInPerSecond // 198.4
 */
export function createJobMonitor(options: JobMonitorOptions): RuntimeJobMonitor {
  return new Monitor(options);
}

/** @internal Latency observations of the last minute, in arrival order. */
class LatencyWindow {
  #at: number[] = [];
  #values: number[] = [];
  #start = 0;

  add(atMs: number, value: number): void {
    this.#at.push(atMs);
    this.#values.push(value);
    if (this.#values.length - this.#start > LATENCY_MAX_OBSERVATIONS) this.#start++;
  }

  /** The observations not older than `windowMs` before `nowMs`. */
  values(nowMs: number, windowMs: number): number[] {
    while (this.#start < this.#at.length && (this.#at[this.#start] as number) < nowMs - windowMs) this.#start++;
    if (this.#start > 4096 && this.#start * 2 > this.#at.length) {
      this.#at = this.#at.slice(this.#start);
      this.#values = this.#values.slice(this.#start);
      this.#start = 0;
    }
    return this.#values.slice(this.#start);
  }
}

/** @internal */
class Monitor implements RuntimeJobMonitor {
  readonly metrics: PrometheusMetrics;
  readonly metricsContentType: string;
  readonly #runtime: MonitoredRuntime;
  readonly #clock: Clock;
  readonly #ctx: AlertContext;
  readonly #stallMs: number;
  readonly #watchedStep: string;
  readonly #sampleEveryMs: number;
  readonly #rateWindowMs: number;
  readonly #historyMs: number;
  readonly #alerts: AlertEvaluator;
  readonly #latency = new LatencyWindow();
  readonly #unsubscribe: () => void;
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  #history: MonitorSample[] = [];
  /** The watched watermark and when it last changed. */
  #wm: number | null | undefined;
  #wmMovedAtMs = 0;
  #watchedFound = false;
  #sampleError: string | undefined;

  constructor(o: JobMonitorOptions) {
    this.#runtime = o.runtime;
    this.#clock = o.clock;
    this.metrics = o.metrics;
    this.metricsContentType = o.metrics.contentType;
    this.#ctx = {
      checkpointHeartbeatMs: o.checkpointHeartbeatMs ?? checkpointHeartbeatOf(o.checkpointIntervalMs),
      stateBytesBudget: o.stateBytesBudget ?? DEFAULT_STATE_BYTES_BUDGET,
      startedAtMs: o.clock.nowMs(),
    };
    this.#stallMs = o.watermarkStallMs ?? DEFAULT_WATERMARK_STALL_MS;
    this.#watchedStep = o.watchedStep ?? WATCHED_STEP;
    this.#sampleEveryMs = o.sampleEveryMs ?? 1000;
    this.#rateWindowMs = o.rateWindowMs ?? 5000;
    this.#historyMs = Math.max(MIN_HISTORY_MS, this.#stallMs + 10_000);
    this.#alerts = new AlertEvaluator(o.rules ?? ALERT_RULES);
    o.metrics
      .gauge('flowmark_state_bytes_budget', 'Configured budget of operator state (bytes); alerts fire above 80 %', [])
      .set({}, this.#ctx.stateBytesBudget);
    o.metrics
      .gauge('flowmark_checkpoint_interval_seconds', 'Configured least processing time between checkpoints', [])
      .set({}, o.checkpointIntervalMs / 1000);
    o.metrics
      .gauge(
        'flowmark_checkpoint_heartbeat_seconds',
        'Longest processing time between two checkpoints of a healthy job (an idle one commits only this heartbeat)',
        [],
      )
      .set({}, this.#ctx.checkpointHeartbeatMs / 1000);
    this.#unsubscribe = o.metrics.onObserve(LATENCY_METRIC, (_labels, v) => this.#latency.add(this.#clock.nowMs(), v));
    if (o.autoSample ?? true) {
      this.#timer = setInterval(() => this.#sampleSafely(), this.#sampleEveryMs);
      this.#timer.unref();
    }
  }

  sample(): MonitorSample {
    this.#runtime.publishMetrics?.();
    const now = this.#clock.nowMs();
    const stats = this.#runtime.stats();
    let eventsIn = 0;
    let late = 0;
    let entries = 0;
    let bytes = 0;
    for (const s of stats) {
      if (s.kind === 'source') eventsIn += s.recordsIn;
      for (const [port, n] of Object.entries(s.recordsOut)) if (port.startsWith('late')) late += n;
      entries += s.state.entries;
      bytes += s.state.bytes;
    }
    const wm = this.#watchedWatermark(stats);
    const latency = this.#latency.values(now, LATENCY_WINDOW_MS);
    const s: MonitorSample = {
      atMs: now,
      eventsInTotal: eventsIn,
      rowsOutTotal: this.metrics.read(EVENTS_OUT_METRIC) ?? 0,
      deadLettersTotal: this.metrics.read(DEAD_LETTERS_METRIC) ?? 0,
      lateEventsTotal: late,
      backpressureSecondsTotal: this.metrics.read('flowmark_backpressure_seconds_total') ?? 0,
      watermarkMs: wm,
      watermarkLagSeconds: wm !== null && Number.isFinite(wm) ? (now - wm) / 1000 : null,
      consumerLagRecords: this.metrics.read('flowmark_consumer_lag_records') ?? null,
      stateEntries: entries,
      stateBytes: bytes,
      lastCheckpointAtMs: this.#lastCheckpointAtMs(),
      checkpointId: this.#runtime.checkpointId,
      latencyP50Seconds: quantile(latency, 0.5),
      latencyP99Seconds: quantile(latency, 0.99),
    };
    const last = latest(this.#history);
    if (last !== undefined && last.atMs === now) this.#history[this.#history.length - 1] = s;
    else this.#history.push(s);
    while ((this.#history[0] as MonitorSample).atMs < now - this.#historyMs) this.#history.shift();
    if (this.#wm === undefined || !Object.is(wm, this.#wm)) {
      this.#wm = wm;
      this.#wmMovedAtMs = now;
    }
    this.#alerts.evaluate(this.#history, this.#ctx);
    this.#sampleError = undefined;
    return s;
  }

  history(): readonly MonitorSample[] {
    return this.#history;
  }

  status(): PipelineStatus {
    const s = this.#fresh();
    return {
      atMs: s.atMs,
      eventsInPerSecond: ratePerSecond(this.#history, (x) => x.eventsInTotal, this.#rateWindowMs) ?? 0,
      eventsInTotal: s.eventsInTotal,
      rowsOutTotal: s.rowsOutTotal,
      latencyP50Seconds: s.latencyP50Seconds,
      latencyP99Seconds: s.latencyP99Seconds,
      watermarkLagSeconds: s.watermarkLagSeconds,
      consumerLagRecords: s.consumerLagRecords,
      stateEntries: s.stateEntries,
      stateBytes: s.stateBytes,
      lateEventsTotal: s.lateEventsTotal,
      deadLettersTotal: s.deadLettersTotal,
      lastCheckpointAgeSeconds: s.lastCheckpointAtMs === null ? null : (s.atMs - s.lastCheckpointAtMs) / 1000,
      checkpointId: s.checkpointId,
    };
  }

  health(): HealthReport {
    const reasons: string[] = [];
    const s = this.#fresh();
    if (this.#sampleError !== undefined)
      reasons.push(`monitor: cannot read the pipeline's figures: ${this.#sampleError}`);
    const now = this.#clock.nowMs();
    for (const t of this.#runtime.health().troubles) reasons.push(troubleReason(t, now));
    const missed = ALERT_THRESHOLDS.missedCheckpoints;
    const interval = this.#ctx.checkpointHeartbeatMs;
    const lastCheckpointAtMs = this.#lastCheckpointAtMs();
    const age = now - (lastCheckpointAtMs ?? this.#ctx.startedAtMs);
    if (age > missed * interval) {
      reasons.push(
        lastCheckpointAtMs === null
          ? `checkpoints failing: none committed in the ${secs(age)} since monitoring started (expected at least every ${secs(interval)})`
          : `checkpoints failing: the last one (#${this.#runtime.checkpointId}) was committed ${secs(age)} ago (expected at least every ${secs(interval)}; unhealthy after ${missed} heartbeats)`,
      );
    }
    const stall = this.#stallReason(s, now);
    if (stall !== undefined) reasons.push(stall);
    return { ok: reasons.length === 0, reasons };
  }

  alerts(): ActiveAlert[] {
    this.#fresh();
    return this.#alerts.firing();
  }

  async metricsText(): Promise<string> {
    this.#runtime.publishMetrics?.();
    return this.metrics.metricsText();
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#unsubscribe();
  }

  /** When the last checkpoint was committed (read live: the runtime sets the gauge at each commit). */
  #lastCheckpointAtMs(): number | null {
    const seconds = this.metrics.read('flowmark_last_checkpoint_timestamp_seconds');
    return seconds === undefined ? null : seconds * 1000;
  }

  /** The last sample, or a new one when it is older than the sampling period. */
  #fresh(): MonitorSample {
    const last = latest(this.#history);
    if (last !== undefined && this.#clock.nowMs() - last.atMs < this.#sampleEveryMs) return last;
    const s = this.#sampleSafely();
    if (s !== undefined) return s;
    if (last !== undefined) return last;
    throw new Error(`the job monitor cannot read the pipeline's figures: ${this.#sampleError}`);
  }

  /** Samples; a failure is kept for /health instead of escaping from a timer as an uncaught exception. */
  #sampleSafely(): MonitorSample | undefined {
    try {
      return this.sample();
    } catch (err) {
      this.#sampleError = err instanceof Error ? err.message : String(err);
      return undefined;
    }
  }

  #watchedWatermark(stats: NodeStats[]): number | null {
    const watched = stats.find((s) => s.id === this.#watchedStep && s.kind !== 'source');
    this.#watchedFound = watched !== undefined;
    if (watched !== undefined) return watched.watermarkMs;
    const steps = stats.filter((s) => s.kind !== 'source');
    return steps.length === 0 ? null : Math.min(...steps.map((s) => s.watermarkMs));
  }

  #stallReason(s: MonitorSample, now: number): string | undefined {
    const wm = s.watermarkMs;
    if (wm === null || wm === MAX_WATERMARK) return undefined;
    const stillMs = now - this.#wmMovedAtMs;
    if (stillMs < this.#stallMs) return undefined;
    const arrived = increase(this.#history, (x) => x.eventsInTotal, this.#stallMs);
    const waiting = s.consumerLagRecords ?? 0;
    if (arrived <= 0 && waiting <= 0) return undefined; // a quiet input: nothing to move it
    const step = this.#watchedFound ? `of step ${this.#watchedStep}` : 'of the pipeline';
    const input = [
      arrived > 0 ? `${arrived} records were read in the last ${secs(this.#stallMs)}` : undefined,
      waiting > 0 ? `${waiting} records wait unread` : undefined,
    ]
      .filter((x) => x !== undefined)
      .join(' and ');
    return `watermark stalled: the watermark ${step} has stayed at ${formatEventTime(wm)} for ${secs(stillMs)} while ${input}`;
  }
}

function secs(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

function troubleReason(t: Trouble, nowMs: number): string {
  const what = t.what === 'checkpoint' ? 'committing checkpoints' : `step ${t.what}`;
  const detail = `${what} has failed for ${secs(nowMs - t.sinceMs)} (${t.attempts} attempts; last: ${t.code}: ${t.message}); retrying`;
  if (t.code === 'FM_PG_UNAVAILABLE') return `database unavailable: ${detail}`;
  if (t.what === 'checkpoint') return `checkpoints failing: ${detail}`;
  return `${t.what} failing: ${detail}`;
}
