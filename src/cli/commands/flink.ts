/**
 * `flowmark flink sql`: prints the Flink SQL 1.20 script of the configured pipeline
 * (src/attribution/flink/flink-sql.ts), for a shop that runs the job on its own Apache Flink;
 * `flowmark flink deploy` submits it through a Flink SQL Gateway, and `flowmark flink status`
 * lists the cluster's flowmark jobs.
 * The configuration gives the Kafka topics, the database, the shop's tables and the attribution
 * options; the database password is never printed: the script names a variable instead.
 */
import { DEFAULT_ATTRIBUTION_OPTIONS } from '../../attribution/attribution-options.ts';
import { type FlinkJobSpec, flinkSql, flinkStatements } from '../../attribution/flink/flink-sql.ts';
import { FlowmarkError } from '../../engine/index.ts';
import type { ConfigFlags, FlowmarkConfig } from '../config/index.ts';
import { FlinkGateway } from '../flink-gateway.ts';
import { flinkEndpoints } from '../modes/mode.ts';

/** The variable whose value replaces the password placeholder when the script is submitted. */
export const FLINK_PASSWORD_ENV = 'FLOWMARK_PG_PASSWORD';

/** How long the Flink job keeps checkout ids and analytics groups (flowmark: 24 h of event time). */
const FLINK_STATE_TTL_MS = 86_400_000;

export interface FlinkSqlFlags extends ConfigFlags {
  bounded?: boolean;
}

export interface FlinkDeployFlags extends FlinkSqlFlags {
  gateway?: string;
}

/** The job name the script sets (`pipeline.name`): how status finds flowmark's jobs. */
export const FLINK_JOB_NAME = 'flowmark-attribution';

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
  const { kafka, database } = flinkEndpoints(config);
  const { users, products } = config.dimensions;
  return {
    kafka: { bootstrap: kafka.bootstrap, group: kafka.group, topics: kafka.topics },
    jdbc: { ...jdbcOf(database.url), schema: database.schema },
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
      lookbackBySource: config.attribution.lookbackBySource,
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

function requireGateway(flags: { gateway?: string }, command: string): FlinkGateway {
  if (flags.gateway === undefined || flags.gateway === '') {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `--gateway is required: the REST endpoint of a Flink SQL Gateway (e.g. flowmark flink ${command} --gateway http://127.0.0.1:8083)`,
    );
  }
  return new FlinkGateway(flags.gateway);
}

/**
 * The database password for the script's placeholder: the configured URL's (sent to the gateway,
 * never printed), else $FLOWMARK_PG_PASSWORD, else empty (a server that asks for none).
 */
function passwordOf(config: FlowmarkConfig): string {
  const url = new URL(flinkEndpoints(config).database.url);
  return decodeURIComponent(url.password) || url.searchParams.get('password') || process.env[FLINK_PASSWORD_ENV] || '';
}

/**
 * `flowmark flink deploy --gateway URL`: the script's statements, one by one, in one gateway
 * session; the last (the statement set) starts the job, whose id is printed. Without --bounded
 * the job runs until it is cancelled (a Flink job, not a flowmark process).
 */
export async function runFlinkDeploy(flags: FlinkDeployFlags, config: FlowmarkConfig): Promise<string> {
  const gateway = requireGateway(flags, 'deploy');
  const spec = flinkJobSpec(config, { bounded: flags.bounded === true });
  const placeholder = spec.jdbc.passwordPlaceholder;
  const password = placeholder === undefined ? '' : passwordOf(config);
  // The gateway returns at submission: the client-side wait of a bounded script does not apply.
  const statements = flinkStatements(spec).filter((s) => !s.startsWith("SET 'table.dml-sync'"));
  const session = await gateway.openSession();
  try {
    let jobId: string | undefined;
    for (const statement of statements) {
      const sql =
        placeholder === undefined ? statement : statement.replaceAll(placeholder, password.replaceAll("'", "''"));
      const r = await gateway.execute(session, sql);
      jobId = r.jobId ?? (r.columns[0] === 'job id' ? String(r.rows[0]?.[0]) : jobId);
    }
    if (jobId === undefined)
      throw new FlowmarkError('FM_CONFIG_INVALID', 'the gateway ran the statements but reported no job id');
    process.stdout.write(`${jobId}\n`);
    process.stderr.write(`flink deploy: job ${jobId} (${FLINK_JOB_NAME}) submitted through ${flags.gateway}\n`);
    return jobId;
  } finally {
    await gateway.closeSession(session);
  }
}

/** A job of the cluster as `SHOW JOBS` lists it. */
export interface FlinkJobStatus {
  id: string;
  name: string;
  status: string;
  startTime: string;
}

/** `flowmark flink status --gateway URL`: flowmark's jobs on the cluster, newest first, one line each. */
export async function runFlinkStatus(flags: { gateway?: string }): Promise<FlinkJobStatus[]> {
  const gateway = requireGateway(flags, 'status');
  const session = await gateway.openSession();
  try {
    const r = await gateway.execute(session, 'SHOW JOBS');
    const jobs = r.rows
      .map((row) => ({ id: String(row[0]), name: String(row[1]), status: String(row[2]), startTime: String(row[3]) }))
      .filter((j) => j.name === FLINK_JOB_NAME)
      .sort((a, b) => Date.parse(b.startTime) - Date.parse(a.startTime));
    if (jobs.length === 0) process.stdout.write(`no ${FLINK_JOB_NAME} job on the cluster of ${flags.gateway}\n`);
    for (const j of jobs) process.stdout.write(`${j.id} ${j.status} since ${j.startTime}\n`);
    return jobs;
  } finally {
    await gateway.closeSession(session);
  }
}
