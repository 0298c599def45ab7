/**
 * `flowmark import`: loads users and products into flowmark's own tables in the database (PGlite
 * in the data dir, or the server of `database.url`) and appends events to the embedded log, routed
 * by type; a line that cannot be routed is a dead letter. With Kafka (`kafka.bootstrap`,
 * `--kafka`), the events go to its topics instead (src/cli/kafka-import.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { upsertProducts, upsertUsers } from '../connectors/sql/index.ts';
import { FlowmarkError, systemClock } from '../engine/index.ts';
import { type ConfigFlags, type FlowmarkConfig, loadConfig } from './config/index.ts';
import { loadProducts, loadUsers } from './dimension-loading.ts';
import { damageWarner, logImportQueue } from './embedded-job.ts';
import {
  addCounts,
  describeImport,
  type ImportCounts,
  type ImportFileOptions,
  importEventFile,
} from './event-import.ts';
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
  let current = 0;
  const progress =
    total >= PROGRESS_FROM_BYTES
      ? new Progress('import', () => ({ done: Math.min(finished + current, total), total, unit: 'bytes' }))
      : undefined;
  const onBytes = (bytes: number) => {
    current = bytes;
  };
  const nextFile = (file: string) => {
    finished += statSync(file).size;
    current = 0;
  };
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (config.kafka !== undefined) {
    let kafkaFile: string | undefined;
    try {
      await importIntoKafka(config, config.kafka, {
        ...(userRows === undefined ? {} : { users: userRows }),
        ...(productRows === undefined ? {} : { products: productRows }),
        files: eventFiles,
        force: flags.force === true,
        onBytes: (file, bytes) => {
          if (file !== kafkaFile) {
            if (kafkaFile !== undefined) nextFile(kafkaFile);
            kafkaFile = file;
          }
          onBytes(bytes);
        },
        clock: systemClock,
        log,
      });
    } finally {
      progress?.stop();
    }
    return;
  }
  const stores = await openStores(config);
  try {
    const warn = damageWarner(stores.log);
    for (const d of stores.log.damaged) warn(d, 'import');
    if (userRows !== undefined) {
      const n = await upsertUsers(stores.db, [...userRows.values()], { schema: stores.schema });
      process.stderr.write(`import: ${n} users → ${stores.schema}.users in ${stores.where}\n`);
    }
    if (productRows !== undefined) {
      const n = await upsertProducts(stores.db, [...productRows.values()], { schema: stores.schema });
      process.stderr.write(`import: ${n} products → ${stores.schema}.products in ${stores.where}\n`);
    }
    if (eventFiles.length > 0) {
      const queue = logImportQueue(stores.log);
      const c: ImportCounts = { clicks: 0, checkouts: 0, deadLetters: 0 };
      let imported = 0;
      try {
        for (const file of eventFiles) {
          const r = await importEventFile(file, {
            db: stores.db,
            schema: stores.schema,
            queue,
            clock: systemClock,
            force: flags.force === true,
            onBytes,
            ...(hooks === undefined ? {} : { hooks }),
          });
          nextFile(file);
          for (const line of describeImport(file, r, 'log')) log(line);
          if (!r.alreadyDone) {
            addCounts(c, r.counts);
            imported++;
          }
        }
      } finally {
        queue.close();
      }
      if (imported > 0)
        log(
          `import: ${c.clicks} clicks, ${c.checkouts} checkouts → log in ${config.dataDir}; ${c.deadLetters} unroutable lines → ${stores.schema}.dead_letters`,
        );
    }
  } finally {
    progress?.stop();
    await stores.close();
  }
}
