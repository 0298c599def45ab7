/**
 * The SQL connectors' public entry: what flowmark needs of a PostgreSQL database (a server
 * through `pg`, or PGlite), written once against the small {@link SqlClient} interface.
 */

export { type CommittedCheckpoint, nextOffsets, readLastCheckpoint, readLastCheckpoints } from './checkpoint-reader.ts';
export {
  checkDimensionTables,
  DEFAULT_PRODUCTS_TABLE,
  DEFAULT_USERS_TABLE,
  type DimensionTableSpec,
  type ProductLookupRow,
  type ProductsTableSpec,
  productsLookup,
  type UserLookupRow,
  type UsersTableSpec,
  usersLookup,
} from './dimension-lookup.ts';
export { type DimensionWriteOptions, upsertProducts, upsertUsers } from './dimension-writer.ts';
export { type Migration, type MigrationResult, runMigrations } from './migrations.ts';
export {
  type SinkColumn,
  type SinkTable,
  type SinkTables,
  type SqlColumnType,
  validateSinkTables,
} from './sink-tables.ts';
export { qualified, quoteIdent, type SqlClient, type SqlResult } from './sql-client.ts';
export { SqlCommitter, type SqlCommitterOptions } from './sql-committer.ts';
export { isTransientSqlError, sqlError } from './sql-errors.ts';
export { DEFAULT_BATCH_ROWS, unnestStatement, writeRows } from './unnest-writer.ts';
