/**
 * The services the suites need, and how bench finds them: a PostgreSQL server from
 * `--database-url` or $FLOWMARK_TEST_PG_URL (scripts/services.sh sets it); a Kafka broker from
 * `--kafka HOST:PORT`, else a private one (bench/support/kafka-broker.ts). Every schema a suite
 * creates on the server is named `fm_bench_*` and dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { SqlClient } from '../../src/connectors/sql/index.ts';

/** The server: `--database-url`, else $FLOWMARK_TEST_PG_URL, else none. */
export function databaseUrlOf(flag: string | undefined): string | undefined {
  return flag ?? (process.env.FLOWMARK_TEST_PG_URL || undefined);
}

/** What to do when no server is configured (printed by bench/run.ts, which then exits nonzero). */
export const NO_SERVER_MESSAGE = `the postgres benchmark needs a PostgreSQL server (it creates and drops schemas fm_bench_* in it):
  scripts/services.sh postgres -- npm run bench -- postgres     # a throwaway server for this run
  eval "$(scripts/services.sh postgres)"; npm run bench -- postgres   # or keep one running (scripts/services.sh stop)
  npm run bench -- postgres --database-url postgres://user@host:5432/db  # or a server of your own`;

/** A schema name of its own on a shared server: `fm_bench_<what>_<random>`. */
export function benchSchema(what: string): string {
  return `fm_bench_${what}_${randomBytes(6).toString('hex')}`;
}

/** Drops `schemas` (if they exist) on the server at `url`, over a connection of its own. */
export async function dropSchemas(url: string, schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
  } finally {
    await client.end();
  }
}

/** The server's version and the settings that decide its write speed, for the report. */
export async function serverSettings(db: SqlClient): Promise<string> {
  const { rows } = await db.query<{ v: string; sb: string; fs: string; sc: string; mw: string }>(
    `SELECT current_setting('server_version') AS v, current_setting('shared_buffers') AS sb,
            current_setting('fsync') AS fs, current_setting('synchronous_commit') AS sc,
            current_setting('max_wal_size') AS mw`,
  );
  const r = rows[0] as { v: string; sb: string; fs: string; sc: string; mw: string };
  return `PostgreSQL ${r.v.split(' ')[0]}, shared_buffers ${r.sb}, max_wal_size ${r.mw}, fsync ${r.fs}, synchronous_commit ${r.sc}`;
}
