import { Option } from 'commander';
import { FlowmarkError, parseDurationMs } from '../engine/index.ts';
import { CONFIG_FILE_ENV, CONFIG_KEYS, defaultText } from './config/index.ts';

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

/** The heading of the configuration flags in --help. */
export const CONFIG_HELP_GROUP = 'Configuration (flag > FLOWMARK_* variable > --config file > default):';

/**
 * The flags of the configuration keys, and `--config`. They have no commander defaults (the
 * default is in their help text): the loader tells a given flag from a default by its presence.
 */
export function configOptions(): Option[] {
  const options = [
    new Option('--config <file>', `a flowmark.yaml (or ${CONFIG_FILE_ENV}); without it no file is read`),
    ...CONFIG_KEYS.filter((k) => k.flag !== undefined).map((k) => {
      const o = new Option(`--${k.flag} <${k.arg}>`, `${k.doc} (default: ${defaultText(k)})`);
      return k.choices === undefined ? o : o.choices(k.choices);
    }),
  ];
  for (const o of options) o.helpGroup(CONFIG_HELP_GROUP);
  return options;
}
