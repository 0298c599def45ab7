/**
 * The attribution job over flowmark's own log (`log/` in the data directory, topics `clicks` and
 * `checkouts`) into the database of `job-stores.ts` (PGlite in the data directory, or a
 * PostgreSQL server), with the dashboard server around a live run. `import` fills the log, `run`
 * and `demo` run the pipeline. Only the CLI wires concrete connectors (ARCHITECTURE §2).
 */
import { realpathSync } from 'node:fs';
import type { AttributionOptions } from '../attribution/attribution-options.ts';
import { buildAttributionPipeline, type Dimensions, SINK } from '../attribution/attribution-pipeline.ts';
import { SINK_TABLES } from '../attribution/output-schema.ts';
import {
  type LogDamage,
  type LogDirectory,
  LogProducer,
  LogSource,
  offsetsOf,
  partitionForKey,
} from '../connectors/log/index.ts';
import {
  checkDimensionTables,
  type ProductsTableSpec,
  productsLookup,
  type SqlClient,
  SqlCommitter,
  type UsersTableSpec,
  usersLookup,
} from '../connectors/sql/index.ts';
import {
  type Clock,
  type HealthChange,
  type Pipeline,
  type RunSummary,
  Runtime,
  type RuntimeHealth,
} from '../engine/index.ts';
import {
  createJobMonitor,
  createPrometheusMetrics,
  type MonitoredRuntime,
  type PrometheusMetrics,
  type RuntimeJobMonitor,
} from '../observability/index.ts';
import { type HttpServer, startHttpServer } from '../server/index.ts';
import type { ImportQueue } from './event-import.ts';
import { type JobStores, openStores, TOPICS } from './job-stores.ts';

export { TOPIC_PARTITIONS, TOPICS } from './job-stores.ts';

/** The checkpoint row of the attribution job in `flowmark.checkpoints`. */
export const JOB = 'attribution';

/** Opens (creating on first use) the log and PGlite of a data directory. */
export function openEmbedded(dataDir: string): Promise<JobStores> {
  return openStores({ dataDir });
}

/**
 * Routes one raw line to its topic by its `type` (or its id field), keyed by user id so that a
 * user's clicks and checkouts share a partition number. Parsing proper happens in the pipeline,
 * as with Kafka; a line that cannot be routed is returned as a reason instead.
 */
export function routeLine(
  line: string,
): { topic: string; key: string | undefined } | { reason: string; detail: string } {
  let e: unknown;
  try {
    e = JSON.parse(line.charCodeAt(0) === 0xfeff ? line.slice(1) : line);
  } catch (err) {
    return { reason: 'malformed_json', detail: `not JSON: ${(err as Error).message}` };
  }
  if (typeof e !== 'object' || e === null || Array.isArray(e)) {
    return { reason: 'malformed_json', detail: 'a line must be a JSON object' };
  }
  const o = e as Record<string, unknown>;
  // As lenient as the parser: the type in any case, with spaces around it.
  const type =
    typeof o.type === 'string'
      ? o.type.trim().toLowerCase()
      : (o.type ?? ('checkout_id' in o ? 'checkout' : 'click_id' in o ? 'click' : undefined));
  const key = o.user_id === undefined || o.user_id === null ? undefined : String(o.user_id);
  if (type === 'click') return { topic: TOPICS.clicks, key };
  if (type === 'checkout') return { topic: TOPICS.checkouts, key };
  return {
    reason: 'unknown_type',
    detail: `"type" must be "click" or "checkout" (or the line must have click_id or checkout_id), got ${JSON.stringify(type)}`,
  };
}

/**
 * The log of a data directory as the queue of `import` (src/cli/event-import.ts): a line goes to
 * the partition of its user id (or, without one, of its line number, so that a resumed import
 * knows where it went); a resumed import reads the records after the recorded end offsets to
 * recognise the lines the stopped one had appended.
 */
export function logImportQueue(log: LogDirectory): ImportQueue & { close(): void } {
  const producer = new LogProducer(log);
  const place = (topic: string, key: string | undefined, lineNo: number) => {
    const n = log.topic(topic).partitions.length;
    return key === undefined ? lineNo % n : partitionForKey(key, n);
  };
  const readers = new Map<string, { source: LogSource; records: string[]; next: number; diverged: boolean }>();
  return {
    scope: `log ${realpathSync(log.dir)}`,
    maxRecordBytes: log.options.maxRecordBytes,
    append(topic, line, key, lineNo) {
      producer.appendToPartition(topic, place(topic, key, lineNo), line);
    },
    flush: () => producer.flush(),
    ends: () =>
      Object.fromEntries(
        Object.values(TOPICS).map((t) => [
          t,
          Object.fromEntries([...log.endOffsets(t)].map(([p, o]) => [String(p), o])),
        ]),
      ),
    alreadyThere(topic, line, key, lineNo, ends) {
      const p = place(topic, key, lineNo);
      const id = `${topic}/${p}`;
      let r = readers.get(id);
      if (r === undefined) {
        // Not registered as a consumer: retention must not keep segments for it.
        const source = new LogSource(log, topic, { partitions: [p], register: false });
        source.seek(new Map([[p, ends[topic]?.[String(p)] ?? 0]]));
        r = { source, records: [], next: 0, diverged: false };
        readers.set(id, r);
      }
      if (r.diverged) return false;
      if (r.next >= r.records.length) {
        r.records = r.source.poll(1024).records.map((x) => x.value);
        r.next = 0;
      }
      if (r.next < r.records.length && r.records[r.next] === line) {
        r.next++;
        return true;
      }
      // Past what the stopped import appended: from here on every line of this partition is new.
      r.diverged = true;
      r.source.close();
      return false;
    },
    close() {
      for (const r of readers.values()) r.source.close();
    },
  };
}

/**
 * Tells stderr, once per region, of damage in the log (issue 12): in records every consumer has
 * processed it is history, skipped; in others the run will stop there, and `flowmark log repair`
 * is the remedy. A region is told once (the open and a reader may both find it).
 */
export function damageWarner(log: LogDirectory): (d: LogDamage, command: string) => void {
  const told = new Set<string>();
  return (d, command) => {
    const id = `${d.file}:${d.position}`;
    if (told.has(id)) return;
    told.add(id);
    const committed = log.minCommitted(d.topic).get(d.partition);
    const history = committed !== undefined && d.endOffset <= committed;
    const what = `log topic ${d.topic} partition ${d.partition}: ${offsetsOf(d)} damaged (${d.problem} at byte ${d.position} of ${d.file})`;
    process.stderr.write(
      history
        ? `flowmark ${command}: warning: ${what}; already processed, so skipped. \`flowmark log repair\` quarantines it; \`flowmark log check\` lists all damage.\n`
        : `flowmark ${command}: warning: ${what}; not processed yet: \`flowmark run\` will stop there. Run \`flowmark log repair\` to quarantine it (a dead letter keeps its bytes) and keep every later record.\n`,
    );
  };
}

export interface PipelineRunOptions {
  attribution: AttributionOptions;
  clock: Clock;
  /** Treat the current end of the log as the end of input, finalize everything, and return. */
  drain: boolean;
  signal?: AbortSignal;
  checkpointIntervalMs?: number;
  /** Where users and products are read (flowmark's own tables by default) and how they are cached. */
  dimensions?: DimensionConfig;
  /** Told when the run starts or stops retrying an unavailable database (default: a line on stderr). */
  onHealth?: (health: RuntimeHealth, change: HealthChange) => void;
  /** Called with the runtime once it is built (the demo reports its stats). */
  onRuntime?: (runtime: Runtime) => void;
  /**
   * Serve the dashboard, /api, /metrics and /health while the pipeline runs (ARCHITECTURE §2:
   * observability + server); `onServing` hears the URL once it listens (port 0: a free one).
   */
  serve?: { host: string; port: number; onServing?: (url: string) => void };
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
  o: Pick<PipelineRunOptions, 'clock' | 'checkpointIntervalMs' | 'onHealth'>,
  metrics: PrometheusMetrics | undefined,
): Runtime {
  return new Runtime(pipeline, {
    committer: new SqlCommitter(stores.db, { schema: stores.schema, job, sinks: SINK_TABLES }),
    clock: o.clock,
    pollMaxRecords: 4096,
    checkpointIntervalMs: o.checkpointIntervalMs ?? 250,
    onHealth: o.onHealth ?? logHealth,
    ...(metrics === undefined ? {} : { metrics }),
  });
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
  o: Pick<PipelineRunOptions, 'serve' | 'clock'>,
  checkpointIntervalMs: number,
): Promise<Dashboard | undefined> {
  if (o.serve === undefined || metrics === undefined) return undefined;
  const monitor: RuntimeJobMonitor = createJobMonitor({ runtime, clock: o.clock, metrics, checkpointIntervalMs });
  let server: HttpServer;
  try {
    server = await startHttpServer({
      host: o.serve.host,
      port: o.serve.port,
      monitor,
      db: stores.db,
      schema: stores.schema,
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

/**
 * Runs the attribution pipeline over the log into the database, exactly once (one transaction
 * per checkpoint). The dimension tables are checked before anything is read.
 */
export async function runAttribution(stores: JobStores, o: PipelineRunOptions): Promise<RunSummary> {
  const lookups = await checkedDimensions(stores.db, stores.schema, o.dimensions);
  const warn = damageWarner(stores.log);
  for (const d of stores.log.damaged) warn(d, 'run');
  const onDamage = (d: LogDamage) => warn(d, 'run');
  const sources = {
    clicks: new LogSource(stores.log, TOPICS.clicks, { endAtOpen: o.drain, consumer: JOB, onDamage }),
    checkouts: new LogSource(stores.log, TOPICS.checkouts, { endAtOpen: o.drain, consumer: JOB, onDamage }),
  };
  const pipeline = buildAttributionPipeline(sources, lookups, o.attribution, o.clock);
  const metrics = o.serve === undefined ? undefined : createPrometheusMetrics();
  const checkpointIntervalMs = o.checkpointIntervalMs ?? 250;
  const runtime = jobRuntime(stores, JOB, pipeline, o, metrics);
  o.onRuntime?.(runtime);
  let dashboard: Dashboard | undefined;
  try {
    dashboard = await serveDashboard(stores, runtime, metrics, o, checkpointIntervalMs);
    return await runtime.run(o.signal === undefined ? {} : { signal: o.signal });
  } finally {
    await dashboard?.close();
    await runtime.close();
  }
}

export { SINK };
