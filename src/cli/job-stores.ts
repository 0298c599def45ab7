/** Old path kept for bench/ only, until it uses ./modes/ (docs/cli.md): delete this file then. */
import type { ServerConfig } from './modes/database.ts';
import { type JobStores, openStores as openLogAndDatabase, type StoreConfig } from './modes/embedded.ts';
import { chooseDatabase } from './modes/mode.ts';

export type { JobStores } from './modes/embedded.ts';

/** bench/: the log and the database of `config` (PGlite, or the server of `config.database`). */
export function openStores(config: StoreConfig & { database?: ServerConfig }): Promise<JobStores> {
  return openLogAndDatabase(config, chooseDatabase(config));
}
