/**
 * `flowmark run`: the pipeline alone over the embedded log in the data dir into the database
 * (PGlite in the data dir, or the PostgreSQL server of `database.url`).
 * `--drain` treats the current end of the log as the end of input, finalizes everything,
 * commits and exits 0. Without it, it follows the log until Ctrl-C, then checkpoints and stops;
 * run again, it continues from its last checkpoint.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { attributionOptions } from '../attribution/attribution-options.ts';
import { FlowmarkError, systemClock } from '../engine/index.ts';
import { checkWritableDirectory, dataDirPath } from './cli-paths.ts';
import { type ConfigFlags, type FlowmarkConfig, loadConfig } from './config/index.ts';
import { runAttribution } from './embedded-job.ts';
import { openJobDatabase } from './job-database.ts';
import { openStores } from './job-stores.ts';
import { runKafkaAttribution } from './kafka-job.ts';

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

/** run's own flags; the configuration's (`--data-dir`, `--lookback`, …) are in {@link ConfigFlags}. */
export interface RunFlags extends ConfigFlags {
  drain?: boolean;
}

/**
 * Stops `controller` on the first Ctrl-C or SIGTERM, saying what it is `finishing`; a second one
 * exits at once.
 */
export function stopOnSignals(
  controller: AbortController,
  what: string,
  finishing = 'finishing the current checkpoint',
): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\n${what}: ${signal}: ${finishing} (press Ctrl-C again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

function serveOptions(config: FlowmarkConfig) {
  return {
    host: config.server.host,
    port: config.server.port,
    onServing: (url: string) =>
      process.stderr.write(`run: dashboard: ${url} (metrics: ${url}metrics, health: ${url}health)\n`),
  };
}

/**
 * Runs the pipeline. `config` is the resolved configuration (the CLI resolves it from flags,
 * variables and file first); without it, it is resolved from `flags` alone.
 */
export async function runRun(flags: RunFlags, config: FlowmarkConfig = loadConfig({ flags }).config): Promise<void> {
  const attribution = attributionOptions({ ...config.attribution, provisional: flags.drain !== true });
  const drain = flags.drain === true;
  const common = {
    attribution,
    clock: systemClock,
    drain,
    checkpointIntervalMs: config.checkpoint.intervalMs,
    dimensions: config.dimensions,
    // A drain is a batch that ends by itself: it serves nothing. A live run serves the dashboard.
    ...(drain ? {} : { serve: serveOptions(config) }),
  };
  const controller = new AbortController();
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(2);
  const kafka = config.kafka;
  if (kafka !== undefined) {
    // A Kafka worker has no log of its own: several workers may share a data dir.
    if (config.database === undefined) checkWritableDirectory(dataDirPath(config), { create: true });
    const db = await openJobDatabase(config);
    const release = stopOnSignals(controller, 'run');
    try {
      const s = await runKafkaAttribution(db, {
        ...common,
        bootstrap: kafka.bootstrap,
        group: kafka.group,
        topics: kafka.topics,
        signal: controller.signal,
      });
      process.stderr.write(
        `run: ${s.recordsRead} events in ${seconds()} s from Kafka ${kafka.bootstrap.join(',')} (group ${kafka.group}, ${s.keyedByUser ? `partitions ${s.partitionsRun.join(', ') || 'none'} run here` : 'all partitions as one job: the topics are not keyed by user_id'}), ${s.checkpoints} checkpoints → ${db.where}\n`,
      );
    } finally {
      release();
      await db.close();
    }
    return;
  }
  checkLogIsThere(config.dataDir);
  const stores = await openStores(config);
  const release = stopOnSignals(controller, 'run');
  try {
    const s = await runAttribution(stores, { ...common, signal: controller.signal });
    process.stderr.write(
      `run: ${s.recordsRead} events in ${seconds()} s, ${s.checkpoints} checkpoints (last #${s.lastCheckpointId}) → ${stores.where}\n`,
    );
  } finally {
    release();
    await stores.close();
  }
}
