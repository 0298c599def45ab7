import { FlowmarkError } from '../../engine/index.ts';
import { qualified, quoteIdent, type SqlClient } from './sql-client.ts';
import { sqlError } from './sql-errors.ts';

/** One schema change. Once released, a migration's SQL never changes: a new change is a new version. */
export interface Migration {
  /** Positive integer; migrations run in increasing order. */
  version: number;
  /** A short description, stored with the version. */
  name: string;
  /** A script of one or more statements. */
  sql: string;
}

export interface MigrationResult {
  /** Versions applied by this call, in order (empty when the schema was up to date). */
  applied: number[];
  /** The schema's version afterwards. */
  version: number;
}

/**
 * Brings `schema` up to the last of `migrations`: creates the schema and its version table
 * `<schema>.schema_migrations(version, name, applied_at)` if missing, then applies each migration
 * not yet recorded, each in its own transaction together with its version row. Idempotent:
 * running it again applies nothing. Concurrent runs (several processes on one server) are
 * serialized by an advisory lock.
 *
 * Refuses (FM_CONFIG_INVALID) when the database holds a version this list does not know: the
 * schema was migrated by a newer flowmark, and an older one must not write into it.
 *
 * @example
 * await runMigrations(client, 'flowmark', [{ version: 1, name: 'tables', sql: 'CREATE TABLE …' }])
 * // { applied: [1], version: 1 }; a second call: { applied: [], version: 1 }
 */
export async function runMigrations(
  client: SqlClient,
  schema: string,
  migrations: readonly Migration[],
): Promise<MigrationResult> {
  checkList(migrations);
  const known = new Set(migrations.map((m) => m.version));
  const latest = migrations.at(-1)?.version ?? 0;
  const versions = qualified(schema, 'schema_migrations');
  const applied: number[] = [];
  const lock = (tx: SqlClient) =>
    tx.query('SELECT pg_advisory_xact_lock(hashtext($1)) AS locked', [`flowmark:${schema}`]);
  try {
    await client.transaction(async (tx) => {
      await lock(tx);
      await tx.exec(
        `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)};
         CREATE TABLE IF NOT EXISTS ${versions} (
           version bigint PRIMARY KEY,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now())`,
      );
    });
    for (const m of migrations) {
      const done = await client.transaction(async (tx) => {
        await lock(tx);
        const { rows } = await tx.query<{ version: string }>(`SELECT version::text AS version FROM ${versions}`);
        const inDb = rows.map((r) => Number(r.version));
        const unknown = inDb.filter((v) => !known.has(v));
        if (unknown.length > 0) {
          throw new FlowmarkError(
            'FM_CONFIG_INVALID',
            `database schema "${schema}" is at migration ${Math.max(...unknown)}, which this flowmark does not know ` +
              `(it knows up to ${latest}): it was migrated by a newer flowmark. Run that version, or point this one ` +
              'at another schema.',
          );
        }
        if (inDb.includes(m.version)) return false;
        const later = inDb.filter((v) => v > m.version);
        if (later.length > 0) {
          throw new FlowmarkError(
            'FM_CONFIG_INVALID',
            `database schema "${schema}" has migration ${Math.max(...later)} but not ${m.version} (${m.name}); ` +
              'migrations must be applied in order: restore the schema or recreate it',
          );
        }
        await tx.exec(m.sql);
        await tx.query(`INSERT INTO ${versions} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
        return true;
      });
      if (done) applied.push(m.version);
    }
    // With no migration to run (or all already there), the loop above did not look for newer versions.
    const { rows } = await client.query<{ v: string | null }>(`SELECT max(version)::text AS v FROM ${versions}`);
    const version = rows[0]?.v == null ? 0 : Number(rows[0].v);
    if (version > latest) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `database schema "${schema}" is at migration ${version}, newer than this flowmark knows (up to ${latest}): ` +
          'it was migrated by a newer flowmark. Run that version, or point this one at another schema.',
      );
    }
    return { applied, version };
  } catch (err) {
    throw sqlError(err, 'FM_CONFIG_INVALID', `migrating database schema "${schema}" failed`);
  }
}

function checkList(migrations: readonly Migration[]): void {
  let previous = 0;
  for (const m of migrations) {
    if (!Number.isSafeInteger(m.version) || m.version <= previous) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `migration versions must be positive integers in increasing order; ${m.version} (${m.name}) follows ${previous}`,
      );
    }
    previous = m.version;
  }
}
