/**
 * A real attribution job for the observability tests: generated shop traffic (with disorder, late,
 * duplicate and malformed lines) in a queue-like in-memory source, the attribution pipeline, and
 * the Prometheus binding of the engine's metrics.
 */

import type { TestContext } from 'node:test';
import { DEFAULT_ATTRIBUTION_OPTIONS } from '../../src/attribution/attribution-options.ts';
import { buildAttributionPipeline } from '../../src/attribution/attribution-pipeline.ts';
import type { ProductRow, UserRow } from '../../src/attribution/event-types.ts';
import { MemoryCommitter } from '../../src/connectors/memory/memory-committer.ts';
import { MemorySource } from '../../src/connectors/memory/memory-source.ts';
import {
  type CheckpointCommitter,
  type Clock,
  type LookupFn,
  type PollResult,
  Runtime,
  type SourceReader,
} from '../../src/engine/index.ts';
import { EventGenerator, generateCatalog } from '../../src/generator/index.ts';
import {
  createJobMonitor,
  createPrometheusMetrics,
  type JobMonitorOptions,
  type PrometheusMetrics,
  type RuntimeJobMonitor,
} from '../../src/observability/index.ts';

/**
 * A MemorySource seen as a queue: each record carries its arrival time (the clock when it was
 * polled; the end-to-end latency runs from there) and the reader knows its lag (records appended
 * and not read yet), as the log and Kafka readers do.
 */
export function queueReader<R>(src: MemorySource<R>, clock: Clock): SourceReader<R> & { lag(): number } {
  let read = 0;
  return {
    partitions: src.partitions,
    seek: (o) => src.seek(o),
    poll: async (max): Promise<PollResult<R>> => {
      const res = await src.poll(max);
      read += res.records.length;
      const now = clock.nowMs();
      return { ...res, records: res.records.map((r) => ({ ...r, timestampMs: now })) };
    },
    lag: () => src.length - read,
    commit: (o) => src.commit(o),
  };
}

const catalog = generateCatalog({ users: 80, products: 20, seed: 5 });

/** Generated event lines (clicks and checkouts, with some mess). */
export function shopLines(events = 3000, seed = 5): string[] {
  return [
    ...new EventGenerator(catalog, {
      events,
      seed,
      disorder: 0.2,
      maxDisorderMs: 10_000,
      late: 0.02,
      duplicates: 0.05,
      malformed: 0.02,
    }).lines(),
  ];
}

function mapLookup<V>(rows: ReadonlyMap<string, V>): LookupFn<V> {
  return async (keys) => new Map(keys.flatMap((k) => (rows.has(k) ? [[k, rows.get(k) as V] as const] : [])));
}

export const USERS = new Map<string, UserRow>(
  catalog.users.map((u) => [u.userId, { userId: u.userId, name: u.name, gender: u.gender }]),
);
export const PRODUCTS = new Map<string, ProductRow>(
  catalog.products.map((p) => [
    p.productId,
    {
      productId: p.productId,
      name: p.productName,
      category: p.category,
      price: p.price,
      commissionRate: p.commissionRate,
    },
  ]),
);

export interface ShopJobOptions {
  clock: Clock;
  /** The input; a bounded source of these lines by default. */
  source?: MemorySource<string>;
  lines?: string[];
  committer?: CheckpointCommitter;
  metrics?: PrometheusMetrics;
  checkpointIntervalMs?: number;
  checkpointEveryRecords?: number;
  users?: LookupFn<UserRow>;
}

export interface ShopJob {
  runtime: Runtime;
  metrics: PrometheusMetrics;
  committer: CheckpointCommitter;
  source: MemorySource<string>;
}

/** The attribution pipeline over shop traffic, with Prometheus metrics (not run yet). */
export function shopJob(o: ShopJobOptions): ShopJob {
  const source = o.source ?? MemorySource.of(o.lines ?? shopLines());
  const metrics = o.metrics ?? createPrometheusMetrics();
  const committer = o.committer ?? new MemoryCommitter();
  const pipeline = buildAttributionPipeline(
    { events: queueReader(source, o.clock) },
    { users: o.users ?? mapLookup(USERS), products: mapLookup(PRODUCTS) },
    DEFAULT_ATTRIBUTION_OPTIONS,
    o.clock,
  );
  const runtime = new Runtime(pipeline, {
    committer,
    clock: o.clock,
    metrics,
    checkpointIntervalMs: o.checkpointIntervalMs ?? 1000,
    checkpointEveryRecords: o.checkpointEveryRecords ?? 500,
  });
  return { runtime, metrics, committer, source };
}

/**
 * The job monitor of a test job, sampled by hand (no timer), closed after the test.
 * `checkpointIntervalMs` defaults to 1 000.
 */
export function monitorOf(
  t: TestContext,
  job: { runtime: JobMonitorOptions['runtime']; metrics: JobMonitorOptions['metrics'] },
  clock: JobMonitorOptions['clock'],
  checkpointIntervalMs = 1000,
): RuntimeJobMonitor {
  const monitor = createJobMonitor({
    runtime: job.runtime,
    clock,
    metrics: job.metrics,
    checkpointIntervalMs,
    autoSample: false,
  });
  t.after(() => monitor.close());
  return monitor;
}
