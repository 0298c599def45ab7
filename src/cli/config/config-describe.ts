import { stringify } from 'yaml';
import type { FlowmarkConfig } from './config-loader.ts';
import { CONFIG_KEYS, formatBytes, formatDurationMs } from './config-schema.ts';

export { formatDurationMs } from './config-schema.ts';

/** Each key's value as flowmark.yaml would hold it; the database URL without its password. */
function yamlValues(c: FlowmarkConfig): Map<string, unknown> {
  const d = c.dimensions;
  const a = c.attribution;
  const values: Array<[string, unknown]> = [
    ['data_dir', c.dataDir],
    ['log.retention', c.log.retention],
    ['database.url', c.database?.displayUrl ?? null],
    ...(c.database === undefined
      ? []
      : ([
          ['database.schema', c.database.schema],
          ['database.pool_size', c.database.poolSize],
        ] as Array<[string, unknown]>)),
    ['kafka.bootstrap', c.kafka === undefined ? null : c.kafka.bootstrap.join(',')],
    ...(c.kafka === undefined
      ? []
      : ([
          ['kafka.group', c.kafka.group],
          ['kafka.partitions', c.kafka.partitions],
          ['kafka.topics.clicks', c.kafka.topics.clicks],
          ['kafka.topics.checkouts', c.kafka.topics.checkouts],
        ] as Array<[string, unknown]>)),
    ...(['users', 'products'] as const).flatMap(
      (dim): Array<[string, unknown]> => [
        [`dimensions.${dim}.schema`, d[dim].schema],
        [`dimensions.${dim}.table`, d[dim].table],
        [`dimensions.${dim}.key_column`, d[dim].keyColumn],
      ],
    ),
    ['dimensions.users.columns.name', d.users.columns.name],
    ['dimensions.users.columns.gender', d.users.columns.gender],
    ['dimensions.products.columns.name', d.products.columns.name],
    ['dimensions.products.columns.category', d.products.columns.category],
    ['dimensions.products.columns.price', d.products.columns.price],
    ['dimensions.products.columns.commission_rate', d.products.columns.commissionRate],
    ['dimensions.cache_entries', d.cacheEntries],
    ['dimensions.cache_ttl', formatDurationMs(d.cacheTtlMs)],
    ['attribution.model', a.model],
    ['attribution.scope', a.scope],
    ['attribution.lookback', formatDurationMs(a.lookbackMs)],
    [
      'attribution.lookback_by_source',
      Object.fromEntries(Object.entries(a.lookbackBySource).map(([s, ms]) => [s, formatDurationMs(ms)])),
    ],
    ['attribution.max_out_of_orderness', formatDurationMs(a.maxOutOfOrdernessMs)],
    ['attribution.max_future_skew', formatDurationMs(a.maxFutureSkewMs)],
    ['attribution.half_life', formatDurationMs(a.halfLifeMs)],
    ['attribution.excluded_sources', a.excludedSources],
    ['checkpoint.interval', formatDurationMs(c.checkpoint.intervalMs)],
    ['state.memory_budget', formatBytes(c.state.memoryBudgetBytes)],
    ['state.local_dir', c.state.localDir],
    ['server.host', c.server.host],
    ['server.port', c.server.port],
  ];
  return new Map(values);
}

/**
 * The configuration as the lines of a flowmark.yaml (which loads back to the same configuration,
 * except for the redacted password), each value followed by where it came from when `origins`
 * is given (see {@link LoadedConfig.origins}).
 *
 * @example
 * describeConfig(loadConfig({ flags: { lookback: '30m' } }).config)
 * // ['data_dir: .flowmark', 'database:', '  url: null  # unset: PGlite in .flowmark/pglite', …]
 */
export function describeConfig(config: FlowmarkConfig, origins?: ReadonlyMap<string, string>): string[] {
  const values = yamlValues(config);
  const rows: Array<[string, string | undefined]> = [];
  let open: string[] = [];
  for (const key of CONFIG_KEYS) {
    if (!values.has(key.path)) continue;
    const parts = key.path.split('.');
    const branches = parts.slice(0, -1);
    let same = 0;
    while (same < branches.length && branches[same] === open[same]) same++;
    for (let i = same; i < branches.length; i++) rows.push([`${'  '.repeat(i)}${branches[i]}:`, undefined]);
    open = branches;
    const value = stringify(values.get(key.path), { collectionStyle: 'flow', lineWidth: 0 }).trimEnd();
    let origin = origins?.get(key.path);
    if (key.path === 'database.url' && config.database === undefined)
      origin = `${origin ?? 'default'}: PGlite in ${config.dataDir}/pglite`;
    if (key.path === 'kafka.bootstrap' && config.kafka === undefined)
      origin = `${origin ?? 'default'}: the log in ${config.dataDir}/log`;
    rows.push([`${'  '.repeat(branches.length)}${parts.at(-1)}: ${value}`, origin]);
  }
  const width = Math.min(56, Math.max(...rows.map(([line]) => line.length)));
  return rows.map(([line, origin]) => (origin === undefined ? line : `${line.padEnd(width)}  # ${origin}`));
}
