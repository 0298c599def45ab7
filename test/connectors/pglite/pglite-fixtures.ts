/**
 * One in-memory PGlite per test file, each test working in its own schema. A new PGlite runs
 * initdb (4–10 s); instead, the files start from a template data directory made once per PGlite
 * version and kept in the OS temp directory (about 2 s to load).
 */
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { PGLITE_TYPE_OPTIONS, PgliteClient } from '../../../src/connectors/pglite/pglite-client.ts';

const PGLITE_VERSION = (
  JSON.parse(
    readFileSync(new URL('../../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8'),
  ) as { version: string }
).version;

/** A fresh in-memory database, from the cached template when there is one. */
export async function newPglite(): Promise<PGlite> {
  const file = join(tmpdir(), `flowmark-pglite-template-${PGLITE_VERSION}.tar`);
  if (existsSync(file)) {
    try {
      return await PGlite.create({ loadDataDir: new Blob([readFileSync(file)]), ...PGLITE_TYPE_OPTIONS });
    } catch {
      unlinkSync(file); // unreadable: make it again
    }
  }
  const db = await PGlite.create(PGLITE_TYPE_OPTIONS);
  const dump = await db.dumpDataDir('none');
  const tmp = `${file}.${process.pid}`;
  writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
  renameSync(tmp, file); // atomic: parallel test files never read half a template
  return db;
}

let shared: Promise<PgliteClient> | undefined;

/** The file's shared in-memory database. Call at the top level of a test file (it registers `after`). */
export function sharedPglite(): Promise<PgliteClient> {
  if (shared === undefined) {
    const opened = newPglite().then((db) => new PgliteClient(db));
    shared = opened;
    after(async () => (await opened).close());
  }
  return shared;
}
