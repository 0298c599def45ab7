/**
 * Where a job's input and output live. The input is always flowmark's own log in the data
 * directory (Kafka comes with issue #7); the output database is PGlite in the same directory, or a
 * PostgreSQL server when a URL is configured. Everything else (pipeline, committer, look-ups) is
 * written against {@link SqlClient} and does not know which one it got.
 */
import { join } from 'node:path';
import { DEFAULT_SCHEMA, outputMigrations } from '../attribution/output-schema.ts';
import { LogDirectory } from '../connectors/log/index.ts';
import { openPgliteDatabase } from '../connectors/pglite/index.ts';
import { openPostgresDatabase } from '../connectors/postgres/index.ts';
import {
  checkDimensionTables,
  type ProductsTableSpec,
  type SqlClient,
  type UsersTableSpec,
} from '../connectors/sql/index.ts';

export const TOPICS = { clicks: 'clicks', checkouts: 'checkouts' } as const;
/** Partitions of each topic: clicks and checkouts are co-partitioned by user id. */
export const TOPIC_PARTITIONS = 4;

export interface StoreConfig {
  dataDir: string;
  /** `keep`: the log deletes nothing; otherwise fully consumed segments are deleted (the default). */
  log?: { retention: 'consumed' | 'keep' };
  /** A PostgreSQL server; absent: PGlite in `<dataDir>/pglite`. */
  database?: { url: string; displayUrl: string; schema: string; poolSize: number };
  /**
   * The shop's users and products tables, checked before flowmark writes anything: a missing
   * table or column fails the start with nothing written (tables in flowmark's own schema are
   * checked after the migrations that create them).
   */
  dimensions?: { users: UsersTableSpec; products: ProductsTableSpec };
}

export interface JobStores {
  log: LogDirectory;
  db: SqlClient;
  /** The schema of flowmark's own tables. */
  schema: string;
  /** For messages: "PGlite in D" or the server's URL without its password. */
  where: string;
  close(): Promise<void>;
}

/** Opens (creating on first use) the log of the data dir and the database, migrated. */
export async function openStores(config: StoreConfig): Promise<JobStores> {
  const log = LogDirectory.open(join(config.dataDir, 'log'), { deleteConsumed: config.log?.retention !== 'keep' });
  try {
    for (const topic of Object.values(TOPICS)) log.createTopic(topic, { partitions: TOPIC_PARTITIONS });
    const server = config.database;
    const schema = server?.schema ?? DEFAULT_SCHEMA;
    const migrations = outputMigrations(schema);
    const dims = config.dimensions;
    const beforeMigrations = async (client: SqlClient) => {
      if (dims === undefined) return;
      const shops = {
        ...(dims.users.schema !== undefined && dims.users.schema !== schema ? { users: dims.users } : {}),
        ...(dims.products.schema !== undefined && dims.products.schema !== schema ? { products: dims.products } : {}),
      };
      if (shops.users !== undefined || shops.products !== undefined) await checkDimensionTables(client, shops);
    };
    const db =
      server === undefined
        ? await openPgliteDatabase(config.dataDir, { migrations, schema, beforeMigrations })
        : await openPostgresDatabase(server.url, { migrations, schema, poolSize: server.poolSize, beforeMigrations });
    return {
      log,
      db,
      schema,
      where: server === undefined ? `PGlite in ${config.dataDir}` : server.displayUrl,
      close: async () => {
        await log.close();
        await db.close();
      },
    };
  } catch (err) {
    await log.close();
    throw err;
  }
}
