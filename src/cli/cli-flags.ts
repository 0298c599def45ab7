import { FlowmarkError, parseDurationMs } from '../engine/index.ts';

/** A duration flag (`15s`, `1h`, …) in ms, or an error naming the flag and the accepted forms. */
export function durationFlag(flag: string, value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `--${flag} must be a duration such as 250ms, 15s, 30m, 1h or 7d, got "${value}"`,
    );
  }
  return ms;
}

/** A comma-separated list flag (`--excluded-sources direct,email`). */
export function listFlag(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}
