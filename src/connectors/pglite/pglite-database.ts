import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { FlowmarkError } from '../../engine/index.ts';
import { type Migration, type MigrationResult, runMigrations } from '../sql/migrations.ts';
import type { SqlClient } from '../sql/sql-client.ts';
import { sqlError } from '../sql/sql-errors.ts';
import { PGLITE_TYPE_OPTIONS, PgliteClient } from './pglite-client.ts';

export interface OpenPgliteOptions {
  /** The migrations of flowmark's tables (the application's output schema). */
  migrations: readonly Migration[];
  /** The schema they create (default `flowmark`). */
  schema?: string;
  /**
   * Runs before the migrations, on the connected database: checks of the configuration that
   * must fail before flowmark writes anything (e.g. that the shop's tables exist).
   */
  beforeMigrations?: (client: SqlClient) => Promise<void>;
}

/** Data directories opened by this process (PGlite must not open one directory twice). */
const openHere = new Set<string>();

/**
 * The embedded database: PGlite on disk, in `<dataDir>/pglite`, migrated, and locked against a
 * second opener (`<dataDir>/pglite.lock` holds the owner's pid). Two PGlite instances on one
 * directory would both write to it and corrupt it, and PGlite itself does not prevent it.
 */
export class PgliteDatabase extends PgliteClient {
  /** The PostgreSQL data directory. */
  readonly path: string;
  /** Milliseconds from the call to a migrated, usable database. */
  readonly openMs: number;
  /** True when this call created the database (the first start: initdb). */
  readonly created: boolean;
  readonly migration: MigrationResult;
  readonly #release: () => void;

  /** @internal Use {@link openPgliteDatabase}. */
  constructor(
    db: PGlite,
    info: { path: string; openMs: number; created: boolean; migration: MigrationResult; release: () => void },
  ) {
    super(db);
    this.path = info.path;
    this.openMs = info.openMs;
    this.created = info.created;
    this.migration = info.migration;
    this.#release = info.release;
  }

  override async close(): Promise<void> {
    try {
      if (!this.db.closed) await super.close();
    } finally {
      this.#release();
    }
  }
}

/**
 * Opens (creating on first use) the embedded PostgreSQL database of a data directory and brings
 * the schema up to date. The first open of a new directory runs initdb (seconds); later opens
 * take a fraction of a second.
 *
 * @example
 * const db = await openPgliteDatabase('./data', { migrations: outputMigrations('flowmark') });
 * db.openMs; // e.g. 320 (reopen), 4 600 (first start)
 * await db.close();
 */
export async function openPgliteDatabase(dataDir: string, options: OpenPgliteOptions): Promise<PgliteDatabase> {
  const started = performance.now();
  const dir = resolve(dataDir);
  const path = join(dir, 'pglite');
  mkdirSync(path, { recursive: true });
  const release = lockDataDir(dir);
  let db: PGlite | undefined;
  try {
    const created = !existsSync(join(path, 'PG_VERSION'));
    try {
      db = await PGlite.create(path, PGLITE_TYPE_OPTIONS);
    } catch (err) {
      throw sqlError(err, 'FM_PG_UNAVAILABLE', `opening the embedded database in ${path} failed`);
    }
    const client = new PgliteClient(db);
    await options.beforeMigrations?.(client);
    const migration = await runMigrations(client, options.schema ?? 'flowmark', options.migrations);
    return new PgliteDatabase(db, { path, openMs: performance.now() - started, created, migration, release });
  } catch (err) {
    if (db !== undefined && !db.closed) await db.close().catch(() => undefined);
    release();
    throw err;
  }
}

function lockDataDir(dir: string): () => void {
  const lock = join(dir, 'pglite.lock');
  const inUse = (pid: number | string) =>
    new FlowmarkError(
      'FM_PG_UNAVAILABLE',
      `the embedded database in ${dir} is in use by process ${pid} (another flowmark?). Stop it first; ` +
        `if no such process runs, delete ${lock}`,
    );
  if (openHere.has(dir)) throw inUse(`${process.pid} (this one)`);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const owner = Number.parseInt(readFileSync(lock, 'utf8'), 10);
      if (Number.isSafeInteger(owner) && owner > 0 && isAlive(owner)) throw inUse(owner);
      unlinkSync(lock); // left by a process that died (kill -9): take it over
    }
  }
  openHere.add(dir);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    openHere.delete(dir);
    try {
      unlinkSync(lock);
    } catch {
      // already gone
    }
  };
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return false; // not in openHere: a lock left by a dead process with our pid
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
