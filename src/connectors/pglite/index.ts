/** The embedded database: PGlite (PostgreSQL in WebAssembly), on disk in the data directory. */
export { PgliteClient } from './pglite-client.ts';
export { type OpenPgliteOptions, openPgliteDatabase, PgliteDatabase } from './pglite-database.ts';
