/**
 * `flowmark import`: loads users and products into flowmark's own tables in the database (PGlite
 * in the data dir, or the server of `database.url`) and appends events to the embedded log, routed
 * by type; a line that cannot be routed is a dead letter. With Kafka (`kafka.bootstrap`,
 * `--kafka`), the events go to its topics instead (src/cli/kafka-import.ts).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { upsertProducts, upsertUsers } from '../connectors/sql/index.ts';
import { FlowmarkError, systemClock } from '../engine/index.ts';
import { type ConfigFlags, type FlowmarkConfig, loadConfig } from './config/index.ts';
import { loadProducts, loadUsers } from './dimension-loading.ts';
import { importLines } from './embedded-job.ts';
import { openStores } from './job-stores.ts';
import { importIntoKafka } from './kafka-import.ts';
import { Progress } from './progress.ts';

/** Event files at least this large get a progress line on stderr. */
const PROGRESS_FROM_BYTES = 16 * 2 ** 20;

/** import's own flags; the configuration's (`--data-dir`, `--database-url`, …) are in {@link ConfigFlags}. */
export interface ImportFlags extends ConfigFlags {
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

/**
 * Imports. `config` is the resolved configuration (the CLI resolves it from flags, variables and
 * file first); without it, it is resolved from `flags` alone.
 */
export async function runImport(
  flags: ImportFlags,
  config: FlowmarkConfig = loadConfig({ flags }).config,
): Promise<void> {
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
  if (config.kafka !== undefined) {
    const total = eventFiles.reduce((n, f) => n + statSync(f).size, 0);
    let done = 0;
    const progress =
      total >= PROGRESS_FROM_BYTES
        ? new Progress('import', () => ({ done: Math.min(done, total), total, unit: 'bytes' }))
        : undefined;
    try {
      await importIntoKafka(config, config.kafka, {
        ...(userRows === undefined ? {} : { users: userRows }),
        ...(productRows === undefined ? {} : { products: productRows }),
        ...(eventFiles.length === 0 ? {} : { lines: linesOf(eventFiles) }),
        onLine: (chars) => {
          done += chars;
        },
        clock: systemClock,
        log: (line) => process.stderr.write(`${line}\n`),
      });
    } finally {
      progress?.stop();
    }
    return;
  }
  const stores = await openStores(config);
  try {
    if (userRows !== undefined) {
      const n = await upsertUsers(stores.db, [...userRows.values()], { schema: stores.schema });
      process.stderr.write(`import: ${n} users → ${stores.schema}.users in ${stores.where}\n`);
    }
    if (productRows !== undefined) {
      const n = await upsertProducts(stores.db, [...productRows.values()], { schema: stores.schema });
      process.stderr.write(`import: ${n} products → ${stores.schema}.products in ${stores.where}\n`);
    }
    if (eventFiles.length > 0) {
      const c = await importLines(stores, linesOf(eventFiles), systemClock);
      process.stderr.write(
        `import: ${c.clicks} clicks, ${c.checkouts} checkouts → log in ${config.dataDir}; ${c.deadLetters} unroutable lines → ${stores.schema}.dead_letters\n`,
      );
    }
  } finally {
    await stores.close();
  }
}
