/**
 * A fresh schema on a PostgreSQL server with flowmark's tables (migrated on open) and the bench
 * shop's users and products loaded: where one run of a job writes (kafka and flink suites).
 */
import type { ProductRow, UserRow } from '../../src/attribution/event-types.ts';
import { serverDatabase } from '../../src/cli/modes/database.ts';
import { upsertProducts, upsertUsers } from '../../src/connectors/sql/index.ts';

export async function shopSchema(
  url: string,
  schema: string,
  users: ReadonlyMap<string, UserRow>,
  products: ReadonlyMap<string, ProductRow>,
): Promise<void> {
  const { db, close } = await serverDatabase({ url, displayUrl: url, schema, poolSize: 2 }).open();
  try {
    await upsertUsers(db, [...users.values()], { schema });
    await upsertProducts(db, [...products.values()], { schema });
  } finally {
    await close();
  }
}
