/**
 * `flowmark import`: loads users and products into the database (PGlite in the data dir) and
 * appends events to the embedded log, routed by type; a line that cannot be routed is a dead letter.
 */
import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { DEFAULT_SCHEMA } from '../attribution/output-schema.ts';
import { upsertProducts, upsertUsers } from '../connectors/sql/index.ts';
import { FlowmarkError, systemClock } from '../engine/index.ts';
import { loadProducts, loadUsers } from './dimension-loading.ts';
import { importLines, openEmbedded } from './embedded-job.ts';

export interface ImportFlags {
  dataDir: string;
  databaseUrl?: string;
  users?: string;
  products?: string;
  events?: string;
  clicks?: string;
  checkouts?: string;
}

function file(flag: string, path: string | undefined): string | undefined {
  if (path !== undefined && !existsSync(path)) {
    throw new FlowmarkError('FM_CONFIG_INVALID', `--${flag} ${path}: no such file`);
  }
  return path;
}

async function* linesOf(paths: readonly string[]): AsyncIterable<string> {
  for (const path of paths)
    yield* createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
}

export async function runImport(flags: ImportFlags): Promise<void> {
  if (flags.databaseUrl !== undefined) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      '--database-url (a PostgreSQL server) is not built yet (see issue #4); without it flowmark uses PGlite in --data-dir',
    );
  }
  const users = file('users', flags.users);
  const products = file('products', flags.products);
  if (flags.events !== undefined && (flags.clicks !== undefined || flags.checkouts !== undefined)) {
    throw new FlowmarkError('FM_CONFIG_INVALID', 'give either --events, or --clicks and --checkouts, not both');
  }
  const eventFiles = [
    file('events', flags.events),
    file('clicks', flags.clicks),
    file('checkouts', flags.checkouts),
  ].filter((p): p is string => p !== undefined);
  if (users === undefined && products === undefined && eventFiles.length === 0) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      'nothing to import: give --users, --products, and/or --events (or --clicks and --checkouts)',
    );
  }
  // Read and check the dimension files before anything is written.
  const userRows = users === undefined ? undefined : await loadUsers(users);
  const productRows = products === undefined ? undefined : await loadProducts(products);
  const stores = await openEmbedded(flags.dataDir);
  try {
    if (userRows !== undefined) {
      const n = await upsertUsers(stores.db, [...userRows.values()], { schema: DEFAULT_SCHEMA });
      process.stderr.write(`import: ${n} users → ${DEFAULT_SCHEMA}.users\n`);
    }
    if (productRows !== undefined) {
      const n = await upsertProducts(stores.db, [...productRows.values()], { schema: DEFAULT_SCHEMA });
      process.stderr.write(`import: ${n} products → ${DEFAULT_SCHEMA}.products\n`);
    }
    if (eventFiles.length > 0) {
      const c = await importLines(stores, linesOf(eventFiles), systemClock);
      process.stderr.write(
        `import: ${c.clicks} clicks, ${c.checkouts} checkouts → log in ${flags.dataDir}; ${c.deadLetters} unroutable lines → ${DEFAULT_SCHEMA}.dead_letters\n`,
      );
    }
  } finally {
    await stores.close();
  }
}
