/**
 * What the HTTP server and the dashboard read about a running pipeline. The observability layer
 * implements it (job-monitor.ts) over the runtime; the server only depends on this shape.
 */

/** The pipeline's own health figures, as the dashboard shows them. Null: not known yet. */
export interface PipelineStatus {
  /** Processing time of this snapshot (ms since the epoch). */
  atMs: number;
  /** Events read per second, over the last few seconds. */
  eventsInPerSecond: number;
  eventsInTotal: number;
  /** Rows committed to the sinks (all tables). */
  rowsOutTotal: number;
  /** Arrival in the queue → durable in the database, over the last minute. */
  latencyP50Seconds: number | null;
  latencyP99Seconds: number | null;
  /** Processing time minus the watermark of the attribution step. */
  watermarkLagSeconds: number | null;
  /** Records in the input not read yet. */
  consumerLagRecords: number | null;
  stateEntries: number;
  stateBytes: number;
  lateEventsTotal: number;
  deadLettersTotal: number;
  /** Seconds since the last committed checkpoint. */
  lastCheckpointAgeSeconds: number | null;
  checkpointId: number;
}

/** 200 when `ok`; else 503 with the reasons (database down, watermark stalled, checkpoints failing). */
export interface HealthReport {
  ok: boolean;
  reasons: string[];
}

export interface ActiveAlert {
  /** The rule's name, as in deploy/prometheus (e.g. `FlowmarkEndToEndLatencyHigh`). */
  name: string;
  severity: 'warning' | 'critical';
  summary: string;
  /** Processing time when the rule started firing. */
  sinceMs: number;
}

export interface JobMonitor {
  status(): PipelineStatus;
  health(): HealthReport;
  alerts(): ActiveAlert[];
  /** The Prometheus text exposition of every metric (flowmark's and Node's process metrics). */
  metricsText(): Promise<string>;
  /** The Content-Type of `metricsText()`. */
  readonly metricsContentType: string;
}
