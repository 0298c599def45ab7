/**
 * `flowmark demo` (and `npm start`): the whole embedded product on a laptop. A simulated shop
 * website writes clicks and checkouts into flowmark's own log; the attribution pipeline follows
 * the log into PGlite, exactly once, with provisional rows updated to final ones. Ctrl-C stops
 * cleanly (the last checkpoint is committed); run again, it continues where it stopped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { attributionOptions } from '../attribution/attribution-options.ts';
import { KafkaAdmin } from '../connectors/kafka/index.ts';
import { LogProducer } from '../connectors/log/index.ts';
import { upsertProducts, upsertUsers } from '../connectors/sql/index.ts';
import { FlowmarkError, type Runtime, systemClock } from '../engine/index.ts';
import { generateCatalog, LiveTraffic, type ShopCatalog } from '../generator/index.ts';
import { type ConfigFlags, type FlowmarkConfig, loadConfig } from './config/index.ts';
import { routeLine, runAttribution, TOPICS } from './embedded-job.ts';
import { errorText } from './error-messages.ts';
import { openJobDatabase } from './job-database.ts';
import { type JobStores, openStores } from './job-stores.ts';
import { runKafkaAttribution } from './kafka-job.ts';
import { runProduce } from './produce-command.ts';
import { stopOnSignals } from './run-command.ts';

/** demo's own flags; the configuration's (`--data-dir`, `--port`, …) are in {@link ConfigFlags}. */
export interface DemoFlags extends ConfigFlags {
  rate?: string;
  users?: string;
  products?: string;
}

/**
 * The demo shop: the same seed every run, so the catalog in the database matches the traffic
 * (`produce` uses it too).
 */
export const CATALOG_SEED = 1;
/** A little realistic mess, so that the dead letters and late handling show (`produce` too). */
export const DEMO_MESS = { disorder: 0.05, maxDisorderMs: 5000, late: 0.001, duplicates: 0.01, malformed: 0.002 };
const PRODUCE_EVERY_MS = 100;
const STATUS_EVERY_MS = 2000;

function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new FlowmarkError('FM_CONFIG_INVALID', `--${flag} must be a positive integer, got "${value}"`);
  return n;
}

/** One status line; tests read it, so its words are stable. */
export function statusLine(
  runtime: { stats(): ReturnType<Runtime['stats']>; readonly checkpointId: number },
  produced: number,
): string {
  const stats = runtime.stats();
  const get = (id: string) => stats.find((s) => s.id === id);
  const read = stats.filter((s) => s.kind === 'source').reduce((n, s) => n + s.recordsIn, 0);
  const rows = get('final-rows')?.recordsOut.out ?? 0;
  const dead = get('dead-letters')?.recordsOut.out ?? 0;
  const wm = get('attribute')?.watermarkMs ?? Number.NEGATIVE_INFINITY;
  const lag = Number.isFinite(wm) ? `${((systemClock.nowMs() - wm) / 1000).toFixed(1)} s` : 'n/a';
  const state = stats.reduce((n, s) => n + s.state.entries, 0);
  return `demo: ${produced} events produced, ${read} read, ${rows} final rows, ${dead} dead letters, watermark lag ${lag}, ${state} state entries, checkpoint #${runtime.checkpointId}`;
}

/** The demo's run: live (provisional rows, until stopped), with the configured attribution. */
function liveRun(config: FlowmarkConfig, signal: AbortSignal) {
  return {
    attribution: attributionOptions({ ...config.attribution, provisional: true }),
    clock: systemClock,
    drain: false,
    signal,
    checkpointIntervalMs: config.checkpoint.intervalMs,
    dimensions: config.dimensions,
  };
}

/** Writes the simulated shop's users and products into flowmark's tables (upsert). */
export async function loadCatalog(stores: Pick<JobStores, 'db' | 'schema'>, catalog: ShopCatalog): Promise<void> {
  const schema = stores.schema;
  await upsertUsers(stores.db, catalog.users, { schema });
  await upsertProducts(
    stores.db,
    catalog.products.map((p) => ({
      productId: p.productId,
      name: p.productName,
      category: p.category,
      price: p.price,
      commissionRate: p.commissionRate,
    })),
    { schema },
  );
}

/**
 * Runs the demo. `config` is the resolved configuration (the CLI resolves it from flags,
 * variables and file first); without it, it is resolved from `flags` alone.
 */
export async function runDemo(flags: DemoFlags, config: FlowmarkConfig = loadConfig({ flags }).config): Promise<void> {
  if (config.kafka !== undefined) return runKafkaDemo(flags, config);
  const rate = positiveInt('rate', flags.rate, 200);
  const users = positiveInt('users', flags.users, 1000);
  const products = positiveInt('products', flags.products, 200);
  const { host, port } = config.server;
  const stores = await openStores(config);
  const schema = stores.schema;
  const controller = new AbortController();
  const release = stopOnSignals(controller, 'demo');
  let producing: NodeJS.Timeout | undefined;
  let status: NodeJS.Timeout | undefined;
  // Never rejects (failures are caught where it is chained), so it can be awaited on every path.
  let flushing: Promise<void> = Promise.resolve();
  try {
    const catalog = generateCatalog({ users, products, seed: CATALOG_SEED });
    await loadCatalog(stores, catalog);
    process.stderr.write(
      `flowmark demo: a simulated shop (${users} users, ${products} products) at ${rate} events/s\n` +
        `  data:      ${config.dataDir} (log/ and pglite/; delete it to start over); database: ${stores.where}\n` +
        `  results:   tables ${schema}.attributed_checkouts, attribution_credits, analytics_minute, dead_letters\n` +
        '  Ctrl-C stops cleanly; run it again to continue where it stopped.\n',
    );
    const traffic = new LiveTraffic(catalog, { clock: systemClock, ratePerSecond: rate, ...DEMO_MESS });
    const producer = new LogProducer(stores.log);
    let produced = 0;
    let flushFailure: unknown;
    const produce = () => {
      for (const line of traffic.poll()) {
        const r = routeLine(line);
        // A line that cannot be routed still goes into the log, so that the pipeline's parser
        // turns it into a dead letter through the same exactly-once path as everything else.
        producer.append('reason' in r ? TOPICS.clicks : r.topic, line, 'reason' in r ? undefined : r.key);
        produced++;
      }
      // A failed flush stops the demo (the pipeline checkpoints what it has) instead of leaving
      // later lines unacknowledged.
      flushing = flushing
        .then(() => producer.flush())
        .catch((err: unknown) => {
          flushFailure ??= err;
          controller.abort();
        });
    };
    producing = setInterval(produce, PRODUCE_EVERY_MS);
    let runtime: Runtime | undefined;
    status = setInterval(() => {
      if (runtime !== undefined) process.stderr.write(`${statusLine(runtime, produced)}\n`);
    }, STATUS_EVERY_MS);
    await runAttribution(stores, {
      ...liveRun(config, controller.signal),
      onRuntime: (r) => {
        runtime = r;
      },
      serve: {
        host,
        port,
        // Tests and scripts read this line for the port (with --port 0).
        onServing: (url) =>
          process.stderr.write(`  dashboard: ${url} (metrics: ${url}metrics, health: ${url}health)\n`),
      },
    });
    clearInterval(producing);
    await flushing;
    if (flushFailure !== undefined) {
      // The cause stays attached: main.ts says "the disk holding … is full" from it.
      throw new FlowmarkError('FM_SINK_FAILED', `the demo could not write to its log: ${errorText(flushFailure)}`, {
        cause: flushFailure,
      });
    }
    if (runtime !== undefined) process.stderr.write(`${statusLine(runtime, produced)}\ndemo: stopped cleanly\n`);
  } finally {
    if (producing !== undefined) clearInterval(producing);
    if (status !== undefined) clearInterval(status);
    release();
    await flushing;
    await stores.close();
  }
}

/**
 * `demo --kafka`: the same shop, producing into Kafka (as `flowmark produce`) while this process
 * is one worker of the Kafka job (as `flowmark run --kafka`), with the dashboard. More workers
 * can join with `flowmark run --kafka … --group <the same group>`.
 */
async function runKafkaDemo(flags: DemoFlags, config: FlowmarkConfig): Promise<void> {
  const kafka = config.kafka as NonNullable<FlowmarkConfig['kafka']>;
  const controller = new AbortController();
  const release = stopOnSignals(controller, 'demo');
  let view: { stats(): ReturnType<Runtime['stats']>; readonly checkpointId: number } | undefined;
  let produced = 0;
  const status = setInterval(() => {
    if (view !== undefined) process.stderr.write(`${statusLine(view, produced)}\n`);
  }, STATUS_EVERY_MS);
  try {
    // The producer loads the shop into the database and creates the topics before it produces.
    // Its failure stops the demo and is reported as such (not as a missing topic, say).
    let producerFailure: unknown;
    const producing = runProduce({ rate: flags.rate, users: flags.users, products: flags.products }, config, {
      signal: controller.signal,
      log: (line) => {
        const m = /^produce: (\d+) events produced/.exec(line);
        if (m !== null) produced = Number(m[1]);
        else process.stderr.write(`demo: ${line}\n`);
      },
    }).then(undefined, (err: unknown) => {
      producerFailure = err;
      controller.abort();
    });
    // Wait for the topics, which the producer creates.
    const admin = new KafkaAdmin({ bootstrap: kafka.bootstrap });
    try {
      for (;;) {
        const counts = await admin.partitionCounts([kafka.topics.clicks, kafka.topics.checkouts]);
        if ([...counts.values()].every((n) => n !== undefined) || controller.signal.aborted) break;
        await sleep(200);
      }
    } finally {
      await admin.close();
    }
    if (producerFailure !== undefined) throw producerFailure;
    const stores = await openJobDatabase(config);
    try {
      await runKafkaAttribution(stores, {
        bootstrap: kafka.bootstrap,
        group: kafka.group,
        topics: kafka.topics,
        ...liveRun(config, controller.signal),
        onRuntime: (v) => {
          view = v;
        },
        serve: {
          host: config.server.host,
          port: config.server.port,
          onServing: (url: string) =>
            process.stderr.write(
              `  dashboard: ${url} (metrics: ${url}metrics, health: ${url}health)\n` +
                `  results:   tables ${stores.schema}.attributed_checkouts, attribution_credits, analytics_minute, dead_letters in ${stores.where}\n` +
                `  more workers: flowmark run --kafka ${kafka.bootstrap.join(',')} --group ${kafka.group} (same database)\n`,
            ),
        },
      }).catch(async (err: unknown) => {
        controller.abort();
        await producing;
        throw producerFailure ?? err;
      });
    } finally {
      controller.abort();
      await stores.close();
    }
    await producing;
    if (producerFailure !== undefined) throw producerFailure;
    if (view !== undefined) process.stderr.write(`${statusLine(view, produced)}\ndemo: stopped cleanly\n`);
  } finally {
    clearInterval(status);
    release();
  }
}
