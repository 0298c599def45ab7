import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { outputMigrations } from '../../../src/attribution/output-schema.ts';
import { openPgliteDatabase } from '../../../src/connectors/pglite/pglite-database.ts';
import type { Migration } from '../../../src/connectors/sql/migrations.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';

const migrations = outputMigrations('flowmark');

/** A child process's attempt to open the data dir `argv[1]`; prints what happened as JSON. */
const OPEN_IN_CHILD = `
import { outputMigrations } from ${JSON.stringify(new URL('../../../src/attribution/output-schema.ts', import.meta.url).href)};
import { openPgliteDatabase } from ${JSON.stringify(new URL('../../../src/connectors/pglite/pglite-database.ts', import.meta.url).href)};
try {
  const db = await openPgliteDatabase(process.argv[1], { migrations: outputMigrations('flowmark') });
  await db.close();
  process.stdout.write(JSON.stringify({ opened: true }));
} catch (err) {
  process.stdout.write(JSON.stringify({ opened: false, code: err.code, message: err.message }));
}
`;

test('the embedded database: created on first open, migrated, kept on disk, locked while open', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flowmark-pglite-db-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));

  const first = await openPgliteDatabase(dataDir, { migrations });
  assert.equal(first.created, true);
  assert.equal(first.path, join(dataDir, 'pglite'));
  const latest = migrations.length;
  assert.deepEqual(first.migration, { applied: migrations.map((m) => m.version), version: latest });
  assert.ok(existsSync(join(dataDir, 'pglite.lock')));
  await first.query(`INSERT INTO flowmark.users (user_id, name) VALUES ('u1', 'Ada')`);

  await t.test('a second open of the same directory is refused while the first is open', async () => {
    await assert.rejects(
      openPgliteDatabase(dataDir, { migrations }),
      (err) => isFlowmarkError(err, 'FM_PG_UNAVAILABLE') && /in use by process/.test(err.message),
    );
  });

  await t.test('an open from another process is refused by the pid in pglite.lock', () => {
    // Another process knows nothing of this one's open directories: only the lock file and the
    // liveness of the pid it names can stop it from writing into the same database.
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', OPEN_IN_CHILD, dataDir], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(child.status, 0, child.stderr);
    const result = JSON.parse(child.stdout) as { opened: boolean; code?: string; message?: string };
    assert.equal(result.opened, false, 'the second process opened the database');
    assert.equal(result.code, 'FM_PG_UNAVAILABLE');
    assert.match(result.message ?? '', new RegExp(`in use by process ${process.pid}\\b`));
  });

  await first.close();
  assert.ok(!existsSync(join(dataDir, 'pglite.lock')), 'close releases the lock');

  await t.test('reopening finds the data, applies no migration, and is fast', async () => {
    const again = await openPgliteDatabase(dataDir, { migrations });
    t.after(() => again.close());
    assert.equal(again.created, false);
    assert.deepEqual(again.migration, { applied: [], version: latest });
    const { rows } = await again.query('SELECT name FROM flowmark.users');
    assert.deepEqual(rows, [{ name: 'Ada' }]);
    t.diagnostic(
      `first open ${Math.round(first.openMs)} ms (initdb + migrations); reopen ${Math.round(again.openMs)} ms`,
    );
    await again.close();
  });

  await t.test('a lock left by a process that died (kill -9) is taken over', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(dataDir, 'pglite.lock'), `${dead.stdout}\n`);
    const db = await openPgliteDatabase(dataDir, { migrations });
    await db.close();
  });

  await t.test('a failed open (a schema newer than this flowmark) releases the lock', async () => {
    const newer: Migration[] = [
      ...migrations,
      { version: migrations.length + 1, name: 'future', sql: 'CREATE TABLE flowmark.future (id int)' },
    ];
    await (await openPgliteDatabase(dataDir, { migrations: newer })).close();
    await assert.rejects(openPgliteDatabase(dataDir, { migrations }), (err) =>
      isFlowmarkError(err, 'FM_CONFIG_INVALID'),
    );
    assert.ok(!existsSync(join(dataDir, 'pglite.lock')));
  });
});
