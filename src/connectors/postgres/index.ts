/** A PostgreSQL server through `pg`: the production database of flowmark. */
export { PgClient } from './pg-client.ts';
export {
  checkDatabaseUrl,
  type OpenPostgresOptions,
  openPostgresDatabase,
  PostgresDatabase,
  redactDatabaseUrl,
} from './postgres-database.ts';
