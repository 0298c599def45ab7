/**
 * `flowmark produce --kafka HOST:PORT`: the demo's live website simulator writing into Kafka
 * instead of the embedded log, keyed by `user_id` (the Java client's partitioner), until Ctrl-C,
 * or until `--events N` lines or `--duration D`. It first makes sure the topics exist (created
 * with `kafka.partitions` partitions when missing) and writes the simulated shop's users and
 * products into the database that `run --kafka` enriches from (PGlite in the data dir, or
 * `database.url`), then prints a status line every 2 seconds: the rate achieved beside the one
 * asked, and CANNOT KEEP UP when it falls behind the clock (./produce-pacing.ts).
 *
 * Like the demo, a little mess is produced (disorder, late, duplicate and broken lines); a line
 * that cannot be routed by type goes to the clicks topic unkeyed, so that the pipeline's parser
 * makes it a dead letter through the same exactly-once path as everything else.
 */
import { type Clock, FlowmarkError, systemClock } from '../../engine/index.ts';
import { generateCatalog, LiveTraffic } from '../../generator/index.ts';
import { durationFlag } from '../cli-flags.ts';
import { type ConfigFlags, type FlowmarkConfig, loadConfig } from '../config/index.ts';
import { CATALOG_SEED, DEMO_MESS, loadCatalog, type ProducedCounts, produceTraffic } from '../demo-shop.ts';
import { chooseMode } from '../modes/mode.ts';
import { describePace, ProducePacing } from '../produce-pacing.ts';
import { stopOnSignals } from '../stop-signals.ts';

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

export interface ProduceSummary extends ProducedCounts {
  acknowledged: number;
}

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
  const mode = chooseMode(config);
  if (mode.queue !== 'kafka') {
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
  const session = await mode.open('produce');
  const controller = new AbortController();
  const release =
    options.signal === undefined ? stopOnSignals(controller, 'produce', 'flushing what was produced') : () => undefined;
  const onAbort = () => controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const s: ProduceSummary = { produced: 0, clicks: 0, checkouts: 0, unroutable: 0, acknowledged: 0 };
  let timer: NodeJS.Timeout | undefined;
  try {
    // The database is closed once the shop is in: a `run` of the same PGlite may start meanwhile.
    const database = await session.database();
    try {
      await loadCatalog(database, catalog);
      log(
        `produce: a simulated shop (${users} users, ${products} products) → ${database.schema}.users, ${database.schema}.products in ${database.where}`,
      );
    } finally {
      await database.close();
    }
    const queue = await session.queue(log);
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
      `produce: ${rate} events/s into ${queue.target}; ` +
        (bounds.length > 0 ? `stops after ${bounds.join(' or ')}` : 'Ctrl-C stops it'),
    );
    const startedMs = clock.nowMs();
    const pacing = new ProducePacing(rate, startedMs);
    const status = () => {
      log(
        `produce: ${s.produced} events produced (${s.clicks} clicks, ${s.checkouts} checkouts, ${s.unroutable} unroutable), ${queue.acknowledged?.() ?? s.produced} acknowledged; ${describePace(pacing.report(clock.nowMs(), s.produced))}`,
      );
    };
    timer = setInterval(status, STATUS_EVERY_MS);
    await produceTraffic(traffic, queue, s, { signal: controller.signal, clock, maxEvents, durationMs, pacing });
    clearInterval(timer);
    s.acknowledged = queue.acknowledged?.() ?? s.produced;
    status();
    const seconds = Math.max(0.001, (clock.nowMs() - startedMs) / 1000);
    log(`produce: ${(s.produced / seconds).toFixed(0)} events/s over the whole run (${rate} asked)`);
  } finally {
    if (timer !== undefined) clearInterval(timer);
    release();
    options.signal?.removeEventListener('abort', onAbort);
    await session.close();
  }
  log(`produce: stopped; all ${s.acknowledged} events acknowledged`);
  return s;
}
