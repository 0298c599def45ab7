/**
 * The database of a job: PGlite in the data dir, or the PostgreSQL server of `database.url`,
 * migrated (flowmark's own tables). Which of the two is decided once, in `chooseMode`
 * (./mode.ts); everything else (pipeline, committer, look-ups) is written against
 * {@link SqlClient} and does not know which one it got.
 */
import { DEFAULT_SCHEMA, outputMigrations } from '../../attribution/output-schema.ts';
import { openPgliteDatabase } from '../../connectors/pglite/index.ts';
import { openPostgresDatabase } from '../../connectors/postgres/index.ts';
import {
  checkDimensionTables,
  type ProductsTableSpec,
  type SqlClient,
  type UsersTableSpec,
} from '../../connectors/sql/index.ts';

/** The configuration of a PostgreSQL server (`database.*`). */
export interface ServerConfig {
  url: string;
  displayUrl: string;
  schema: string;
  poolSize: number;
}

/**
 * The shop's users and products tables: checked before flowmark writes anything, so that a
 * missing table or column fails the start with nothing written (tables in flowmark's own schema
 * are checked after the migrations that create them).
 */
export interface ShopTables {
  users: UsersTableSpec;
  products: ProductsTableSpec;
}

export interface JobDatabase {
  db: SqlClient;
  /** The schema of flowmark's own tables. */
  schema: string;
  /** For messages: "PGlite in D" or the server's URL without its password. */
  where: string;
  close(): Promise<void>;
}

/** A database not opened yet: where it is, and how to open it. */
export interface DatabaseChoice {
  /** For messages: "PGlite in D" or the server's URL without its password. */
  readonly where: string;
  /** The schema of flowmark's own tables. */
  readonly schema: string;
  /** PGlite lives in the data dir, which must then be writable. */
  readonly inDataDir: boolean;
  /** Opens (creating on first use) and migrates it; `shopTables` are checked first. */
  open(o?: { shopTables?: ShopTables | undefined }): Promise<JobDatabase>;
}

/** PGlite in `<dataDir>/pglite`. */
export function pgliteDatabase(dataDir: string): DatabaseChoice {
  return choice(`PGlite in ${dataDir}`, DEFAULT_SCHEMA, true, (migrations, beforeMigrations) =>
    openPgliteDatabase(dataDir, { migrations, schema: DEFAULT_SCHEMA, beforeMigrations }),
  );
}

/** The PostgreSQL server of `database.url`. */
export function serverDatabase(server: ServerConfig): DatabaseChoice {
  return choice(server.displayUrl, server.schema, false, (migrations, beforeMigrations) =>
    openPostgresDatabase(server.url, {
      migrations,
      schema: server.schema,
      poolSize: server.poolSize,
      beforeMigrations,
    }),
  );
}

function choice(
  where: string,
  schema: string,
  inDataDir: boolean,
  connect: (
    migrations: ReturnType<typeof outputMigrations>,
    beforeMigrations: (client: SqlClient) => Promise<void>,
  ) => Promise<SqlClient>,
): DatabaseChoice {
  return {
    where,
    schema,
    inDataDir,
    async open(o = {}) {
      const dims = o.shopTables;
      const beforeMigrations = async (client: SqlClient) => {
        if (dims === undefined) return;
        // Tables in flowmark's own schema do not exist before its migrations: checked later.
        const shops = {
          ...(dims.users.schema !== undefined && dims.users.schema !== schema ? { users: dims.users } : {}),
          ...(dims.products.schema !== undefined && dims.products.schema !== schema ? { products: dims.products } : {}),
        };
        if (shops.users !== undefined || shops.products !== undefined) await checkDimensionTables(client, shops);
      };
      const db = await connect(outputMigrations(schema), beforeMigrations);
      return { db, schema, where, close: () => db.close() };
    },
  };
}

/**
 * A {@link JobDatabase} opened on the first `get()`; `close()` closes it if it was opened. An
 * import into Kafka with no users, products or bad lines never touches it (PGlite allows one
 * process at a time, and a `run` may hold it).
 */
export class LazyJobDatabase {
  readonly #choice: DatabaseChoice;
  #opening: Promise<JobDatabase> | undefined;

  constructor(choice: DatabaseChoice) {
    this.#choice = choice;
  }

  /** The database; its `close()` closes it here, so that a later `get()` opens it again. */
  get(): Promise<JobDatabase> {
    this.#opening ??= this.#choice.open().then((d) => ({ ...d, close: () => this.close() }));
    return this.#opening;
  }

  /** Where it is (or would be), for messages, without opening it. */
  get where(): string {
    return this.#choice.where;
  }

  get schema(): string {
    return this.#choice.schema;
  }

  async close(): Promise<void> {
    const opening = this.#opening;
    this.#opening = undefined;
    if (opening === undefined) return;
    const db = await opening.catch(() => undefined);
    await db?.db.close();
  }
}
