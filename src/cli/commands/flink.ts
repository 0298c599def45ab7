/**
 * `flowmark flink sql`: prints the Flink SQL 1.20 script of the configured pipeline
 * (src/attribution/flink/flink-sql.ts), for a shop that runs the job on its own Apache Flink.
 * The configuration gives the Kafka topics, the database, the shop's tables and the attribution
 * options; the database password is never printed: the script names a variable instead.
 */
import { DEFAULT_ATTRIBUTION_OPTIONS } from '../../attribution/attribution-options.ts';
import { type FlinkJobSpec, flinkSql } from '../../attribution/flink/flink-sql.ts';
import { FlowmarkError } from '../../engine/index.ts';
import type { ConfigFlags, FlowmarkConfig } from '../config/index.ts';

/** The variable whose value replaces the password placeholder when the script is submitted. */
export const FLINK_PASSWORD_ENV = 'FLOWMARK_PG_PASSWORD';

/** How long the Flink job keeps checkout ids and analytics groups (flowmark: 24 h of event time). */
const FLINK_STATE_TTL_MS = 86_400_000;

export interface FlinkSqlFlags extends ConfigFlags {
  bounded?: boolean;
}

/**
 * A `postgres://user:password@host:port/db?…` URL as the JDBC connector's options: the JDBC URL
 * (with no credentials), the user, and with it the placeholder of the password.
 *
 * @example
 * jdbcOf('postgres://shop:secret@db:5432/shop').url // 'jdbc:postgresql://db:5432/shop'
 */
export function jdbcOf(url: string): FlinkJdbc {
  const u = new URL(url);
  const params = new URLSearchParams(u.search);
  // Credentials go to their own options; the password never into the script.
  for (const secret of ['password', 'user', 'sslpassword']) params.delete(secret);
  const query = params.toString();
  const host = u.host === '' ? (params.get('host') ?? 'localhost') : u.host;
  const user = decodeURIComponent(u.username) || new URLSearchParams(u.search).get('user') || undefined;
  // The JDBC connector takes a user only with a password: a user always gets the placeholder
  // (substitute an empty value when the server asks for no password).
  return {
    url: `jdbc:postgresql://${host}${u.pathname}${query === '' ? '' : `?${query}`}`,
    ...(user === undefined ? {} : { username: user, passwordPlaceholder: `\${${FLINK_PASSWORD_ENV}}` }),
  };
}

type FlinkJdbc = Pick<FlinkJobSpec['jdbc'], 'url' | 'username' | 'passwordPlaceholder'>;

/** The script's inputs from the resolved configuration; names the missing key when Kafka or the server is unset. */
export function flinkJobSpec(config: FlowmarkConfig, { bounded = false }: { bounded?: boolean } = {}): FlinkJobSpec {
  if (config.kafka === undefined) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      'kafka.bootstrap is not set: the Flink job reads the Kafka topics; give --kafka HOST:PORT (or FLOWMARK_KAFKA_BOOTSTRAP, or kafka.bootstrap in the file)',
    );
  }
  if (config.database === undefined) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      'database.url is not set: the Flink job reads the shop’s tables and writes flowmark’s on a PostgreSQL server; give --database-url postgres://… (or FLOWMARK_DATABASE_URL)',
    );
  }
  const { users, products } = config.dimensions;
  return {
    kafka: { bootstrap: config.kafka.bootstrap, group: config.kafka.group, topics: config.kafka.topics },
    jdbc: { ...jdbcOf(config.database.url), schema: config.database.schema },
    users: { schema: users.schema, table: users.table, keyColumn: users.keyColumn, columns: users.columns },
    products: {
      schema: products.schema,
      table: products.table,
      keyColumn: products.keyColumn,
      columns: products.columns,
    },
    lookupCache: { entries: config.dimensions.cacheEntries, ttlMs: config.dimensions.cacheTtlMs },
    attribution: {
      model: config.attribution.model,
      scope: config.attribution.scope,
      lookbackMs: config.attribution.lookbackMs,
      maxOutOfOrdernessMs: config.attribution.maxOutOfOrdernessMs,
      idleTimeoutMs: DEFAULT_ATTRIBUTION_OPTIONS.idleTimeoutMs,
      excludedSources: config.attribution.excludedSources,
    },
    checkpointIntervalMs: config.checkpoint.intervalMs,
    stateTtlMs: FLINK_STATE_TTL_MS,
    bounded,
  };
}

/** `flowmark flink sql`: the script on stdout. */
export async function runFlinkSql(flags: FlinkSqlFlags, config: FlowmarkConfig): Promise<void> {
  process.stdout.write(flinkSql(flinkJobSpec(config, { bounded: flags.bounded === true })));
}
