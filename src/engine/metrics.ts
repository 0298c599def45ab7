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

/** The metrics the engine reports, created once per runtime. Names are the product's (docs/engine.md). */
export interface EngineMetrics {
  recordsIn: CounterHook;
  recordsOut: CounterHook;
  lateRecords: CounterHook;
  invalidRecords: CounterHook;
  watermarkMs: GaugeHook;
  watermarkLagSeconds: GaugeHook;
  stateEntries: GaugeHook;
  stateBytes: GaugeHook;
  checkpointDurationSeconds: HistogramHook;
  lastCheckpointTimestampSeconds: GaugeHook;
  backpressureSecondsTotal: CounterHook;
  commitRetries: CounterHook;
  eventsIn: CounterHook;
  eventsOut: CounterHook;
  endToEndLatencySeconds: HistogramHook;
  consumerLagRecords: GaugeHook;
}

/** Buckets of the end-to-end latency histogram (seconds): 1 ms to 1 min. */
export const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

export function engineMetrics(registry: MetricsRegistry): EngineMetrics {
  const op = ['operator'] as const;
  return {
    recordsIn: registry.counter('flowmark_operator_records_in_total', 'Records received by an operator', op),
    recordsOut: registry.counter('flowmark_operator_records_out_total', 'Records emitted by an operator, per output', [
      'operator',
      'output',
    ]),
    lateRecords: registry.counter(
      'flowmark_late_events_total',
      'Events that arrived behind the watermark of an operator (sent to its late output, then dead letters)',
      op,
    ),
    invalidRecords: registry.counter('flowmark_source_invalid_records_total', 'Records a source could not decode', [
      'source',
    ]),
    watermarkMs: registry.gauge('flowmark_operator_watermark_ms', 'Event-time watermark of an operator (ms)', op),
    watermarkLagSeconds: registry.gauge(
      'flowmark_watermark_lag_seconds',
      'Processing time minus the event-time watermark of an operator',
      op,
    ),
    stateEntries: registry.gauge('flowmark_state_entries', 'Entries in the state of an operator', op),
    stateBytes: registry.gauge('flowmark_state_bytes', 'Approximate bytes of the state of an operator', op),
    checkpointDurationSeconds: registry.histogram(
      'flowmark_checkpoint_duration_seconds',
      'Time to take and commit a checkpoint',
      [],
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    lastCheckpointTimestampSeconds: registry.gauge(
      'flowmark_last_checkpoint_timestamp_seconds',
      'When the last checkpoint was committed (Unix time, seconds)',
      [],
    ),
    backpressureSecondsTotal: registry.counter(
      'flowmark_backpressure_seconds_total',
      'Time the source loop waited for sinks or look-ups instead of reading',
      [],
    ),
    commitRetries: registry.counter(
      'flowmark_checkpoint_commit_retries_total',
      'Checkpoint commits that failed with a retriable error (database unavailable) and were tried again',
      [],
    ),
    eventsIn: registry.counter('flowmark_events_in_total', 'Records read from a source', ['source']),
    eventsOut: registry.counter('flowmark_events_out_total', 'Rows committed to a sink', ['sink']),
    endToEndLatencySeconds: registry.histogram(
      'flowmark_end_to_end_latency_seconds',
      'From arrival in the queue (append time) to the commit of the checkpoint that covers the record',
      [],
      LATENCY_BUCKETS,
    ),
    consumerLagRecords: registry.gauge(
      'flowmark_consumer_lag_records',
      'Records in a source not read yet (end of the queue minus the next offset)',
      ['source'],
    ),
  };
}
