import pg from 'pg';
import { FlowmarkError } from '../../engine/index.ts';
import { type Migration, type MigrationResult, runMigrations } from '../sql/migrations.ts';
import type { SqlClient } from '../sql/sql-client.ts';
import { sqlError } from '../sql/sql-errors.ts';
import { PgClient } from './pg-client.ts';

export interface OpenPostgresOptions {
  /** The migrations of flowmark's tables (the application's output schema). */
  migrations: readonly Migration[];
  /** The schema they create (default `flowmark`). */
  schema?: string;
  /**
   * Runs before the migrations, on the connected database: checks of the configuration that
   * must fail before flowmark writes anything (e.g. that the shop's tables exist).
   */
  beforeMigrations?: (client: SqlClient) => Promise<void>;
  /** Most connections held at once (default 4: one checkpoint writer, look-ups, the dashboard). */
  poolSize?: number;
  /** How long to wait for a connection before the attempt fails as unavailable (default 5 000 ms). */
  connectTimeoutMs?: number;
  /** Shown in pg_stat_activity (default `flowmark`). */
  applicationName?: string;
}

/**
 * How long the server lets a flowmark session sit idle inside a transaction. A checkpoint sends
 * its statements back to back, so only a paused or hung process comes near this.
 */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;

/**
 * A PostgreSQL server, reached through a `pg` pool, with flowmark's schema migrated. The URL's
 * password is kept out of every message: {@link PostgresDatabase.displayUrl} is the URL with the
 * password replaced by `***`, and errors are scrubbed of it.
 */
export class PostgresDatabase extends PgClient {
  /** The URL without its password, for logs. */
  readonly displayUrl: string;
  readonly migration: MigrationResult;
  /** Milliseconds from the call to a migrated, usable database. */
  readonly openMs: number;

  /** @internal Use {@link openPostgresDatabase}. */
  constructor(pool: pg.Pool, info: { displayUrl: string; migration: MigrationResult; openMs: number }) {
    super(pool);
    this.displayUrl = info.displayUrl;
    this.migration = info.migration;
    this.openMs = info.openMs;
  }
}

/**
 * Parses a `postgres://` (or `postgresql://`) URL; throws FM_CONFIG_INVALID naming what is wrong,
 * without ever repeating the password. Returns the URL with the password replaced by `***`.
 *
 * @example
 * checkDatabaseUrl('postgres://shop:s3cret@db:5432/shop') // 'postgres://shop:***@db:5432/shop'
 * checkDatabaseUrl('mysql://db/shop') // throws: … must start with postgres:// or postgresql://
 */
export function checkDatabaseUrl(url: string, what = 'the database URL'): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `${what} is not a URL (expected postgres://user:password@host:5432/database)`,
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `${what} must start with postgres:// or postgresql:// (got ${parsed.protocol}//…)`,
    );
  }
  if (parsed.hostname === '' && !parsed.searchParams.has('host')) {
    throw new FlowmarkError('FM_CONFIG_INVALID', `${what} names no host (expected postgres://user@host:5432/database)`);
  }
  return redactDatabaseUrl(url);
}

/** The URL with its password replaced by `***` (unchanged when it has none or does not parse). */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

/**
 * Connects to a PostgreSQL server and brings flowmark's schema up to date. Fails at once
 * (FM_PG_UNAVAILABLE, retriable) when the server cannot be reached: a run does not start blind;
 * once running, outages are ridden out by retries (docs/operations.md).
 *
 * @example
 * const db = await openPostgresDatabase('postgres://flowmark@127.0.0.1/shop', { migrations: outputMigrations('flowmark') });
 * db.displayUrl; // 'postgres://flowmark@127.0.0.1/shop'
 * await db.close();
 */
export async function openPostgresDatabase(url: string, options: OpenPostgresOptions): Promise<PostgresDatabase> {
  const started = performance.now();
  const displayUrl = checkDatabaseUrl(url);
  const password = passwordOf(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    application_name: options.applicationName ?? 'flowmark',
    keepAlive: true,
    // A flowmark that is paused in the middle of a checkpoint transaction (SIGSTOP, a frozen VM)
    // holds the checkpoint row's lock, and the instance taking the job over would wait for it
    // forever. The server ends such a session after this long; the paused instance is then fenced.
    options: `-c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_TIMEOUT_MS}`,
  });
  // An idle connection that breaks (the server restarts) is an 'error' event of the pool, which
  // would end the process if nobody listened. The pool drops that connection; the next query
  // opens a new one, and a failing query is retried where it ran.
  pool.on('error', () => {});
  try {
    const client = new PgClient(pool);
    await options.beforeMigrations?.(client);
    const migration = await runMigrations(client, options.schema ?? 'flowmark', options.migrations);
    return new PostgresDatabase(pool, { displayUrl, migration, openMs: performance.now() - started });
  } catch (err) {
    await pool.end().catch(() => undefined);
    const e = sqlError(err, 'FM_PG_UNAVAILABLE', `connecting to ${displayUrl}`);
    if (e.code === 'FM_PG_UNAVAILABLE') throw unreachable(e, displayUrl, password);
    throw password === '' ? e : scrubbed(e, password);
  }
}

/**
 * A server that cannot be reached at start, said as such: the failure surfaces wherever the first
 * query ran (the migrations), whose wording ("migrating … failed") would send the user looking
 * at the schema instead of the server.
 */
function unreachable(err: FlowmarkError, displayUrl: string, password: string): FlowmarkError {
  let root: unknown = err;
  while (root instanceof Error && root.cause !== undefined) root = root.cause;
  const r = root as { message?: unknown; code?: unknown };
  // A host with several addresses fails with an AggregateError whose message is empty.
  let why = (typeof r.message === 'string' && r.message !== '' ? r.message : String(r.code ?? err.message)).trim();
  // The URL is shown without its password already; the driver's words might hold it.
  if (password !== '') why = why.replaceAll(password, '***');
  return new FlowmarkError(
    'FM_PG_UNAVAILABLE',
    `the PostgreSQL server at ${displayUrl} cannot be reached (${why}): is it running, and is the database URL right?`,
    { cause: err },
  );
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

/** The same error with every occurrence of the password replaced by `***`. */
function scrubbed(err: FlowmarkError, password: string): FlowmarkError {
  if (!err.message.includes(password)) return err;
  return new FlowmarkError(err.code, err.message.replaceAll(password, '***'));
}
