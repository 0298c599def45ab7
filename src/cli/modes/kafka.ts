/**
 * The Kafka mode: the topics of clicks and checkouts of an Apache Kafka cluster as the queue of
 * events (created with `kafka.partitions` partitions when missing; existing ones are kept),
 * routed by kind and keyed by `user_id` — the Java client's partitioner, so a user's clicks and
 * checkouts share a partition number — and the job of this worker of the consumer group
 * (./kafka-job.ts). Users, products and the lines an import cannot route (dead letters) go to the
 * database a later `run --kafka` uses, as in the embedded mode.
 */
import { type EnsuredTopic, KafkaAdmin, KafkaProducer } from '../../connectors/kafka/index.ts';
import { checkWritableDirectory, dataDirPath } from '../cli-paths.ts';
import type { FlowmarkConfig, KafkaConfig } from '../config/index.ts';
import type { EventQueue } from '../event-queue.ts';
import { type DatabaseChoice, LazyJobDatabase } from './database.ts';
import { runKafkaAttribution } from './kafka-job.ts';
import type { Mode, ModeSession } from './mode.ts';

/**
 * The largest line sent as a record: the broker refuses records above its `max.message.bytes`
 * (1 MiB by default, with the batch's overhead); a longer line is a dead letter instead.
 */
export const MAX_RECORD_BYTES = 1_000_000;

/** Appends between two waits for the broker's acknowledgements during an import. */
const APPENDS_PER_READY = 4096;

/**
 * The topics of a Kafka cluster as an {@link EventQueue}: a line is a record keyed by user id; a
 * line larger than {@link MAX_RECORD_BYTES} is a dead letter. Kafka cannot tell a resumed import
 * which lines the stopped one had sent, so the lines of the chunk in flight at a stop may be sent
 * twice (the pipeline keeps the first of a checkout id).
 */
export function kafkaEventQueue(producer: KafkaProducer, kafka: Pick<KafkaConfig, 'bootstrap' | 'topics'>): EventQueue {
  let sinceReady = 0;
  return {
    name: 'Kafka',
    target: `${kafka.topics.clicks} and ${kafka.topics.checkouts} (keyed by user_id) at Kafka ${kafka.bootstrap.join(',')}`,
    scope: `kafka ${kafka.bootstrap.join(',')} ${kafka.topics.clicks} ${kafka.topics.checkouts}`,
    maxRecordBytes: MAX_RECORD_BYTES,
    append(kind, line, key) {
      producer.append(kind === 'click' ? kafka.topics.clicks : kafka.topics.checkouts, line, key);
      // Back-pressure: reading a file is faster than a broker acknowledges. Only then a promise
      // to wait for (one per line would cost a promise and a microtask per record).
      if (++sinceReady >= APPENDS_PER_READY) {
        sinceReady = 0;
        return producer.ready();
      }
    },
    ready: () => producer.ready(),
    flush: () => producer.flush(),
    acknowledged: () => producer.stats.acknowledged,
    describe: (c) =>
      `${c.clicks} clicks → ${kafka.topics.clicks}, ${c.checkouts} checkouts → ${kafka.topics.checkouts} in Kafka ${kafka.bootstrap.join(',')}`,
    close: () => producer.close(),
  };
}

/** One line per topic: created, or kept as it was (with a warning when its count differs). */
export function describeTopics(ensured: readonly EnsuredTopic[], wanted: number): string[] {
  const lines = ensured.map((t) =>
    t.created
      ? `topic ${t.name}: created with ${t.partitions} partitions`
      : `topic ${t.name}: exists with ${t.partitions} partitions${t.partitions === wanted ? '' : ` (kept as it is; --partitions ${wanted} applies only to topics it creates)`}`,
  );
  const counts = new Set(ensured.map((t) => t.partitions));
  if (counts.size > 1) {
    lines.push(
      `warning: ${ensured.map((t) => `${t.name} has ${t.partitions}`).join(', ')} partitions: they are not co-partitioned by user_id, so run --kafka cannot attribute them as they are`,
    );
  }
  return lines;
}

/** Creates the topics when missing (with `kafka.partitions` partitions), telling `log` what it found. */
async function ensureTopics(kafka: KafkaConfig, log: (line: string) => void): Promise<void> {
  const admin = new KafkaAdmin({ bootstrap: kafka.bootstrap });
  try {
    const ensured = await admin.ensureTopics([
      { name: kafka.topics.clicks, partitions: kafka.partitions },
      { name: kafka.topics.checkouts, partitions: kafka.partitions },
    ]);
    for (const line of describeTopics(ensured, kafka.partitions)) log(line);
  } finally {
    await admin.close();
  }
}

/** The Kafka mode of `config`, with its chosen `database`. */
export function kafkaMode(config: FlowmarkConfig, kafka: KafkaConfig, database: DatabaseChoice): Mode {
  return {
    queue: 'kafka',
    kafka,
    database,
    usesDataDir: database.inDataDir,
    async open(command: string): Promise<ModeSession> {
      // A Kafka worker has no log of its own: several workers may share a data dir.
      if (command === 'run' && database.inDataDir) checkWritableDirectory(dataDirPath(config), { create: true });
      // Opened on first use only: an import into Kafka with no users, products or bad lines
      // never touches it (PGlite allows one process at a time, and a `run` may hold it).
      const lazy = new LazyJobDatabase(database);
      let queue: Promise<EventQueue> | undefined;
      return {
        where: database.where,
        schema: database.schema,
        database: () => lazy.get(),
        queue(log) {
          queue ??= ensureTopics(kafka, (line) => log(`${command}: ${line}`)).then(() =>
            kafkaEventQueue(new KafkaProducer({ bootstrap: kafka.bootstrap }), kafka),
          );
          return queue;
        },
        async runJob(o) {
          const db = await lazy.get();
          const s = await runKafkaAttribution(db, {
            ...o,
            bootstrap: kafka.bootstrap,
            group: kafka.group,
            topics: kafka.topics,
          });
          return {
            recordsRead: s.recordsRead,
            checkpoints: s.checkpoints,
            detail: ` from Kafka ${kafka.bootstrap.join(',')} (group ${kafka.group}, ${s.keyedByUser ? `partitions ${s.partitionsRun.join(', ') || 'none'} run here` : s.repartitioned === true ? `not keyed by user_id: repartitioned, internal partitions ${s.partitionsRun.join(', ') || 'none'} run here` : 'all partitions as one job: the topics are not keyed by user_id'}), ${s.checkpoints} checkpoints → ${db.where}`,
          };
        },
        demoLines: () => [
          `  results:   tables ${database.schema}.attributed_checkouts, attribution_credits, analytics_minute, dead_letters in ${database.where}`,
          `  more workers: flowmark run --kafka ${kafka.bootstrap.join(',')} --group ${kafka.group} (same database)`,
        ],
        async close() {
          const q = await queue?.catch(() => undefined);
          await q?.close().catch(() => undefined); // a failure is already thrown by its flush
          await lazy.close();
        },
      };
    },
  };
}
