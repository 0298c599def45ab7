/**
 * Metric hooks. The engine reports through these small interfaces, shaped like prom-client's,
 * so that the observability layer can bind them to Prometheus without the engine depending on it.
 * The default registry discards everything.
 */
export type Labels = Readonly<Record<string, string>>;

export interface CounterHook {
  inc(labels: Labels, value?: number): void;
}
export interface GaugeHook {
  set(labels: Labels, value: number): void;
}
export interface HistogramHook {
  observe(labels: Labels, value: number): void;
}

export interface MetricsRegistry {
  counter(name: string, help: string, labelNames: readonly string[]): CounterHook;
  gauge(name: string, help: string, labelNames: readonly string[]): GaugeHook;
  histogram(name: string, help: string, labelNames: readonly string[], buckets?: readonly number[]): HistogramHook;
}

const noop = { inc() {}, set() {}, observe() {} };

/** A registry that records nothing. */
export const noopMetrics: MetricsRegistry = {
  counter: () => noop,
  gauge: () => noop,
  histogram: () => noop,
};

/** The metrics the engine reports, created once per runtime. */
export interface EngineMetrics {
  recordsIn: CounterHook;
  recordsOut: CounterHook;
  lateRecords: CounterHook;
  invalidRecords: CounterHook;
  watermarkMs: GaugeHook;
  stateEntries: GaugeHook;
  stateBytes: GaugeHook;
  checkpointDurationSeconds: HistogramHook;
  checkpointBytes: GaugeHook;
  backpressureSecondsTotal: CounterHook;
  commitRetries: CounterHook;
}

export function engineMetrics(registry: MetricsRegistry): EngineMetrics {
  return {
    recordsIn: registry.counter('flowmark_operator_records_in_total', 'Records received by an operator', ['operator']),
    recordsOut: registry.counter('flowmark_operator_records_out_total', 'Records emitted by an operator, per output', [
      'operator',
      'output',
    ]),
    lateRecords: registry.counter('flowmark_operator_late_records_total', 'Records sent to a late output', [
      'operator',
    ]),
    invalidRecords: registry.counter('flowmark_source_invalid_records_total', 'Records a source could not decode', [
      'source',
    ]),
    watermarkMs: registry.gauge('flowmark_operator_watermark_ms', 'Event-time watermark of an operator (ms)', [
      'operator',
    ]),
    stateEntries: registry.gauge('flowmark_operator_state_entries', 'Entries in an operator state', ['operator']),
    stateBytes: registry.gauge('flowmark_operator_state_bytes', 'Approximate bytes of an operator state', ['operator']),
    checkpointDurationSeconds: registry.histogram(
      'flowmark_engine_checkpoint_duration_seconds',
      'Time to take and commit a checkpoint',
      [],
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
    ),
    checkpointBytes: registry.gauge(
      'flowmark_engine_checkpoint_bytes',
      'Encoded size of the last checkpoint delta',
      [],
    ),
    backpressureSecondsTotal: registry.counter(
      'flowmark_engine_backpressure_seconds_total',
      'Time the source loop waited for sinks or lookups',
      [],
    ),
    commitRetries: registry.counter(
      'flowmark_checkpoint_commit_retries_total',
      'Checkpoint commits that failed with a retriable error (database unavailable) and were tried again',
      [],
    ),
  };
}
