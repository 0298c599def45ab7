/**
 * One view over several runtimes of the same pipeline (a Kafka worker runs one per partition it
 * owns), so that the job monitor, /health and the dashboard see the worker as one job: counts
 * are summed per step, a step's watermark is the least over the runtimes (the figure that holds
 * results back), troubles of every runtime are reported.
 */
import {
  type Clock,
  type EngineMetrics,
  engineMetrics,
  type MetricsRegistry,
  type NodeStats,
  type RuntimeHealth,
} from '../engine/index.ts';
import type { MonitoredRuntime } from './job-monitor.ts';

/** What is read of each runtime. */
export interface CombinableRuntime extends MonitoredRuntime {
  stats(): NodeStats[];
}

/** Where the combined gauges go: the registry the runtimes share. */
export interface CombinedMetrics {
  registry: MetricsRegistry;
  clock: Clock;
  /** Records not read yet per source id, over all the runtimes' readers. */
  consumerLag?: () => ReadonlyMap<string, number>;
}

/**
 * @param runtimes read at every call: the set changes as partitions move between workers.
 * @param metrics the registry the runtimes share: each runtime sets the per-step gauges (state
 *   entries, watermark, consumer lag) to its own figure, so after they publish, the view sets
 *   them again to the combined figures. Counters add up by themselves.
 *
 * @example
 * const view = combinedRuntime(() => [...jobs.values()].map((j) => j.runtime), { registry, clock });
 * createJobMonitor({ runtime: view, clock, metrics, checkpointIntervalMs });
 */
export function combinedRuntime(
  runtimes: () => readonly CombinableRuntime[],
  metrics?: CombinedMetrics,
): MonitoredRuntime {
  let gauges: EngineMetrics | undefined;
  return {
    stats: () => combineStats(runtimes().map((r) => r.stats())),
    health: (): RuntimeHealth => {
      const troubles = runtimes().flatMap((r) => r.health().troubles);
      return { ok: troubles.length === 0, troubles };
    },
    get checkpointId(): number {
      // Moves whenever any of the runtimes commits: the monitor's "checkpoint age" needs that.
      return runtimes().reduce((n, r) => n + r.checkpointId, 0);
    },
    publishMetrics: () => {
      const all = runtimes();
      for (const r of all) r.publishMetrics?.();
      if (metrics === undefined || all.length === 0) return;
      gauges ??= engineMetrics(metrics.registry);
      const now = metrics.clock.nowMs();
      for (const s of combineStats(all.map((r) => r.stats()))) {
        const op = { operator: s.id };
        if (Number.isFinite(s.watermarkMs)) gauges.watermarkMs.set(op, s.watermarkMs);
        gauges.stateEntries.set(op, s.state.entries);
        gauges.stateBytes.set(op, s.state.bytes);
        if (s.kind !== 'source' && Number.isFinite(s.watermarkMs)) {
          gauges.watermarkLagSeconds.set(op, (now - s.watermarkMs) / 1000);
        }
      }
      for (const [source, lag] of metrics.consumerLag?.() ?? []) gauges.consumerLagRecords.set({ source }, lag);
    },
  };
}

/** Sums the stats of the same steps over several runtimes. */
export function combineStats(all: readonly (readonly NodeStats[])[]): NodeStats[] {
  const byId = new Map<string, NodeStats>();
  for (const stats of all) {
    for (const s of stats) {
      const acc = byId.get(s.id);
      if (acc === undefined) {
        byId.set(s.id, { ...s, recordsOut: { ...s.recordsOut }, state: { ...s.state }, details: { ...s.details } });
        continue;
      }
      acc.recordsIn += s.recordsIn;
      for (const [k, v] of Object.entries(s.recordsOut)) acc.recordsOut[k] = (acc.recordsOut[k] ?? 0) + v;
      acc.watermarkMs = Math.min(acc.watermarkMs, s.watermarkMs);
      acc.idle = acc.idle && s.idle;
      acc.state.entries += s.state.entries;
      acc.state.bytes += s.state.bytes;
    }
  }
  return [...byId.values()];
}
