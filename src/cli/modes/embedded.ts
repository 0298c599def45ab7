/**
 * The embedded mode: flowmark's own log (`log/` in the data directory, topics `clicks` and
 * `checkouts`) as the queue of events, and the job that follows it into the database (PGlite in
 * the same directory, or a PostgreSQL server). `import` and `demo` fill the log; `run` and
 * `demo` run the pipeline over it. The log and the database are opened together: PGlite allows
 * one process at a time, so a data dir is one command's at a time.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildAttributionPipeline } from '../../attribution/attribution-pipeline.ts';
import type { EventKind } from '../../attribution/events/index.ts';
import {
  type LogDamage,
  LogDirectory,
  LogProducer,
  LogSource,
  offsetsOf,
  partitionForKey,
} from '../../connectors/log/index.ts';
import { FlowmarkError, type RunSummary } from '../../engine/index.ts';
import { createPrometheusMetrics } from '../../observability/index.ts';
import { checkWritableDirectory, dataDirPath } from '../cli-paths.ts';
import type { FlowmarkConfig } from '../config/index.ts';
import type { EventQueue } from '../event-queue.ts';
import { type DatabaseChoice, type JobDatabase, pgliteDatabase, type ShopTables } from './database.ts';
import {
  checkedDimensions,
  type Dashboard,
  jobRuntime,
  type PipelineRunOptions,
  referenceKinds,
  serveDashboard,
} from './job-kit.ts';
import type { Mode, ModeSession } from './mode.ts';

export const TOPICS = { clicks: 'clicks', checkouts: 'checkouts' } as const;
/** Partitions of each topic: clicks and checkouts are co-partitioned by user id. */
export const TOPIC_PARTITIONS = 4;

/** The checkpoint row of the attribution job in `flowmark.checkpoints`. */
export const JOB = 'attribution';

export interface StoreConfig {
  dataDir: string;
  /** `keep`: the log deletes nothing; otherwise fully consumed segments are deleted (the default). */
  log?: { retention: 'consumed' | 'keep' };
  /** The shop's users and products tables, checked before flowmark writes anything. */
  dimensions?: ShopTables;
}

/** The log of a data dir and the job's database, open together. */
export interface JobStores extends JobDatabase {
  log: LogDirectory;
}

/**
 * Opens (creating on first use) the log of the data dir and `database` (default: PGlite in the
 * same dir), migrated.
 */
export async function openStores(
  config: StoreConfig,
  database: DatabaseChoice = pgliteDatabase(config.dataDir),
): Promise<JobStores> {
  const log = LogDirectory.open(join(config.dataDir, 'log'), { deleteConsumed: config.log?.retention !== 'keep' });
  try {
    for (const topic of Object.values(TOPICS)) log.createTopic(topic, { partitions: TOPIC_PARTITIONS });
    const db = await database.open({ shopTables: config.dimensions });
    return {
      ...db,
      log,
      close: async () => {
        await log.close();
        await db.close();
      },
    };
  } catch (err) {
    await log.close();
    throw err;
  }
}

/** Opens (creating on first use) the log and PGlite of a data directory. */
export function openEmbedded(dataDir: string): Promise<JobStores> {
  return openStores({ dataDir });
}

/** The log's topic of a kind of event. */
export function topicOf(kind: EventKind): string {
  return kind === 'click' ? TOPICS.clicks : TOPICS.checkouts;
}

/**
 * The log of a data directory as an {@link EventQueue}: a line goes to the partition of its user
 * id (or, without one, of its line number, so that a resumed import knows where it went); a
 * resumed import reads the records after the recorded end offsets to recognise the lines the
 * stopped one had appended. `ready` is a flush: the log is local, its only back-pressure the disk.
 */
export function logEventQueue(log: LogDirectory): EventQueue {
  const producer = new LogProducer(log);
  const place = (topic: string, key: string | undefined, lineNo: number) => {
    const n = log.topic(topic).partitions.length;
    return key === undefined ? lineNo % n : partitionForKey(key, n);
  };
  const readers = new Map<string, { source: LogSource; records: string[]; next: number; diverged: boolean }>();
  return {
    name: 'log',
    target: `clicks and checkouts (keyed by user_id) of the log in ${dirname(log.dir)}`,
    scope: `log ${realpathSync(log.dir)}`,
    maxRecordBytes: log.options.maxRecordBytes,
    append(kind, line, key, lineNo) {
      const topic = topicOf(kind);
      producer.appendToPartition(topic, place(topic, key, lineNo), line);
    },
    ready: () => producer.flush(),
    flush: () => producer.flush(),
    ends: () =>
      Object.fromEntries(
        Object.values(TOPICS).map((t) => [
          t,
          Object.fromEntries([...log.endOffsets(t)].map(([p, o]) => [String(p), o])),
        ]),
      ),
    alreadyThere(kind, line, key, lineNo, ends) {
      const topic = topicOf(kind);
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
    describe: (c) => `${c.clicks} clicks, ${c.checkouts} checkouts → log in ${dirname(log.dir)}`,
    async close() {
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
  const pipeline = buildAttributionPipeline(
    sources,
    lookups,
    o.attribution,
    o.clock,
    undefined,
    undefined,
    referenceKinds(o),
  );
  const metrics = o.serve === undefined ? undefined : createPrometheusMetrics();
  const runtime = jobRuntime(stores, JOB, pipeline, o, metrics);
  o.onRuntime?.(runtime);
  let dashboard: Dashboard | undefined;
  try {
    dashboard = await serveDashboard(stores, runtime, metrics, o);
    return await runtime.run(o.signal === undefined ? {} : { signal: o.signal });
  } finally {
    await dashboard?.close();
    await runtime.close();
  }
}

/**
 * `run` follows a log that `import` or `demo` wrote: a data dir without one is a typo or a
 * missing import, said as such (rather than an empty directory created and "0 events").
 */
function checkLogIsThere(dataDir: string): void {
  const given = dataDirPath({ dataDir });
  if (!existsSync(dataDir)) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `data dir ${dataDir}: no such directory, so no log to run over. Check the path (--data-dir, FLOWMARK_DATA_DIR, data_dir), or import events first: flowmark import --data-dir ${dataDir} --events FILE`,
    );
  }
  checkWritableDirectory(given, { create: false });
  if (!existsSync(join(dataDir, 'log'))) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `data dir ${dataDir}: there is no log here (no ${join(dataDir, 'log')}). Check the path, or import events first: flowmark import --data-dir ${dataDir} --events FILE`,
    );
  }
}

/** The embedded mode of `config`, with its chosen `database`. */
export function embeddedMode(config: FlowmarkConfig, database: DatabaseChoice): Mode {
  return {
    queue: 'embedded',
    database,
    usesDataDir: true,
    async open(command: string): Promise<ModeSession> {
      if (command === 'run') checkLogIsThere(config.dataDir);
      const stores = await openStores(config, database);
      // `run` tells of damage as it reads (runAttribution); a writer tells what it found at once.
      if (command !== 'run') {
        const warn = damageWarner(stores.log);
        for (const d of stores.log.damaged) warn(d, command);
      }
      let queue: EventQueue | undefined;
      return {
        where: stores.where,
        schema: stores.schema,
        database: async () => stores,
        async queue() {
          queue ??= logEventQueue(stores.log);
          return queue;
        },
        async runJob(o) {
          const s = await runAttribution(stores, o);
          return {
            recordsRead: s.recordsRead,
            checkpoints: s.checkpoints,
            detail: `, ${s.checkpoints} checkpoints (last #${s.lastCheckpointId}) → ${stores.where}`,
          };
        },
        demoLines: () => [
          `  data:      ${config.dataDir} (log/ and pglite/; delete it to start over); database: ${stores.where}`,
          `  results:   tables ${stores.schema}.attributed_checkouts, attribution_credits, analytics_minute, dead_letters`,
        ],
        async close() {
          await queue?.close();
          await stores.close();
        },
      };
    },
  };
}
