/**
 * What every job runner shares, whatever its queue: the run's options, the dimension look-ups
 * (checked before anything is read), the runtime committed into the job's database, health lines
 * on stderr, and the dashboard around a live run. Only the CLI wires concrete connectors
 * (ARCHITECTURE §2).
 */
import { join } from 'node:path';
import { type AttributionOptions, attributionOptions } from '../../attribution/attribution-options.ts';
import type { Dimensions } from '../../attribution/attribution-pipeline.ts';
import { SINK_TABLES } from '../../attribution/output-schema.ts';
import {
  REFERENCE_TABLE_KINDS,
  type ReferenceTableKind,
  type ReferenceTables,
  referenceSinkTables,
} from '../../attribution/reference-tables.ts';
import { sqliteSegmentStore } from '../../connectors/local-state/index.ts';
import {
  checkDimensionTables,
  type ProductsTableSpec,
  productsLookup,
  type SqlClient,
  SqlCommitter,
  type UsersTableSpec,
  usersLookup,
} from '../../connectors/sql/index.ts';
import {
  type Clock,
  type HealthChange,
  type Pipeline,
  Runtime,
  type RuntimeHealth,
  systemClock,
} from '../../engine/index.ts';
import {
  createJobMonitor,
  type MonitoredRuntime,
  type PrometheusMetrics,
  type RuntimeJobMonitor,
} from '../../observability/index.ts';
import { type HttpServer, startHttpServer } from '../../server/index.ts';
import { type FlowmarkConfig, parsedDefault } from '../config/index.ts';

export interface PipelineRunOptions {
  attribution: AttributionOptions;
  clock: Clock;
  /** Treat the current end of the log as the end of input, finalize everything, and return. */
  drain: boolean;
  signal?: AbortSignal;
  /**
   * The least time between two checkpoints; default: that of `checkpoint.interval` in the
   * configuration schema.
   */
  checkpointIntervalMs?: number;
  /** Where users and products are read (flowmark's own tables by default) and how they are cached. */
  dimensions?: DimensionConfig;
  /** Told when the run starts or stops retrying an unavailable database (default: a line on stderr). */
  onHealth?: (health: RuntimeHealth, change: HealthChange) => void;
  /**
   * The reference deployments' tables to write too (drop-in: `output.tutorial_table`,
   * `output.insights_table`), in the same checkpoint transactions; none by default.
   */
  referenceTables?: ReferenceTables;
  /**
   * The time-bucketed state's memory budget and local directory (`state.*`); each job keeps its
   * segments in a sub-directory named after it. Absent: the state stays in memory.
   */
  state?: { memoryBudgetBytes: number; localDir: string };
  /** Called with the runtime once it is built (the demo reports its stats). */
  onRuntime?: (runtime: Runtime) => void;
  /**
   * Serve the dashboard, /api, /metrics and /health while the pipeline runs (ARCHITECTURE §2:
   * observability + server); `onServing` hears the URL once it listens (port 0: a free one).
   */
  serve?: { host: string; port: number; onServing?: (url: string) => void };
}

/** The default of `checkpoint.interval`, where the configuration schema declares it. */
const DEFAULT_CHECKPOINT_INTERVAL_MS = parsedDefault<number>('checkpoint.interval');

/** The checkpoint interval of a run: its own, or the configuration's default. */
export function checkpointIntervalOf(o: Pick<PipelineRunOptions, 'checkpointIntervalMs'>): number {
  return o.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
}

export interface DimensionConfig {
  users: UsersTableSpec;
  products: ProductsTableSpec;
  cacheEntries?: number;
  cacheTtlMs?: number;
}

/**
 * One line on stderr when something starts being retried and when it recovers: an outage of the
 * database is visible where the operator looks, without a line per attempt.
 */
export function logHealth(_health: RuntimeHealth, change: HealthChange): void {
  const t = change.trouble;
  const what = t.what === 'checkpoint' ? 'committing checkpoints' : `step ${t.what}`;
  if (change.kind === 'failing') {
    process.stderr.write(
      `flowmark: ${what} failed (${t.code}: ${t.message}); input is paused and nothing is acknowledged; retrying with backoff\n`,
    );
  } else {
    process.stderr.write(
      `flowmark: ${what} works again after ${(change.downMs / 1000).toFixed(1)} s and ${t.attempts} failed attempts; resuming\n`,
    );
  }
}

/**
 * The users and products look-ups of a job, after checking that their tables can be read (before
 * anything is read from the input). Unless configured otherwise, users and products are
 * flowmark's own tables, in its schema.
 */
export async function checkedDimensions(
  db: SqlClient,
  schema: string,
  configured: DimensionConfig | undefined,
): Promise<Dimensions> {
  const given = configured ?? { users: {}, products: {} };
  const dims = {
    ...given,
    users: { schema, ...given.users },
    products: { schema, ...given.products },
  };
  await checkDimensionTables(db, dims);
  return {
    users: usersLookup(db, dims.users),
    products: productsLookup(db, dims.products),
    ...(dims.cacheEntries === undefined ? {} : { cacheEntries: dims.cacheEntries }),
    ...(dims.cacheTtlMs === undefined ? {} : { cacheTtlMs: dims.cacheTtlMs }),
  };
}

/**
 * The runtime of one job: its pipeline committed into `checkpoints` row `job` of the stores'
 * schema (one transaction per checkpoint), with the run's clock, interval and health reporting.
 */
export function jobRuntime(
  stores: { db: SqlClient; schema: string },
  job: string,
  pipeline: Pipeline,
  o: Pick<PipelineRunOptions, 'clock' | 'checkpointIntervalMs' | 'onHealth' | 'referenceTables' | 'state'>,
  metrics: PrometheusMetrics | undefined,
): Runtime {
  const sinks = { ...SINK_TABLES, ...referenceSinkTables(o.referenceTables ?? {}) };
  return new Runtime(pipeline, {
    committer: new SqlCommitter(stores.db, { schema: stores.schema, job, sinks }),
    clock: o.clock,
    pollMaxRecords: 4096,
    checkpointIntervalMs: checkpointIntervalOf(o),
    onHealth: o.onHealth ?? logHealth,
    ...(metrics === undefined ? {} : { metrics }),
    ...(o.state === undefined
      ? {}
      : {
          state: {
            memoryBudgetBytes: o.state.memoryBudgetBytes,
            dir: join(o.state.localDir, encodeURIComponent(job)),
            segments: sqliteSegmentStore,
            log: (line: string) => process.stderr.write(`${line}\n`),
          },
        }),
  });
}

/** The kinds of reference table a run writes (the pipeline's extra sinks). */
export function referenceKinds(o: Pick<PipelineRunOptions, 'referenceTables'>): ReferenceTableKind[] {
  return REFERENCE_TABLE_KINDS.filter((k) => o.referenceTables?.[k] !== undefined);
}

/** The dashboard, /metrics and /health of a live run. */
export interface Dashboard {
  close(): Promise<void>;
}

/**
 * Serves the dashboard over `runtime` (a Runtime, or the combined view of a Kafka worker's) when
 * the run asks for it (`serve`, with the registry its runtimes were given); undefined otherwise.
 */
export async function serveDashboard(
  stores: { db: SqlClient; schema: string },
  runtime: MonitoredRuntime,
  metrics: PrometheusMetrics | undefined,
  o: Pick<PipelineRunOptions, 'serve' | 'clock' | 'checkpointIntervalMs' | 'attribution'>,
): Promise<Dashboard | undefined> {
  if (o.serve === undefined || metrics === undefined) return undefined;
  const monitor: RuntimeJobMonitor = createJobMonitor({
    runtime,
    clock: o.clock,
    metrics,
    checkpointIntervalMs: checkpointIntervalOf(o),
  });
  let server: HttpServer;
  try {
    server = await startHttpServer({
      host: o.serve.host,
      port: o.serve.port,
      monitor,
      db: stores.db,
      schema: stores.schema,
      // The summary's horizon is the pipeline's: events further ahead are dead letters there.
      summary: { maxFutureSkewMs: o.attribution.maxFutureSkewMs },
      log: (line) => process.stderr.write(`flowmark: dashboard: ${line}\n`),
    });
  } catch (err) {
    monitor.close();
    throw err;
  }
  o.serve.onServing?.(server.url);
  return {
    close: async () => {
      await server.close();
      monitor.close();
    },
  };
}

/** The options of a job in any mode; `onRuntime` hears the runtime (or a Kafka worker's combined view). */
export interface JobRunOptions extends Omit<PipelineRunOptions, 'onRuntime'> {
  onRuntime?: (view: MonitoredRuntime) => void;
}

/**
 * The options of a job of `config`: `live` (provisional rows, until stopped, serving the
 * dashboard) or a drain (a batch that ends by itself: it serves nothing).
 */
export function jobOptions(
  config: FlowmarkConfig,
  o: { live: boolean; signal: AbortSignal; onServing?: (url: string) => void },
): JobRunOptions {
  return {
    attribution: attributionOptions({ ...config.attribution, provisional: o.live }),
    clock: systemClock,
    drain: !o.live,
    signal: o.signal,
    checkpointIntervalMs: config.checkpoint.intervalMs,
    state: {
      memoryBudgetBytes: config.state.memoryBudgetBytes,
      localDir: config.state.localDir ?? join(config.dataDir, 'state'),
    },
    dimensions: config.dimensions,
    referenceTables: config.output,
    ...(o.live
      ? {
          serve: {
            host: config.server.host,
            port: config.server.port,
            ...(o.onServing ? { onServing: o.onServing } : {}),
          },
        }
      : {}),
  };
}
