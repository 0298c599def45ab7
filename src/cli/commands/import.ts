/**
 * `flowmark import`: loads users and products into flowmark's own tables in the database (PGlite
 * in the data dir, or the server of `database.url`) and appends events to the queue of the mode
 * (the embedded log, or Kafka's topics with `kafka.bootstrap`, `--kafka`), routed by kind; a line
 * that cannot be routed is a dead letter. Resumable and idempotent (src/cli/event-import.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { upsertProducts, upsertUsers } from '../../connectors/sql/index.ts';
import { FlowmarkError, systemClock } from '../../engine/index.ts';
import { type ConfigFlags, type FlowmarkConfig, loadConfig } from '../config/index.ts';
import { loadProducts, loadUsers } from '../dimension-loading.ts';
import { type ImportFileOptions, importFiles } from '../event-import.ts';
import { chooseMode } from '../modes/mode.ts';
import { Progress } from '../progress.ts';

/** Event files at least this large get a progress line on stderr. */
const PROGRESS_FROM_BYTES = 16 * 2 ** 20;

/** import's own flags; the configuration's (`--data-dir`, `--database-url`, …) are in {@link ConfigFlags}. */
export interface ImportFlags extends ConfigFlags {
  users?: string;
  products?: string;
  events?: string;
  clicks?: string;
  checkouts?: string;
  /** Append the events of a file again even if it was imported already (or changed since). */
  force?: boolean;
}

function file(flag: string, path: string | undefined): string | undefined {
  if (path !== undefined && !existsSync(path)) {
    throw new FlowmarkError('FM_CONFIG_INVALID', `--${flag} ${path}: no such file`);
  }
  return path;
}

/**
 * Imports. `config` is the resolved configuration (the CLI resolves it from flags, variables and
 * file first); without it, it is resolved from `flags` alone.
 */
export async function runImport(
  flags: ImportFlags,
  config: FlowmarkConfig = loadConfig({ flags }).config,
  hooks?: ImportFileOptions['hooks'],
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
  const total = eventFiles.reduce((n, f) => n + statSync(f).size, 0);
  let finished = 0;
  let current: { file: string; bytes: number } | undefined;
  const progress =
    total >= PROGRESS_FROM_BYTES
      ? new Progress('import', () => ({
          done: Math.min(finished + (current?.bytes ?? 0), total),
          total,
          unit: 'bytes',
        }))
      : undefined;
  const onBytes = (file: string, bytes: number) => {
    if (current !== undefined && current.file !== file) finished += statSync(current.file).size;
    current = { file, bytes };
  };
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const session = await chooseMode(config).open('import');
  try {
    if (userRows !== undefined) {
      const d = await session.database();
      const n = await upsertUsers(d.db, [...userRows.values()], { schema: d.schema });
      log(`import: ${n} users → ${d.schema}.users in ${d.where}`);
    }
    if (productRows !== undefined) {
      const d = await session.database();
      const n = await upsertProducts(d.db, [...productRows.values()], { schema: d.schema });
      log(`import: ${n} products → ${d.schema}.products in ${d.where}`);
    }
    if (eventFiles.length === 0) return;
    const queue = await session.queue(log);
    // The progress of each file is recorded in the database, with its dead letters.
    const d = await session.database();
    const counts = await importFiles(eventFiles, {
      db: d.db,
      schema: d.schema,
      queue,
      clock: systemClock,
      force: flags.force === true,
      onBytes,
      log,
      ...(hooks === undefined ? {} : { hooks }),
    });
    if (counts !== undefined) {
      log(
        `import: ${queue.describe(counts)}; ${counts.deadLetters} unroutable lines → ${d.schema}.dead_letters${counts.deadLetters > 0 ? ` in ${d.where}` : ''}`,
      );
    }
  } finally {
    progress?.stop();
    await session.close();
  }
}
