/**
 * `flowmark run`: the pipeline alone, over the queue of its mode (the embedded log in the data
 * dir, or Kafka as one worker of the consumer group) into the database (PGlite in the data dir,
 * or the PostgreSQL server of `database.url`).
 * `--drain` treats the current end of the input as the end, finalizes everything, commits and
 * exits 0. Without it, it follows the input until Ctrl-C, then checkpoints and stops; run again,
 * it continues from its last checkpoint.
 */
import { type ConfigFlags, type FlowmarkConfig, loadConfig } from '../config/index.ts';
import { jobOptions } from '../modes/job-kit.ts';
import { chooseMode } from '../modes/mode.ts';
import { stopOnSignals } from '../stop-signals.ts';

/** run's own flags; the configuration's (`--data-dir`, `--lookback`, …) are in {@link ConfigFlags}. */
export interface RunFlags extends ConfigFlags {
  drain?: boolean;
}

/**
 * Runs the pipeline. `config` is the resolved configuration (the CLI resolves it from flags,
 * variables and file first); without it, it is resolved from `flags` alone.
 */
export async function runRun(flags: RunFlags, config: FlowmarkConfig = loadConfig({ flags }).config): Promise<void> {
  const controller = new AbortController();
  const started = performance.now();
  const session = await chooseMode(config).open('run');
  const release = stopOnSignals(controller, 'run');
  try {
    const r = await session.runJob(
      jobOptions(config, {
        live: flags.drain !== true,
        signal: controller.signal,
        onServing: (url) =>
          process.stderr.write(`run: dashboard: ${url} (metrics: ${url}metrics, health: ${url}health)\n`),
      }),
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    process.stderr.write(`run: ${r.recordsRead} events in ${seconds} s${r.detail}\n`);
  } finally {
    release();
    await session.close();
  }
}
