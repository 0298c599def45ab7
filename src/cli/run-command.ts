/**
 * `flowmark run`: the pipeline alone over the embedded log in the data dir into PGlite.
 * `--drain` treats the current end of the log as the end of input, finalizes everything,
 * commits and exits 0. Without it, it follows the log until Ctrl-C, then checkpoints and stops;
 * run again, it continues from its last checkpoint.
 */
import { type AttributionModel, attributionOptions } from '../attribution/attribution-options.ts';
import { FlowmarkError, systemClock } from '../engine/index.ts';
import { durationFlag, listFlag } from './cli-flags.ts';
import { openEmbedded, runAttribution } from './embedded-job.ts';

export interface RunFlags {
  dataDir: string;
  databaseUrl?: string;
  drain?: boolean;
  model: string;
  scope: string;
  lookback: string;
  maxOutOfOrderness: string;
  halfLife?: string;
  excludedSources?: string;
}

/** Stops `controller` on the first Ctrl-C or SIGTERM; a second one exits at once. */
export function stopOnSignals(controller: AbortController, what: string): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(
      `\n${what}: ${signal}: finishing the current checkpoint (press Ctrl-C again to quit at once)\n`,
    );
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

export async function runRun(flags: RunFlags): Promise<void> {
  if (flags.databaseUrl !== undefined) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      '--database-url (a PostgreSQL server) is not built yet (see issue #4); without it flowmark uses PGlite in --data-dir',
    );
  }
  const attribution = attributionOptions({
    model: flags.model as AttributionModel,
    scope: flags.scope as 'product' | 'user',
    lookbackMs: durationFlag('lookback', flags.lookback),
    maxOutOfOrdernessMs: durationFlag('max-out-of-orderness', flags.maxOutOfOrderness),
    halfLifeMs: durationFlag('half-life', flags.halfLife ?? '15m'),
    excludedSources: listFlag(flags.excludedSources),
    provisional: flags.drain !== true,
  });
  const stores = await openEmbedded(flags.dataDir);
  const controller = new AbortController();
  const release = stopOnSignals(controller, 'run');
  const started = performance.now();
  try {
    const summary = await runAttribution(stores, {
      attribution,
      clock: systemClock,
      drain: flags.drain === true,
      signal: controller.signal,
    });
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(
      `run: ${summary.recordsRead} events in ${seconds.toFixed(2)} s, ${summary.checkpoints} checkpoints (last #${summary.lastCheckpointId}) → PGlite in ${flags.dataDir}\n`,
    );
  } finally {
    release();
    await stores.close();
  }
}
