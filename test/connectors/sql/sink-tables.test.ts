/**
 * The application's sink descriptions (src/attribution/output-schema.ts) must agree with the
 * tables its migrations create: every written column exists with the type its unnest array is
 * cast to, and the upsert key is the table's primary key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { outputMigrations, SINK_TABLES } from '../../../src/attribution/output-schema.ts';
import { runMigrations } from '../../../src/connectors/sql/migrations.ts';
import { validateSinkTables } from '../../../src/connectors/sql/sink-tables.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { sharedPglite } from '../pglite/pglite-fixtures.ts';
import { SINKS, uniqueSchema } from './sql-fixtures.ts';

const db = sharedPglite();

/** information_schema's name of each type a sink column may declare. */
const CATALOG_TYPE: Record<string, string> = {
  text: 'text',
  integer: 'integer',
  bigint: 'bigint',
  numeric: 'numeric',
  'double precision': 'double precision',
  boolean: 'boolean',
  timestamptz: 'timestamp with time zone',
  json: 'json',
};

test('every sink of the pipeline has a table, and the sink descriptions are valid', () => {
  assert.deepEqual(Object.keys(SINK_TABLES).sort(), [
    'analytics_minute',
    'attributed_checkouts',
    'attribution_credits',
    'dead_letters',
  ]);
  validateSinkTables(SINKS);
});

test('the sink descriptions agree with the migrated tables: columns, types and primary keys', async () => {
  const client = await db;
  const schema = uniqueSchema('fm_sinks');
  await runMigrations(client, schema, outputMigrations(schema));
  for (const [sink, t] of Object.entries(SINKS)) {
    const { rows: cols } = await client.query<{ name: string; type: string }>(
      `SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = $2`,
      [schema, t.table],
    );
    const types = new Map(cols.map((c) => [c.name, c.type]));
    for (const c of t.columns) assert.equal(types.get(c.name), CATALOG_TYPE[c.type], `${sink}.${c.name}`);
    if (t.updatedAtColumn !== undefined) assert.equal(types.get(t.updatedAtColumn), 'timestamp with time zone');
    const { rows: pk } = await client.query<{ name: string }>(
      `SELECT a.attname::text AS name FROM pg_index i
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
       WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
      [`${schema}.${t.table}`],
    );
    if (t.mode === 'upsert')
      assert.deepEqual(
        pk.map((r) => r.name),
        [...t.primaryKey],
        `${sink} primary key`,
      );
    // Columns the database fills itself (ids, updated_at) are the only ones not written.
    const unwritten = cols.map((c) => c.name).filter((n) => !t.columns.some((c) => c.name === n));
    assert.deepEqual(
      unwritten.sort(),
      t.mode === 'append' ? ['id'] : t.updatedAtColumn ? [t.updatedAtColumn] : [],
      sink,
    );
  }
});

test('refused rows go to one table: the dead letters declare it, and two tables declaring it are refused', () => {
  assert.deepEqual(
    Object.entries(SINKS)
      .filter(([, t]) => t.fromRefusedRow !== undefined)
      .map(([id]) => id),
    ['dead_letters'],
  );
  const fromRefusedRow = () => ({});
  const table = (name: string) => ({
    table: name,
    columns: [{ name: 'a', type: 'text' as const }],
    primaryKey: [],
    mode: 'append' as const,
    fromRefusedRow,
  });
  assert.throws(
    () => validateSinkTables({ one: table('one'), two: table('two') }),
    (err) =>
      isFlowmarkError(err, 'FM_CONFIG_INVALID') && /"one" and "two" both declare fromRefusedRow/.test(err.message),
  );
});
