/**
 * A reference schema of ../shared/seed-formats, loaded unchanged into a database of its own on the
 * test server (both files run `CREATE SCHEMA` unconditionally, so they cannot share one), with a
 * login role that may read only the columns flowmark needs. The database and the role are dropped
 * by `drop()`.
 */
import { existsSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { PgClient } from '../../../src/connectors/postgres/index.ts';
import type { SqlClient } from '../../../src/connectors/sql/sql-client.ts';

export const SHARED = new URL('../../../../shared/seed-formats/', import.meta.url);
/** The repository's byte-for-byte copies, used when ../shared is not on the machine (CI). */
const COPIES: Record<string, URL> = {
  'tutorial-schema.sql': new URL('../sql/fixtures/tutorial-schema.sql', import.meta.url),
  'insights-schema.sql': new URL('../sql/fixtures/insights-schema.sql', import.meta.url),
  'tutorial-clicks.jsonl': new URL('../../golden/seed-tutorial/clicks.jsonl', import.meta.url),
  'tutorial-checkouts.jsonl': new URL('../../golden/seed-tutorial/checkouts.jsonl', import.meta.url),
  'insights-clicks.jsonl': new URL('../../golden/seed-insights/clicks.jsonl', import.meta.url),
  'insights-checkouts.jsonl': new URL('../../golden/seed-insights/checkouts.jsonl', import.meta.url),
};

/** The names of the seed files that have a copy in the repository. */
export const SEED_FILES = Object.keys(COPIES);

/** The path of a seed file: ../shared/seed-formats/<name> when present, else the repository's copy. */
export function seedFile(name: string): string {
  const shared = new URL(name, SHARED);
  if (existsSync(shared)) return shared.pathname;
  const copy = COPIES[name];
  if (copy === undefined) throw new Error(`no copy of seed file ${name} in the repository`);
  return copy.pathname;
}

/** Both versions of a seed file, when ../shared is on the machine (to check that the copy is exact). */
export function seedFileVersions(name: string): { shared: string; copy: string } | undefined {
  const shared = new URL(name, SHARED);
  const copy = COPIES[name];
  if (!existsSync(shared) || copy === undefined) return undefined;
  return { shared: readFileSync(shared, 'utf8'), copy: readFileSync(copy, 'utf8') };
}

export interface ReferenceSetup {
  /** The schema file, run as it is (e.g. `tutorial-schema.sql`). */
  schemaFile: string;
  /** Statements that insert the users and products the seed events name. */
  rows: string;
  /** The reader role's grants on the shop's tables (`GRANT SELECT (id, username) ON … TO ${role}`). */
  grants: (role: string) => string;
}

export interface ReferenceDatabase {
  name: string;
  /** The reader role: LOGIN, SELECT on the granted columns only, CREATE on the database (for flowmark's schema). */
  role: string;
  /** Connected as the server's superuser (setup, and reading what the pipeline wrote). */
  admin: PgClient;
  /** Connected as the reader role, with no password (the test server trusts 127.0.0.1). */
  reader: PgClient;
  /** Closes both clients, drops the database (WITH (FORCE)) and then the role. */
  drop(): Promise<void>;
}

let counter = 0;

function urlOf(serverUrl: string, database: string, user?: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  if (user !== undefined) {
    u.username = user;
    u.password = '';
  }
  return u.toString();
}

function pool(url: string): PgClient {
  const client = new PgClient(new pg.Pool({ connectionString: url, max: 2 }));
  client.pool.on('error', () => {}); // a connection ended by DROP DATABASE … WITH (FORCE)
  return client;
}

/** Creates `fm_ref_<unique>` on the server `server` (reached at `serverUrl`) and sets it up. */
export async function openReferenceDatabase(
  server: SqlClient,
  serverUrl: string,
  setup: ReferenceSetup,
): Promise<ReferenceDatabase> {
  const suffix = `${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`;
  const name = `fm_ref_${suffix}`;
  const role = `fm_ref_reader_${suffix}`;
  await server.exec(`CREATE DATABASE ${name}`);
  await server.exec(`CREATE ROLE ${role} LOGIN`);
  const admin = pool(urlOf(serverUrl, name));
  const reader = pool(urlOf(serverUrl, name, role));
  const drop = async () => {
    await Promise.allSettled([admin.close(), reader.close()]);
    await server.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await server.exec(`DROP ROLE IF EXISTS ${role}`);
  };
  try {
    await admin.exec(readFileSync(seedFile(setup.schemaFile), 'utf8')); // exactly as shipped
    await admin.exec(setup.rows);
    await admin.exec(`${setup.grants(role)}; GRANT CREATE ON DATABASE ${name} TO ${role}`);
  } catch (err) {
    await drop();
    throw err;
  }
  return { name, role, admin, reader, drop };
}
