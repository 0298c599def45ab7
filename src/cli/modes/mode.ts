/**
 * The mode of a command: which queue of events (flowmark's own log in the data dir, or Apache
 * Kafka) and which database (PGlite in the data dir, or a PostgreSQL server). {@link chooseMode}
 * is the one place that reads `kafka` and `database` from the configuration; every command works
 * with the {@link Mode} it returns (docs/cli.md). A new queue is a new file here that returns a
 * {@link Mode}, and one line in {@link chooseMode}.
 */
import { FlowmarkError } from '../../engine/index.ts';
import type { FlowmarkConfig, KafkaConfig } from '../config/index.ts';
import type { EventQueue } from '../event-queue.ts';
import { type DatabaseChoice, type JobDatabase, pgliteDatabase, serverDatabase } from './database.ts';
import { embeddedMode } from './embedded.ts';
import type { JobRunOptions } from './job-kit.ts';
import { kafkaMode } from './kafka.ts';

/** What a job run tells its command: the line `run: N events in S s<detail>`. */
export interface JobReport {
  recordsRead: number;
  checkpoints: number;
  /** What follows "N events in S s": where from, checkpoints, where to. */
  detail: string;
}

/** What a command works with, opened for it: the database, the queue and the job. */
export interface ModeSession {
  /** Where the database is and its schema, for messages, without opening it. */
  readonly where: string;
  readonly schema: string;
  /** The job's database, opened (and migrated) on first use. */
  database(): Promise<JobDatabase>;
  /**
   * The queue of events, opened on first use (Kafka: its topics are created when missing, and
   * `log` hears what was found). Closed with the session.
   */
  queue(log: (line: string) => void): Promise<EventQueue>;
  /** Runs the attribution job over the queue into the database: until the signal, or drained. */
  runJob(o: JobRunOptions): Promise<JobReport>;
  /** What a demo prints of where things are, before it starts (lines). */
  demoLines(): string[];
  close(): Promise<void>;
}

export interface Mode {
  /** `embedded` (the log) or `kafka`. */
  readonly queue: 'embedded' | 'kafka';
  /** The Kafka mode's brokers, group and topics (for commands that administer them: `kafka cleanup`). */
  readonly kafka?: KafkaConfig;
  /** The database, not opened. */
  readonly database: DatabaseChoice;
  /** Whether the data dir holds anything (the log, PGlite): not when Kafka and a server replace both. */
  readonly usesDataDir: boolean;
  /**
   * Opens the session of `command` (its name in messages). `run` reads a queue others wrote:
   * the embedded mode refuses a data dir without a log.
   */
  open(command: string): Promise<ModeSession>;
}

/** The one place that reads `kafka` and `database` from the configuration. */
export function chooseMode(config: FlowmarkConfig): Mode {
  const database = chooseDatabase(config);
  return config.kafka === undefined ? embeddedMode(config, database) : kafkaMode(config, config.kafka, database);
}

/** The database half of {@link chooseMode}: PGlite in the data dir, or the server of `database.url`. */
export function chooseDatabase(config: Pick<FlowmarkConfig, 'dataDir' | 'database'>): DatabaseChoice {
  return config.database === undefined ? pgliteDatabase(config.dataDir) : serverDatabase(config.database);
}

/**
 * What a Flink job of the configured pipeline needs of the configuration (`flowmark flink …`):
 * the Kafka topics and the PostgreSQL server, both required there whatever mode flowmark itself
 * runs in; names the missing key.
 */
export function flinkEndpoints(config: FlowmarkConfig): {
  kafka: NonNullable<FlowmarkConfig['kafka']>;
  database: NonNullable<FlowmarkConfig['database']>;
} {
  if (config.kafka === undefined) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      'kafka.bootstrap is not set: the Flink job reads the Kafka topics; give --kafka HOST:PORT (or FLOWMARK_KAFKA_BOOTSTRAP, or kafka.bootstrap in the file)',
    );
  }
  if (config.database === undefined) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      'database.url is not set: the Flink job reads the shop’s tables and writes flowmark’s on a PostgreSQL server; give --database-url postgres://… (or FLOWMARK_DATABASE_URL)',
    );
  }
  return { kafka: config.kafka, database: config.database };
}
