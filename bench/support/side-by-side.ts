import { performance } from 'node:perf_hooks';
import { median } from './report.ts';

/** The timed part of a variant of {@link sideBySide}. */
export type Work = () => unknown | Promise<unknown>;

/**
 * Measures variants side by side: `rounds` rounds, each running every variant once in turn, so
 * that a noisy neighbour hurts all variants alike. Each variant is a factory called untimed
 * (to build its input) that returns the work to time. Returns the median seconds per variant,
 * and the last result of each (so that callers can check the variants computed the same thing).
 */
export async function sideBySide(
  variants: Record<string, () => Work | Promise<Work>>,
  rounds = 3,
  /** Called untimed after each run with its result (e.g. to count rows and clean up). */
  afterEach?: (name: string, result: unknown, seconds: number) => unknown | Promise<unknown>,
): Promise<{ seconds: Record<string, number>; results: Record<string, unknown> }> {
  const times: Record<string, number[]> = {};
  const results: Record<string, unknown> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, prepare] of Object.entries(variants)) {
      const work = await prepare();
      globalThis.gc?.();
      const t0 = performance.now();
      results[name] = await work();
      const seconds = (performance.now() - t0) / 1000;
      (times[name] ??= []).push(seconds);
      await afterEach?.(name, results[name], seconds);
    }
  }
  const seconds: Record<string, number> = {};
  for (const [name, ts] of Object.entries(times)) seconds[name] = median(ts);
  return { seconds, results };
}
