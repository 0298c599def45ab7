/**
 * flowmark's configuration: an optional flowmark.yaml (`--config`), every key overridable by a
 * `FLOWMARK_*` variable and most by a flag; resolved and checked before a command starts
 * (docs/configuration.md).
 */
export { describeConfig, formatDurationMs } from './config-describe.ts';
export {
  type ConfigInput,
  type DatabaseConfig,
  type FlowmarkConfig,
  type KafkaConfig,
  type LoadedConfig,
  loadConfig,
  type ResolvedTableSpec,
  suggestKey,
} from './config-loader.ts';
export {
  CONFIG_FILE_ENV,
  CONFIG_KEYS,
  type ConfigFlags,
  type ConfigKey,
  declaredDefault,
  defaultText,
  envName,
  flagAttribute,
  parsedDefault,
} from './config-schema.ts';
