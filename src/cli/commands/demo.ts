/**
 * `flowmark demo` (and `npm start`): the whole product on a laptop. A simulated shop website
 * writes clicks and checkouts into the queue of the mode (flowmark's own log by default; Kafka
 * with `--kafka`, as `flowmark produce`) while the attribution pipeline follows it into the
 * database, exactly once, with provisional rows updated to final ones, and the dashboard. Ctrl-C
 * stops cleanly (the last checkpoint is committed); run again, it continues where it stopped.
 * With Kafka, more workers can join with `flowmark run --kafka … --group <the same group>`.
 */
import { FlowmarkError, systemClock } from '../../engine/index.ts';
import { generateCatalog, LiveTraffic } from '../../generator/index.ts';
import type { MonitoredRuntime } from '../../observability/index.ts';
import { type ConfigFlags, type FlowmarkConfig, loadConfig } from '../config/index.ts';
import { CATALOG_SEED, DEMO_MESS, loadCatalog, type ProducedCounts, produceTraffic } from '../demo-shop.ts';
import { errorText } from '../error-messages.ts';
import { jobOptions } from '../modes/job-kit.ts';
import { chooseMode } from '../modes/mode.ts';
import { stopOnSignals } from '../stop-signals.ts';

/** demo's own flags; the configuration's (`--data-dir`, `--port`, …) are in {@link ConfigFlags}. */
export interface DemoFlags extends ConfigFlags {
  rate?: string;
  users?: string;
  products?: string;
}

const STATUS_EVERY_MS = 2000;

function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new FlowmarkError('FM_CONFIG_INVALID', `--${flag} must be a positive integer, got "${value}"`);
  return n;
}

/** One status line; tests read it, so its words are stable. */
export function statusLine(runtime: Pick<MonitoredRuntime, 'stats' | 'checkpointId'>, produced: number): string {
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

/**
 * Runs the demo. `config` is the resolved configuration (the CLI resolves it from flags,
 * variables and file first); without it, it is resolved from `flags` alone.
 */
export async function runDemo(flags: DemoFlags, config: FlowmarkConfig = loadConfig({ flags }).config): Promise<void> {
  const rate = positiveInt('rate', flags.rate, 200);
  const users = positiveInt('users', flags.users, 1000);
  const products = positiveInt('products', flags.products, 200);
  const controller = new AbortController();
  const session = await chooseMode(config).open('demo');
  const release = stopOnSignals(controller, 'demo');
  const counts: ProducedCounts = { produced: 0, clicks: 0, checkouts: 0, unroutable: 0 };
  let view: Pick<MonitoredRuntime, 'stats' | 'checkpointId'> | undefined;
  const status = setInterval(() => {
    if (view !== undefined) process.stderr.write(`${statusLine(view, counts.produced)}\n`);
  }, STATUS_EVERY_MS);
  // Never rejects (a failure is kept and stops the demo), so it can be awaited on every path.
  let producing: Promise<void> = Promise.resolve();
  let producerFailure: unknown;
  try {
    // The shop first, so that the pipeline enriches the first checkouts.
    const catalog = generateCatalog({ users, products, seed: CATALOG_SEED });
    await loadCatalog(await session.database(), catalog);
    const queue = await session.queue((line) => process.stderr.write(`demo: ${line}\n`));
    process.stderr.write(
      `flowmark demo: a simulated shop (${users} users, ${products} products) at ${rate} events/s\n` +
        `${session.demoLines().join('\n')}\n` +
        '  Ctrl-C stops cleanly; run it again to continue where it stopped.\n',
    );
    const traffic = new LiveTraffic(catalog, { clock: systemClock, ratePerSecond: rate, ...DEMO_MESS });
    // A failure of the queue stops the demo (the pipeline checkpoints what it has) instead of
    // leaving later lines unacknowledged.
    producing = produceTraffic(traffic, queue, counts, { signal: controller.signal, clock: systemClock }).catch(
      (err: unknown) => {
        producerFailure = err;
        controller.abort();
      },
    );
    await session
      .runJob({
        ...jobOptions(config, {
          live: true,
          signal: controller.signal,
          // Tests and scripts read this line for the port (with --port 0).
          onServing: (url) =>
            process.stderr.write(`  dashboard: ${url} (metrics: ${url}metrics, health: ${url}health)\n`),
        }),
        onRuntime: (r) => {
          view = r;
        },
      })
      .catch(async (err: unknown) => {
        // A job that failed because the producer did (a broker gone, say) is told by the cause.
        controller.abort();
        await producing;
        throw producerFailure ?? err;
      });
    controller.abort();
    await producing;
    if (producerFailure !== undefined) {
      // A disk that is full, say: the cause stays attached, main.ts says "the disk holding … is full" from it.
      if (producerFailure instanceof FlowmarkError) throw producerFailure;
      throw new FlowmarkError(
        'FM_SINK_FAILED',
        `the demo could not write to its ${queue.name}: ${errorText(producerFailure)}`,
        { cause: producerFailure },
      );
    }
    if (view !== undefined) process.stderr.write(`${statusLine(view, counts.produced)}\ndemo: stopped cleanly\n`);
  } finally {
    controller.abort();
    clearInterval(status);
    release();
    await producing;
    await session.close();
  }
}
