/**
 * What the job monitor records about the running pipeline once a second, and the few functions
 * over a history of such samples that the health check and the alert evaluators share (the
 * counterparts of PromQL's `rate`, `increase`, `deriv` and `changes` over a range).
 *
 * A history is ordered by time, oldest first; its last sample is "now".
 */

/** One reading of the pipeline's figures. Totals are cumulative since the process started. */
export interface MonitorSample {
  /** Processing time of the reading (ms since the epoch). */
  atMs: number;
  eventsInTotal: number;
  /** Rows committed to the sinks (all tables). */
  rowsOutTotal: number;
  /** Rows committed to the dead-letter sink. */
  deadLettersTotal: number;
  lateEventsTotal: number;
  /** Seconds the source loop waited for sinks or look-ups instead of reading. */
  backpressureSecondsTotal: number;
  /** Watermark of the watched step (may be ±∞); null when the pipeline has no step to watch. */
  watermarkMs: number | null;
  /** Processing time minus the watermark; null while the watermark is not finite. */
  watermarkLagSeconds: number | null;
  /** Records in the input not read yet, summed over sources; null when no source knows. */
  consumerLagRecords: number | null;
  stateEntries: number;
  stateBytes: number;
  /** When the last checkpoint was committed by this process; null before the first. */
  lastCheckpointAtMs: number | null;
  checkpointId: number;
  /** Quantiles of the end-to-end latency observations of the last minute; null when none. */
  latencyP50Seconds: number | null;
  latencyP99Seconds: number | null;
}

/** The last sample of a history (undefined when empty). */
export function latest(history: readonly MonitorSample[]): MonitorSample | undefined {
  return history[history.length - 1];
}

/**
 * The samples of the last `windowMs`, plus the one just before the window when there is one (the
 * starting point of an increase over the window). Empty when the history is.
 */
export function lastWindow(history: readonly MonitorSample[], windowMs: number): readonly MonitorSample[] {
  const now = latest(history);
  if (now === undefined) return [];
  const from = now.atMs - windowMs;
  let i = history.length - 1;
  while (i > 0 && (history[i - 1] as MonitorSample).atMs >= from) i--;
  if (i > 0) i--;
  return history.slice(i);
}

/** True when the history reaches back at least `windowMs` before its last sample. */
export function covers(history: readonly MonitorSample[], windowMs: number): boolean {
  const first = history[0];
  const now = latest(history);
  return first !== undefined && now !== undefined && now.atMs - first.atMs >= windowMs;
}

/** How much a cumulative figure grew over the last `windowMs` (0 with fewer than two samples). */
export function increase(
  history: readonly MonitorSample[],
  pick: (s: MonitorSample) => number,
  windowMs: number,
): number {
  const w = lastWindow(history, windowMs);
  const first = w[0];
  const last = w[w.length - 1];
  if (first === undefined || last === undefined || first === last) return 0;
  return Math.max(0, pick(last) - pick(first));
}

/**
 * Per-second growth of a cumulative figure over the last `windowMs` (PromQL `rate`); null with
 * fewer than two samples.
 */
export function ratePerSecond(
  history: readonly MonitorSample[],
  pick: (s: MonitorSample) => number,
  windowMs: number,
): number | null {
  const w = lastWindow(history, windowMs);
  const first = w[0];
  const last = w[w.length - 1];
  if (first === undefined || last === undefined || last.atMs <= first.atMs) return null;
  return Math.max(0, pick(last) - pick(first)) / ((last.atMs - first.atMs) / 1000);
}

/**
 * Least-squares slope (per second) of a figure over the samples of the last `windowMs` where it
 * is known (PromQL `deriv`); null with fewer than two such samples.
 */
export function slopePerSecond(
  history: readonly MonitorSample[],
  pick: (s: MonitorSample) => number | null,
  windowMs: number,
): number | null {
  const now = latest(history);
  if (now === undefined) return null;
  const points: [number, number][] = [];
  for (const s of history) {
    const v = pick(s);
    if (s.atMs >= now.atMs - windowMs && v !== null && Number.isFinite(v)) points.push([(s.atMs - now.atMs) / 1000, v]);
  }
  if (points.length < 2) return null;
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx === 0 ? null : sxy / sxx;
}

/**
 * The `q`-quantile (0..1) of `values` by nearest rank; null when there are none.
 *
 * @example quantile([0.1, 0.2, 0.3, 0.4], 0.5) // 0.2
 */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}
