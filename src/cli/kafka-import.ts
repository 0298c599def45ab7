/**
 * `flowmark import --kafka`: appends event lines to the Kafka topics of clicks and checkouts
 * (created with `kafka.partitions` partitions when missing; existing ones are kept), routed by
 * `type` and keyed by `user_id` — the Java client's partitioner, so a user's clicks and checkouts
 * share a partition number. Users and products, and the lines that cannot be routed (dead
 * letters), go to the database a later `run --kafka` uses, as with the embedded import.
 */
import type { ProductRow, UserRow } from '../attribution/event-types.ts';
import { type EnsuredTopic, KafkaAdmin, KafkaProducer } from '../connectors/kafka/index.ts';
import { upsertProducts, upsertUsers } from '../connectors/sql/index.ts';
import type { Clock } from '../engine/index.ts';
import type { FlowmarkConfig, KafkaConfig } from './config/index.ts';
import { TOPICS } from './embedded-job.ts';
import { addCounts, describeImport, type ImportCounts, type ImportQueue, importEventFile } from './event-import.ts';
import { LazyJobDatabase } from './job-database.ts';

/**
 * The largest line sent as a record: the broker refuses records above its `max.message.bytes`
 * (1 MiB by default, with the batch's overhead); a longer line is a dead letter instead.
 */
export const MAX_RECORD_BYTES = 1_000_000;

/**
 * The topics of a Kafka cluster as the queue of `import` (src/cli/event-import.ts): a line is a
 * record keyed by user id; a line larger than {@link MAX_RECORD_BYTES} is a dead letter. Kafka
 * cannot tell a resumed import which lines the stopped one had sent, so the lines of the chunk in
 * flight at a stop may be sent twice (the pipeline keeps the first of a checkout id).
 */
export function kafkaImportQueue(
  producer: KafkaProducer,
  kafka: Pick<KafkaConfig, 'bootstrap' | 'topics'>,
): ImportQueue {
  let sinceReady = 0;
  return {
    scope: `kafka ${kafka.bootstrap.join(',')} ${kafka.topics.clicks} ${kafka.topics.checkouts}`,
    maxRecordBytes: MAX_RECORD_BYTES,
    async append(topic, line, key) {
      producer.append(topic === TOPICS.clicks ? kafka.topics.clicks : kafka.topics.checkouts, line, key);
      // Back-pressure: reading a file is faster than a broker acknowledges.
      if (++sinceReady >= 4096) {
        sinceReady = 0;
        await producer.ready();
      }
    },
    flush: () => producer.flush(),
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

export interface KafkaImportInput {
  users?: Map<string, UserRow>;
  products?: Map<string, ProductRow>;
  /** Event files, imported one after the other (resumable: src/cli/event-import.ts). */
  files?: readonly string[];
  force?: boolean;
  /** Told the bytes handled of the file being imported. */
  onBytes?: (file: string, bytes: number) => void;
  clock: Clock;
  log: (line: string) => void;
}

/** The Kafka side of `flowmark import` (the command checks its flags and files first). */
export async function importIntoKafka(
  config: FlowmarkConfig,
  kafka: KafkaConfig,
  input: KafkaImportInput,
): Promise<ImportCounts | undefined> {
  const database = new LazyJobDatabase(config);
  try {
    if (input.users !== undefined) {
      const d = await database.get();
      const n = await upsertUsers(d.db, [...input.users.values()], { schema: d.schema });
      input.log(`import: ${n} users → ${d.schema}.users in ${d.where}`);
    }
    if (input.products !== undefined) {
      const d = await database.get();
      const n = await upsertProducts(d.db, [...input.products.values()], { schema: d.schema });
      input.log(`import: ${n} products → ${d.schema}.products in ${d.where}`);
    }
    if (input.files === undefined || input.files.length === 0) return undefined;
    const admin = new KafkaAdmin({ bootstrap: kafka.bootstrap });
    try {
      const ensured = await admin.ensureTopics([
        { name: kafka.topics.clicks, partitions: kafka.partitions },
        { name: kafka.topics.checkouts, partitions: kafka.partitions },
      ]);
      for (const line of describeTopics(ensured, kafka.partitions)) input.log(`import: ${line}`);
    } finally {
      await admin.close();
    }
    // The progress of each file is recorded in the database, with its dead letters.
    const d = await database.get();
    const producer = new KafkaProducer({ bootstrap: kafka.bootstrap });
    const queue = kafkaImportQueue(producer, kafka);
    const counts: ImportCounts = { clicks: 0, checkouts: 0, deadLetters: 0 };
    let imported = 0;
    try {
      for (const file of input.files) {
        const r = await importEventFile(file, {
          db: d.db,
          schema: d.schema,
          queue,
          clock: input.clock,
          ...(input.force === undefined ? {} : { force: input.force }),
          ...(input.onBytes === undefined ? {} : { onBytes: (b: number) => input.onBytes?.(file, b) }),
        });
        for (const line of describeImport(file, r, 'Kafka')) input.log(line);
        if (!r.alreadyDone) {
          addCounts(counts, r.counts);
          imported++;
        }
      }
    } finally {
      await producer.close().catch(() => undefined); // a failure is already thrown by the import
    }
    if (imported === 0) return counts;
    input.log(
      `import: ${counts.clicks} clicks → ${kafka.topics.clicks}, ${counts.checkouts} checkouts → ${kafka.topics.checkouts} in Kafka ${kafka.bootstrap.join(',')}; ${counts.deadLetters} unroutable lines → ${database.schema}.dead_letters${counts.deadLetters > 0 ? ` in ${database.where}` : ''}`,
    );
    return counts;
  } finally {
    await database.close();
  }
}
