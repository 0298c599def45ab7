import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { outputMigrations } from '../../../src/attribution/output-schema.ts';
import { PgClient } from '../../../src/connectors/postgres/index.ts';
import { type Migration, runMigrations } from '../../../src/connectors/sql/migrations.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { sharedPglite } from '../pglite/pglite-fixtures.ts';
import { withServer } from '../postgres/pg-fixtures.ts';
import { uniqueSchema } from './sql-fixtures.ts';

const db = sharedPglite();

const table = (version: number, name: string): Migration => ({
  version,
  name: `create ${name}`,
  sql: `CREATE TABLE __S__.${name} (id int); INSERT INTO __S__.${name} VALUES (${version});`,
});
const inSchema = (schema: string, ms: Migration[]) => ms.map((m) => ({ ...m, sql: m.sql.replaceAll('__S__', schema) }));

async function versions(schema: string): Promise<Array<{ version: string; name: string; applied: boolean }>> {
  const client = await db;
  const { rows } = await client.query<{ version: string; name: string; applied: boolean }>(
    `SELECT version::text AS version, name, applied_at IS NOT NULL AS applied FROM ${schema}.schema_migrations ORDER BY version`,
  );
  return rows;
}

test("flowmark's migrations create every table and record their version; a second run applies nothing", async () => {
  const client = await db;
  const schema = uniqueSchema('fm_mig');
  const all = outputMigrations(schema);
  const last = all.length;
  const numbers = all.map((m) => m.version);
  assert.deepEqual(await runMigrations(client, schema, all), { applied: numbers, version: last });
  assert.deepEqual(await runMigrations(client, schema, all), { applied: [], version: last });
  assert.deepEqual(
    await versions(schema),
    all.map((m) => ({ version: String(m.version), name: m.name, applied: true })),
  );
  const { rows } = await client.query<{ t: string }>(
    `SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
    [schema],
  );
  assert.deepEqual(
    rows.map((r) => r.t),
    [
      'analytics_minute',
      'attributed_checkouts',
      'attribution_credits',
      'checkpoints',
      'dead_letters',
      'products',
      'schema_migrations',
      'state',
      'state_chunks',
      'users',
    ],
  );
});

test('only the migrations not yet applied run, in order, each once', async () => {
  const client = await db;
  const schema = uniqueSchema('fm_mig');
  await runMigrations(client, schema, inSchema(schema, [table(1, 'a'), table(2, 'b')]));
  const result = await runMigrations(client, schema, inSchema(schema, [table(1, 'a'), table(2, 'b'), table(5, 'c')]));
  assert.deepEqual(result, { applied: [5], version: 5 });
  assert.deepEqual(
    (await versions(schema)).map((v) => v.version),
    ['1', '2', '5'],
  );
  const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${schema}.a`);
  assert.equal(rows[0]?.n, '1', 'migration 1 ran once');
});

test('a database migrated by a newer flowmark is refused with a clear error, and left untouched', async () => {
  const client = await db;
  const schema = uniqueSchema('fm_mig');
  await runMigrations(client, schema, inSchema(schema, [table(1, 'a'), table(2, 'b'), table(3, 'c')]));
  for (const known of [[table(1, 'a'), table(2, 'b')], [table(1, 'a'), table(2, 'b'), table(4, 'd')], []]) {
    await assert.rejects(
      runMigrations(client, schema, inSchema(schema, known)),
      (err) =>
        isFlowmarkError(err, 'FM_CONFIG_INVALID') &&
        /migration 3/.test(err.message) &&
        /newer flowmark/.test(err.message),
    );
  }
  assert.deepEqual(
    (await versions(schema)).map((v) => v.version),
    ['1', '2', '3'],
  );
});

test('a migration that fails is rolled back entirely and not recorded; the earlier ones stay', async () => {
  const client = await db;
  const schema = uniqueSchema('fm_mig');
  const broken: Migration = {
    version: 2,
    name: 'broken',
    sql: `CREATE TABLE ${schema}.half (id int); SELECT * FROM nowhere;`,
  };
  await assert.rejects(
    runMigrations(client, schema, [...inSchema(schema, [table(1, 'a')]), broken]),
    (err) => isFlowmarkError(err, 'FM_CONFIG_INVALID') && /nowhere/.test(err.message),
  );
  assert.deepEqual(
    (await versions(schema)).map((v) => v.version),
    ['1'],
  );
  const { rows } = await client.query(`SELECT to_regclass('${schema}.half')::text AS t`);
  assert.deepEqual(rows, [{ t: null }], 'the half-made table was rolled back');
});

test('migration lists must be in increasing version order', async () => {
  const client = await db;
  const schema = uniqueSchema('fm_mig');
  await assert.rejects(runMigrations(client, schema, [table(2, 'a'), table(1, 'b')]), (err) =>
    isFlowmarkError(err, 'FM_CONFIG_INVALID'),
  );
  await assert.rejects(runMigrations(client, schema, [table(0, 'a')]), (err) =>
    isFlowmarkError(err, 'FM_CONFIG_INVALID'),
  );
});

withServer('concurrent migrations', (url) => {
  test('concurrent runs from separate connections to one server apply each migration once', async (t) => {
    // PGlite has one connection, so runs there are serialized anyway: only a server shows what
    // the advisory lock is for. Each run has its own connection (as separate processes would),
    // connected before any starts, so that they reach the empty schema together.
    const schema = uniqueSchema('fm_mig');
    const runs = 8;
    const clients = Array.from({ length: runs }, () => {
      const client = new PgClient(new pg.Pool({ connectionString: url, max: 1 }));
      client.pool.on('error', () => {});
      return client;
    });
    t.after(async () => {
      await clients[0]?.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await Promise.all(clients.map((c) => c.close()));
    });
    await Promise.all(clients.map((c) => c.query('SELECT 1')));
    const all = outputMigrations(schema);
    const results = await Promise.all(clients.map((c) => runMigrations(c, schema, all)));
    assert.deepEqual(
      results.flatMap((r) => r.applied).sort((a, b) => a - b),
      all.map((m) => m.version),
      'each migration was applied by exactly one of the runs',
    );
    assert.deepEqual(
      results.map((r) => r.version),
      results.map(() => all.length),
    );
    const { rows } = await (clients[0] as PgClient).query<{ version: string }>(
      `SELECT version::text AS version FROM ${schema}.schema_migrations ORDER BY version`,
    );
    assert.deepEqual(
      rows.map((r) => Number(r.version)),
      all.map((m) => m.version),
    );
  });
});

test('the schema name is checked before any SQL is built from it', () => {
  assert.throws(
    () => outputMigrations('flowmark; DROP TABLE x'),
    (err) => isFlowmarkError(err, 'FM_CONFIG_INVALID'),
  );
  assert.throws(
    () => outputMigrations('Flowmark'),
    (err) => isFlowmarkError(err, 'FM_CONFIG_INVALID'),
  );
});
