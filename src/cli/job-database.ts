/**
 * The database of a job without its log: what `import --kafka` and `produce --kafka` write into
 * (users, products, dead letters) so that a later `run --kafka` enriches with them. The same one
 * `job-stores.ts` opens: PGlite in the data dir, or the server of `database.url`, migrated.
 *
 * It is opened on first use only: an import into Kafka with no users, products or bad lines
 * never touches it (PGlite allows one process at a time, and a `run` may hold it).
 */
import { DEFAULT_SCHEMA, outputMigrations } from '../attribution/output-schema.ts';
import { openPgliteDatabase } from '../connectors/pglite/index.ts';
import { openPostgresDatabase } from '../connectors/postgres/index.ts';
import type { SqlClient } from '../connectors/sql/index.ts';
import type { StoreConfig } from './job-stores.ts';

export interface JobDatabase {
  db: SqlClient;
  /** The schema of flowmark's own tables. */
  schema: string;
  /** For messages: "PGlite in D" or the server's URL without its password. */
  where: string;
  close(): Promise<void>;
}

/** Opens (creating on first use) and migrates the database of `config`. */
export async function openJobDatabase(config: Pick<StoreConfig, 'dataDir' | 'database'>): Promise<JobDatabase> {
  const server = config.database;
  const schema = server?.schema ?? DEFAULT_SCHEMA;
  const migrations = outputMigrations(schema);
  const db =
    server === undefined
      ? await openPgliteDatabase(config.dataDir, { migrations, schema })
      : await openPostgresDatabase(server.url, { migrations, schema, poolSize: server.poolSize });
  return {
    db,
    schema,
    where: server === undefined ? `PGlite in ${config.dataDir}` : server.displayUrl,
    close: () => db.close(),
  };
}

/** A {@link JobDatabase} opened on the first `get()`; `close()` closes it if it was opened. */
export class LazyJobDatabase {
  readonly #config: Pick<StoreConfig, 'dataDir' | 'database'>;
  #opening: Promise<JobDatabase> | undefined;

  constructor(config: Pick<StoreConfig, 'dataDir' | 'database'>) {
    this.#config = config;
  }

  get(): Promise<JobDatabase> {
    this.#opening ??= openJobDatabase(this.#config);
    return this.#opening;
  }

  /** Where it is (or would be), for messages, without opening it. */
  get where(): string {
    const server = this.#config.database;
    return server === undefined ? `PGlite in ${this.#config.dataDir}` : server.displayUrl;
  }

  get schema(): string {
    return this.#config.database?.schema ?? DEFAULT_SCHEMA;
  }

  async close(): Promise<void> {
    const opening = this.#opening;
    this.#opening = undefined;
    if (opening === undefined) return;
    const db = await opening.catch(() => undefined);
    await db?.close();
  }
}
