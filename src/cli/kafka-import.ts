/**
 * `flowmark import --kafka`: appends event lines to the Kafka topics of clicks and checkouts
 * (created with `kafka.partitions` partitions when missing; existing ones are kept), routed by
 * `type` and keyed by `user_id` — the Java client's partitioner, so a user's clicks and checkouts
 * share a partition number. Users and products, and the lines that cannot be routed (dead
 * letters), go to the database a later `run --kafka` uses, as with the embedded import.
 */
import type { ProductRow, UserRow } from '../attribution/event-types.ts';
import { deadLetter } from '../attribution/output-rows.ts';
import { SINK_TABLES } from '../attribution/output-schema.ts';
import { type EnsuredTopic, KafkaAdmin, KafkaProducer } from '../connectors/kafka/index.ts';
import { upsertProducts, upsertUsers, writeRows } from '../connectors/sql/index.ts';
import type { Clock } from '../engine/index.ts';
import type { FlowmarkConfig, KafkaConfig } from './config/index.ts';
import { routeLine, TOPICS } from './embedded-job.ts';
import { LazyJobDatabase } from './job-database.ts';

/**
 * The largest line sent as a record: the broker refuses records above its `max.message.bytes`
 * (1 MiB by default, with the batch's overhead); a longer line is a dead letter instead.
 */
export const MAX_RECORD_BYTES = 1_000_000;

export interface KafkaImportCounts {
  clicks: number;
  checkouts: number;
  deadLetters: number;
}

export interface KafkaImportOptions {
  /** The topics of clicks and checkouts. */
  topics: KafkaConfig['topics'];
  clock: Clock;
  /** Where the dead letters go (flowmark.dead_letters of the job's database). */
  writeDeadLetters: (rows: ReturnType<typeof deadLetter>[]) => Promise<void>;
  /** Told the characters (≈ bytes) of each line read, for a progress bar. */
  onLine?: (chars: number) => void;
}

/**
 * Appends lines to the topics, routed by type and keyed by user id; a line that cannot be routed
 * (not JSON, no type) or that is too large for the broker is a dead letter. Returns the counts
 * once every record is acknowledged and every dead letter written.
 */
export async function importLinesToKafka(
  producer: KafkaProducer,
  lines: AsyncIterable<string>,
  o: KafkaImportOptions,
): Promise<KafkaImportCounts> {
  const counts = { clicks: 0, checkouts: 0, deadLetters: 0 };
  let dead: ReturnType<typeof deadLetter>[] = [];
  const flushDead = async () => {
    if (dead.length === 0) return;
    await o.writeDeadLetters(dead);
    dead = [];
  };
  let sinceReady = 0;
  for await (const raw of lines) {
    o.onLine?.(raw.length + 1);
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    const r = routeLine(line);
    const bytes = line.length * 3 > MAX_RECORD_BYTES ? Buffer.byteLength(line) : line.length;
    if ('reason' in r || bytes > MAX_RECORD_BYTES) {
      const row =
        'reason' in r
          ? deadLetter('import', r.reason, line, r.detail, o.clock.nowMs())
          : deadLetter(
              'import',
              'oversized',
              line,
              `${bytes} bytes: more than the ${MAX_RECORD_BYTES} a Kafka record may have here`,
              o.clock.nowMs(),
            );
      dead.push(row);
      counts.deadLetters++;
      if (dead.length >= 10_000) await flushDead();
      continue;
    }
    const isClick = r.topic === TOPICS.clicks;
    producer.append(isClick ? o.topics.clicks : o.topics.checkouts, line, r.key);
    if (isClick) counts.clicks++;
    else counts.checkouts++;
    // Back-pressure: reading a file is faster than a broker acknowledges.
    if (++sinceReady >= 4096) {
      sinceReady = 0;
      await producer.ready();
    }
  }
  await producer.flush();
  await flushDead();
  return counts;
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
  lines?: AsyncIterable<string>;
  onLine?: (chars: number) => void;
  clock: Clock;
  log: (line: string) => void;
}

/** The Kafka side of `flowmark import` (the command checks its flags and files first). */
export async function importIntoKafka(
  config: FlowmarkConfig,
  kafka: KafkaConfig,
  input: KafkaImportInput,
): Promise<KafkaImportCounts | undefined> {
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
    if (input.lines === undefined) return undefined;
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
    const producer = new KafkaProducer({ bootstrap: kafka.bootstrap });
    let counts: KafkaImportCounts;
    try {
      counts = await importLinesToKafka(producer, input.lines, {
        topics: kafka.topics,
        clock: input.clock,
        ...(input.onLine === undefined ? {} : { onLine: input.onLine }),
        writeDeadLetters: async (rows) => {
          const d = await database.get();
          await writeRows(d.db, d.schema, SINK_TABLES.dead_letters, rows);
        },
      });
    } finally {
      await producer.close().catch(() => undefined); // a failure is already thrown by importLines
    }
    input.log(
      `import: ${counts.clicks} clicks → ${kafka.topics.clicks}, ${counts.checkouts} checkouts → ${kafka.topics.checkouts} in Kafka ${kafka.bootstrap.join(',')}; ${counts.deadLetters} unroutable lines → ${database.schema}.dead_letters${counts.deadLetters > 0 ? ` in ${database.where}` : ''}`,
    );
    return counts;
  } finally {
    await database.close();
  }
}
