/**
 * `flowmark produce --kafka HOST:PORT`: the demo's live website simulator writing into Kafka
 * instead of the embedded log, keyed by `user_id` (the Java client's partitioner), until Ctrl-C,
 * or until `--events N` lines or `--duration D`. It first makes sure the topics exist (created
 * with `kafka.partitions` partitions when missing) and writes the simulated shop's users and
 * products into the database that `run --kafka` enriches from (PGlite in the data dir, or
 * `database.url`), then prints a status line every 2 seconds.
 *
 * Like the demo, a little mess is produced (disorder, late, duplicate and broken lines); a line
 * that cannot be routed by type goes to the clicks topic unkeyed, so that the pipeline's parser
 * makes it a dead letter through the same exactly-once path as everything else.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaAdmin, KafkaProducer } from '../connectors/kafka/index.ts';
import { type Clock, FlowmarkError, systemClock } from '../engine/index.ts';
import { generateCatalog, LiveTraffic } from '../generator/index.ts';
import { durationFlag } from './cli-flags.ts';
import { type ConfigFlags, type FlowmarkConfig, loadConfig } from './config/index.ts';
import { CATALOG_SEED, DEMO_MESS, loadCatalog } from './demo-command.ts';
import { routeLine, TOPICS } from './embedded-job.ts';
import { openJobDatabase } from './job-database.ts';
import { describeTopics } from './kafka-import.ts';
import { stopOnSignals } from './run-command.ts';

/** produce's own flags; the configuration's (`--kafka`, `--partitions`, `--database-url`, …) are in {@link ConfigFlags}. */
export interface ProduceFlags extends ConfigFlags {
  rate?: string;
  users?: string;
  products?: string;
  seed?: string;
  events?: string;
  duration?: string;
}

export interface ProduceOptions {
  /** Stops producing (as Ctrl-C does); the CLI aborts it on SIGINT and SIGTERM. */
  signal?: AbortSignal;
  clock?: Clock;
  /** Where the status lines go (default stderr). */
  log?: (line: string) => void;
}

export interface ProduceSummary {
  produced: number;
  clicks: number;
  checkouts: number;
  /** Lines that could not be routed by type, written to the clicks topic unkeyed. */
  unroutable: number;
  acknowledged: number;
}

const PRODUCE_EVERY_MS = 100;
const STATUS_EVERY_MS = 2000;

function integerFlag(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) {
    const what = min === 0 ? 'an integer ≥ 0' : 'a positive integer';
    throw new FlowmarkError('FM_CONFIG_INVALID', `--${flag} must be ${what}, got "${value}"`);
  }
  return n;
}

/**
 * Runs the simulator into Kafka. `config` is the resolved configuration (the CLI resolves it from
 * flags, variables and file first); without it, it is resolved from `flags` alone.
 */
export async function runProduce(
  flags: ProduceFlags,
  config: FlowmarkConfig = loadConfig({ flags }).config,
  options: ProduceOptions = {},
): Promise<ProduceSummary> {
  const kafka = config.kafka;
  if (kafka === undefined) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      'produce writes into Apache Kafka: give --kafka HOST:PORT (or kafka.bootstrap in the --config file, or FLOWMARK_KAFKA_BOOTSTRAP)',
    );
  }
  const rate = integerFlag('rate', flags.rate, 1) ?? 200;
  const users = integerFlag('users', flags.users, 1) ?? 1000;
  const products = integerFlag('products', flags.products, 1) ?? 200;
  const seed = integerFlag('seed', flags.seed, 0);
  const maxEvents = integerFlag('events', flags.events, 1);
  const durationMs = flags.duration === undefined ? undefined : durationFlag('duration', flags.duration);
  const clock = options.clock ?? systemClock;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  // The shop first, so that a run started later enriches the first checkouts.
  const catalog = generateCatalog({ users, products, seed: CATALOG_SEED });
  const database = await openJobDatabase(config);
  try {
    await loadCatalog(database, catalog);
    log(
      `produce: a simulated shop (${users} users, ${products} products) → ${database.schema}.users, ${database.schema}.products in ${database.where}`,
    );
  } finally {
    await database.close();
  }
  const admin = new KafkaAdmin({ bootstrap: kafka.bootstrap });
  try {
    const ensured = await admin.ensureTopics([
      { name: kafka.topics.clicks, partitions: kafka.partitions },
      { name: kafka.topics.checkouts, partitions: kafka.partitions },
    ]);
    for (const line of describeTopics(ensured, kafka.partitions)) log(`produce: ${line}`);
  } finally {
    await admin.close();
  }

  const controller = new AbortController();
  const release =
    options.signal === undefined ? stopOnSignals(controller, 'produce', 'flushing what was produced') : () => undefined;
  const onAbort = () => controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const producer = new KafkaProducer({ bootstrap: kafka.bootstrap });
  const traffic = new LiveTraffic(catalog, {
    clock,
    ratePerSecond: rate,
    ...DEMO_MESS,
    ...(seed === undefined ? {} : { seed }),
  });
  const bounds = [
    maxEvents === undefined ? '' : `${maxEvents} events`,
    durationMs === undefined ? '' : `${flags.duration}`,
  ].filter(Boolean);
  log(
    `produce: ${rate} events/s into ${kafka.topics.clicks} and ${kafka.topics.checkouts} (keyed by user_id) at Kafka ${kafka.bootstrap.join(',')}; ` +
      (bounds.length > 0 ? `stops after ${bounds.join(' or ')}` : 'Ctrl-C stops it'),
  );
  const s: ProduceSummary = { produced: 0, clicks: 0, checkouts: 0, unroutable: 0, acknowledged: 0 };
  const startedMs = clock.nowMs();
  const status = () => {
    const seconds = Math.max(0.001, (clock.nowMs() - startedMs) / 1000);
    log(
      `produce: ${s.produced} events produced (${s.clicks} clicks, ${s.checkouts} checkouts, ${s.unroutable} unroutable), ${producer.stats.acknowledged} acknowledged, ${(s.produced / seconds).toFixed(0)} events/s`,
    );
  };
  const timer = setInterval(status, STATUS_EVERY_MS);
  try {
    while (!controller.signal.aborted) {
      let lines = traffic.poll();
      if (maxEvents !== undefined) lines = lines.slice(0, maxEvents - s.produced);
      for (const line of lines) {
        const r = routeLine(line);
        if ('reason' in r) {
          producer.append(kafka.topics.clicks, line);
          s.unroutable++;
        } else if (r.topic === TOPICS.clicks) {
          producer.append(kafka.topics.clicks, line, r.key);
          s.clicks++;
        } else {
          producer.append(kafka.topics.checkouts, line, r.key);
          s.checkouts++;
        }
        s.produced++;
      }
      await producer.ready(); // a slow broker slows the website down rather than memory growing
      if (maxEvents !== undefined && s.produced >= maxEvents) break;
      if (durationMs !== undefined && clock.nowMs() - startedMs >= durationMs) break;
      await sleep(PRODUCE_EVERY_MS, undefined, { signal: controller.signal }).catch(() => undefined);
    }
    await producer.flush();
  } finally {
    clearInterval(timer);
    release();
    options.signal?.removeEventListener('abort', onAbort);
    await producer.close().catch(() => undefined); // a failure is already thrown by flush
  }
  s.acknowledged = producer.stats.acknowledged;
  status();
  log(`produce: stopped; all ${s.acknowledged} events acknowledged`);
  return s;
}
