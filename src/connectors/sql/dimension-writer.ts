import type { ProductLookupRow, UserLookupRow } from './dimension-lookup.ts';
import type { SinkTable } from './sink-tables.ts';
import type { SqlClient } from './sql-client.ts';
import { sqlError } from './sql-errors.ts';
import { DEFAULT_BATCH_ROWS, writeRows } from './unnest-writer.ts';

export interface DimensionWriteOptions {
  /** Default `flowmark`. */
  schema?: string;
  /** Most rows per statement (default 50 000). */
  batchRows?: number;
}

const USERS: SinkTable = {
  table: 'users',
  columns: [
    { name: 'user_id', type: 'text' },
    { name: 'name', type: 'text' },
    { name: 'gender', type: 'text' },
  ],
  primaryKey: ['user_id'],
  mode: 'upsert',
};

const PRODUCTS: SinkTable = {
  table: 'products',
  columns: [
    { name: 'product_id', type: 'text' },
    { name: 'product_name', type: 'text' },
    { name: 'category', type: 'text' },
    { name: 'price', type: 'numeric' },
    { name: 'commission_rate', type: 'numeric' },
  ],
  primaryKey: ['product_id'],
  mode: 'upsert',
};

/**
 * Inserts or updates users in flowmark's `users` table, in one transaction, one `unnest`
 * statement per batch; of several rows with one id, the last wins. Returns the rows written.
 *
 * @example
 * await upsertUsers(client, [{ userId: 'u1', name: 'Ada', gender: 'F' }]); // 1
 */
export function upsertUsers(
  client: SqlClient,
  users: readonly UserLookupRow[],
  options: DimensionWriteOptions = {},
): Promise<number> {
  const rows = users.map((u) => ({ user_id: u.userId, name: u.name, gender: u.gender }));
  return write(client, USERS, rows, options);
}

/** Inserts or updates products in flowmark's `products` table; see {@link upsertUsers}. */
export function upsertProducts(
  client: SqlClient,
  products: readonly ProductLookupRow[],
  options: DimensionWriteOptions = {},
): Promise<number> {
  const rows = products.map((p) => ({
    product_id: p.productId,
    product_name: p.name,
    category: p.category,
    price: p.price,
    commission_rate: p.commissionRate,
  }));
  return write(client, PRODUCTS, rows, options);
}

async function write(
  client: SqlClient,
  table: SinkTable,
  rows: unknown[],
  options: DimensionWriteOptions,
): Promise<number> {
  const schema = options.schema ?? 'flowmark';
  try {
    return await client.transaction((tx) =>
      writeRows(tx, schema, table, rows, options.batchRows ?? DEFAULT_BATCH_ROWS),
    );
  } catch (err) {
    throw sqlError(err, 'FM_SINK_FAILED', `writing ${rows.length} rows into ${schema}.${table.table} failed`);
  }
}
