import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sharedPglite } from './pglite-fixtures.ts';

const db = sharedPglite();

test('a transaction commits when its function resolves and rolls back when it throws', async () => {
  const client = await db;
  await client.exec('CREATE TABLE tx_test (v text)');
  await client.transaction((tx) => tx.query("INSERT INTO tx_test VALUES ('kept')"));
  await assert.rejects(
    client.transaction(async (tx) => {
      await tx.query("INSERT INTO tx_test VALUES ('lost')");
      throw new Error('boom');
    }),
    /boom/,
  );
  const { rows } = await client.query('SELECT v FROM tx_test ORDER BY v');
  assert.deepEqual(rows, [{ v: 'kept' }]);
});

test('a nested transaction is a savepoint: its failure undoes only its own writes', async () => {
  const client = await db;
  await client.exec('CREATE TABLE sp_test (v text)');
  await client.transaction(async (tx) => {
    await tx.query("INSERT INTO sp_test VALUES ('outer')");
    await assert.rejects(
      tx.transaction(async (inner) => {
        await inner.query("INSERT INTO sp_test VALUES ('inner')");
        await inner.query('SELECT * FROM no_such_table');
      }),
      /no_such_table/,
    );
    await tx.transaction((inner) => inner.query("INSERT INTO sp_test VALUES ('inner-ok')"));
  });
  const { rows } = await client.query<{ v: string }>('SELECT v FROM sp_test ORDER BY v');
  assert.deepEqual(
    rows.map((r) => r.v),
    ['inner-ok', 'outer'],
  );
});

test('parameters: arrays for unnest, null, and a script of several statements through exec', async () => {
  const client = await db;
  await client.exec('CREATE TABLE arr_test (a text, b numeric); INSERT INTO arr_test VALUES (NULL, 1);');
  const { rows } = await client.query<{ a: string | null; b: string }>(
    'SELECT * FROM unnest($1::text[], $2::numeric[]) AS u(a, b)',
    [
      ['x', null],
      [1.5, 2],
    ],
  );
  assert.deepEqual(rows, [
    { a: 'x', b: '1.5' },
    { a: null, b: '2' },
  ]);
});
