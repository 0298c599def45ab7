/** Ctrl-C and SIGTERM for the commands that run until stopped (run, demo, produce). */

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
