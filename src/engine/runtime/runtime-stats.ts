import type { EngineMetrics } from '../metrics.ts';
import type { NodeKind } from '../operator.ts';
import type { StateSize } from '../state/state-table.ts';
import type { Clock } from '../time.ts';
import type { RuntimeNode } from './graph.ts';
import type { SourceRunner } from './source-runner.ts';

/** Per-step counters, watermark and state size, as `Runtime.stats()` gives them. */
export interface NodeStats {
  id: string;
  kind: NodeKind;
  inputs: string[];
  recordsIn: number;
  recordsOut: Record<string, number>;
  watermarkMs: number;
  idle: boolean;
  state: StateSize;
  details: Record<string, unknown>;
}

/**
 * Arrival times of the records of one checkpoint, for the end-to-end latency histogram: at most
 * {@link ArrivalSample.CAPACITY} values. When full, every other value is dropped and from then on
 * only every 2nd (4th, …) arrival is kept, so the sample stays spread evenly over the checkpoint.
 */
export class ArrivalSample {
  static readonly CAPACITY = 2048;
  readonly #times = new Float64Array(ArrivalSample.CAPACITY);
  #size = 0;
  #stride = 1;
  #seen = 0;
  add(timeMs: number): void {
    if (this.#seen++ % this.#stride !== 0) return;
    if (this.#size === ArrivalSample.CAPACITY) {
      for (let i = 0; i < this.#size / 2; i++) this.#times[i] = this.#times[2 * i] as number;
      this.#size /= 2;
      this.#stride *= 2;
      if ((this.#seen - 1) % this.#stride !== 0) return;
    }
    this.#times[this.#size++] = timeMs;
  }
  forEach(fn: (timeMs: number) => void): void {
    for (let i = 0; i < this.#size; i++) fn(this.#times[i] as number);
  }
}

/** What a committed checkpoint reports to the metrics. */
export interface CommittedCheckpoint {
  /** Sink id → the rows the checkpoint wrote. */
  outputs: ReadonlyMap<string, readonly unknown[]>;
  /** Arrival times of the records it covers. */
  arrivals: ArrivalSample;
  /** Processing time when it was cut. */
  startedMs: number;
}

/**
 * The runtime's statistics and metrics: per-step figures for the dashboard (`stats()`), and the
 * engine's metrics (metrics.ts) — counters as deltas since the last publication, gauges as they
 * are, and what each committed checkpoint and each back-pressure wait adds. It reads the graph
 * and the sources; it changes nothing in them.
 */
export class RuntimeStats {
  readonly #nodes: readonly RuntimeNode[];
  readonly #sources: readonly SourceRunner[];
  readonly #metrics: EngineMetrics;
  readonly #clock: Clock;
  /** The counter values last published, per series, so that each publication adds the delta. */
  readonly #published = new Map<string, number>();

  constructor(nodes: readonly RuntimeNode[], sources: readonly SourceRunner[], metrics: EngineMetrics, clock: Clock) {
    this.#nodes = nodes;
    this.#sources = sources;
    this.#metrics = metrics;
    this.#clock = clock;
  }

  /** Per-step counters, watermarks and state sizes (for the dashboard and tests). */
  stats(): NodeStats[] {
    return this.#nodes.map((node) => {
      let entries = 0;
      let bytes = 0;
      for (const t of [...node.tables.values(), ...node.chunkedTables.values()]) {
        const s = t.measure();
        entries += s.entries;
        bytes += s.bytes;
      }
      return {
        id: node.spec.id,
        kind: node.spec.kind,
        inputs: node.spec.inputs.map((r) => (r.port === 'out' ? r.node : `${r.node}.${r.port}`)),
        recordsIn: node.recordsIn,
        recordsOut: node.recordsOut,
        watermarkMs: node.spec.kind === 'source' ? node.outWm : node.wm,
        idle: node.idle,
        state: { entries, bytes },
        details: node.operator?.describe?.() ?? {},
      };
    });
  }

  /** The loop waited `seconds` for a checkpoint or a drain before reading on. */
  backpressured(seconds: number): void {
    this.#metrics.backpressureSecondsTotal.inc({}, seconds);
  }

  /** A commit failed with a retriable error and is tried again. */
  commitRetried(): void {
    this.#metrics.commitRetries.inc({});
  }

  /** A checkpoint was committed and acknowledged: rows out, latency, duration; then publishes. */
  checkpointCommitted(cp: CommittedCheckpoint): void {
    const m = this.#metrics;
    const now = this.#clock.nowMs();
    for (const [sink, rows] of cp.outputs) {
      if (rows.length > 0) m.eventsOut.inc({ sink }, rows.length);
    }
    const latency = m.endToEndLatencySeconds;
    cp.arrivals.forEach((t) => {
      latency.observe({}, Math.max(0, now - t) / 1000);
    });
    m.lastCheckpointTimestampSeconds.set({}, now / 1000);
    m.checkpointDurationSeconds.observe({}, (now - cp.startedMs) / 1000);
    this.publish();
  }

  /** Pushes the current counters and gauges to the metrics registry. */
  publish(): void {
    const m = this.#metrics;
    const now = this.#clock.nowMs();
    for (const src of this.#sources) {
      const lag = src.reader.lag?.();
      if (lag !== undefined) m.consumerLagRecords.set({ source: src.id }, lag);
    }
    const delta = (id: string, value: number): number => {
      const prev = this.#published.get(id) ?? 0;
      this.#published.set(id, value);
      return value - prev;
    };
    this.stats().forEach((s, i) => {
      const op = { operator: s.id };
      m.recordsIn.inc(op, delta(`in:${s.id}`, s.recordsIn));
      // By the port's role, not its name: `lateLeft` is as late as `late`.
      for (const port of (this.#nodes[i] as RuntimeNode).spec.ports) {
        const d = delta(`out:${s.id}:${port.name}`, s.recordsOut[port.name] ?? 0);
        m.recordsOut.inc({ operator: s.id, output: port.name }, d);
        if (port.role === 'late') m.lateRecords.inc(op, d);
        else if (port.role === 'invalid') m.invalidRecords.inc({ source: s.id }, d);
      }
      if (Number.isFinite(s.watermarkMs)) m.watermarkMs.set(op, s.watermarkMs);
      m.stateEntries.set(op, s.state.entries);
      m.stateBytes.set(op, s.state.bytes);
      if (s.kind === 'source') m.eventsIn.inc({ source: s.id }, delta(`events:${s.id}`, s.recordsIn));
      else if (Number.isFinite(s.watermarkMs)) m.watermarkLagSeconds.set(op, (now - s.watermarkMs) / 1000);
    });
  }
}
