/**
 * The contract of {@link SqlClient} (src/connectors/sql/sql-client.ts), which every SQL connector
 * is written against, as one suite each implementation runs: PgliteClient
 * (test/connectors/pglite/pglite-client.test.ts) and PgClient over `pg`
 * (test/connectors/postgres/pg-client.test.ts). Each test works in its own schema.
 *
 * @example
 * sqlClientContract('PGlite', { client: () => sharedPglite() });
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import type { SqlClient } from '../../../src/connectors/sql/sql-client.ts';
import { isDataSqlError, sqlState } from '../../../src/connectors/sql/sql-errors.ts';
import { type SqlHarness, uniqueSchema } from './sql-fixtures.ts';

export function sqlClientContract(label: string, harness: SqlHarness): void {
  /** A client and an empty schema of its own (dropped afterwards) holding table `t (v text)`. */
  const setup = async (t: TestContext) => {
    const client = await harness.client();
    const s = uniqueSchema('fm_client');
    t.after(() => client.exec(`DROP SCHEMA IF EXISTS ${s} CASCADE`));
    await client.exec(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.t (v text)`);
    const values = async (c: SqlClient = client) =>
      (await c.query<{ v: string | null }>(`SELECT v FROM ${s}.t ORDER BY v NULLS FIRST`)).rows.map((r) => r.v);
    return { client, s, values };
  };

  describe(`SqlClient contract: ${label}`, () => {
    test('parameters $1…$n of each kind come back as sent', async (t) => {
      const { client } = await setup(t);
      const { rows } = await client.query<Record<string, unknown>>(
        'SELECT $1::text AS s, $2::int AS i, $3::float8 AS f, $4::boolean AS b, $5::text AS n, $6::text AS u, $2::int + 1 AS again',
        ['it\'s "x" \\ é😀', 42, 1.5, false, null, ''],
      );
      assert.deepEqual(rows, [{ s: 'it\'s "x" \\ é😀', i: 42, f: 1.5, b: false, n: null, u: '', again: 43 }]);
    });

    test('a parameter is a value, never SQL text', async (t) => {
      const { client, s, values } = await setup(t);
      const evil = `x'); DROP TABLE ${s}.t; --`;
      await client.query(`INSERT INTO ${s}.t VALUES ($1)`, [evil]);
      assert.deepEqual(await values(), [evil]);
    });

    test('arrays are sent as PostgreSQL arrays, for unnest: nulls, quotes, braces, commas, empty', async (t) => {
      const { client } = await setup(t);
      const texts = ['a', null, '', 'NULL', '"q"', '{b,c}', 'back\\slash', ' sp ', 'é😀', "it's"];
      const nums = [1.5, null, -2, 0, 1e-7, 123456789.25, 7, 8, 9, 10];
      const { rows } = await client.query<{ a: string | null; b: string | null }>(
        'SELECT a, b::text AS b FROM unnest($1::text[], $2::numeric[]) WITH ORDINALITY AS u(a, b, n) ORDER BY u.n',
        [texts, nums],
      );
      assert.deepEqual(
        rows.map((r) => r.a),
        texts,
      );
      assert.deepEqual(
        rows.map((r) => (r.b === null ? null : Number(r.b))),
        nums,
      );
      const empty = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM unnest($1::text[]) AS u(a)', [
        [],
      ]);
      assert.deepEqual(empty.rows, [{ n: 0 }]);
    });

    test('NULL in and out: a null parameter is SQL NULL', async (t) => {
      const { client, s, values } = await setup(t);
      await client.query(`INSERT INTO ${s}.t VALUES ($1), ($2)`, [null, 'x']);
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.t WHERE v IS NULL`);
      assert.deepEqual(rows, [{ n: 1 }]);
      assert.deepEqual(await values(), [null, 'x']);
    });

    test('exec runs a script of several statements', async (t) => {
      const { client, s, values } = await setup(t);
      await client.exec(
        `INSERT INTO ${s}.t VALUES ('1'); CREATE TABLE ${s}.u (w int); INSERT INTO ${s}.u VALUES (1), (2);
         INSERT INTO ${s}.t SELECT w::text || 'u' FROM ${s}.u;`,
      );
      assert.deepEqual(await values(), ['1', '1u', '2u']);
    });

    test('a transaction commits when its function resolves, and returns its value', async (t) => {
      const { client, s, values } = await setup(t);
      const result = await client.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${s}.t VALUES ($1)`, ['kept']);
        await tx.exec(`INSERT INTO ${s}.t VALUES ('kept by exec')`);
        return (await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.t`)).rows[0]?.n;
      });
      assert.equal(result, 2);
      assert.deepEqual(await values(), ['kept', 'kept by exec']);
    });

    test('a transaction rolls back everything when its function throws, and rethrows that error', async (t) => {
      const { client, s, values } = await setup(t);
      await client.query(`INSERT INTO ${s}.t VALUES ('before')`);
      const boom = new Error('boom');
      await assert.rejects(
        client.transaction(async (tx) => {
          await tx.query(`INSERT INTO ${s}.t VALUES ($1)`, ['lost']);
          await tx.exec(`INSERT INTO ${s}.t VALUES ('lost by exec'); CREATE TABLE ${s}.gone (x int)`);
          throw boom;
        }),
        (err) => err === boom,
      );
      assert.deepEqual(await values(), ['before']);
      const { rows } = await client.query(
        `SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'gone'`,
        [s],
      );
      assert.deepEqual(rows, [], 'DDL is rolled back too');
    });

    test('a statement that fails inside a transaction rolls it back; the client works afterwards', async (t) => {
      const { client, s, values } = await setup(t);
      await assert.rejects(
        client.transaction(async (tx) => {
          await tx.query(`INSERT INTO ${s}.t VALUES ('lost')`);
          await tx.query('SELECT 1/0');
        }),
        (err) => sqlState(err) === '22012',
      );
      assert.deepEqual(await values(), []);
      await client.transaction((tx) => tx.query(`INSERT INTO ${s}.t VALUES ('next')`));
      assert.deepEqual(await values(), ['next']);
    });

    test('a nested transaction is a savepoint: its failure undoes only its own writes', async (t) => {
      const { client, s, values } = await setup(t);
      await client.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${s}.t VALUES ('outer')`);
        await assert.rejects(
          tx.transaction(async (inner) => {
            await inner.query(`INSERT INTO ${s}.t VALUES ('inner-lost')`);
            await inner.query(`SELECT * FROM ${s}.no_such_table`);
          }),
          (err) => sqlState(err) === '42P01',
        );
        const kept = await tx.transaction(async (inner) => {
          await inner.query(`INSERT INTO ${s}.t VALUES ('inner-kept')`);
          // Two levels deep: the innermost failure undoes only the innermost write.
          await assert.rejects(
            inner.transaction(async (innermost) => {
              await innermost.query(`INSERT INTO ${s}.t VALUES ('innermost-lost')`);
              throw new Error('innermost');
            }),
            /innermost/,
          );
          return 'kept';
        });
        assert.equal(kept, 'kept');
        assert.deepEqual(await values(tx), ['inner-kept', 'outer'], 'inside: the savepoints are applied');
      });
      assert.deepEqual(await values(), ['inner-kept', 'outer']);
    });

    test('a nested transaction that succeeded is undone when the outer one fails', async (t) => {
      const { client, s, values } = await setup(t);
      await assert.rejects(
        client.transaction(async (tx) => {
          await tx.transaction((inner) => inner.query(`INSERT INTO ${s}.t VALUES ('inner')`));
          throw new Error('outer fails');
        }),
        /outer fails/,
      );
      assert.deepEqual(await values(), []);
    });

    test('errors carry the SQLSTATE code of the server, and data errors are told apart', async (t) => {
      const { client, s } = await setup(t);
      await client.exec(`CREATE TABLE ${s}.k (id int PRIMARY KEY, n numeric(4, 2))`);
      await client.query(`INSERT INTO ${s}.k VALUES (1, 1)`);
      const cases: [string, unknown[], string, boolean][] = [
        ['SELEC 1', [], '42601', false], // syntax error
        [`SELECT * FROM ${s}.missing`, [], '42P01', false], // undefined table
        [`INSERT INTO ${s}.k VALUES (1, 1)`, [], '23505', false], // unique violation
        [`INSERT INTO ${s}.k VALUES (2, $1)`, [1000], '22003', true], // numeric field overflow
        ['SELECT $1::int', ['x'], '22P02', true], // invalid text representation
        ['SELECT 1/0', [], '22012', true], // division by zero
      ];
      for (const [sql, params, code, data] of cases) {
        const err = await client.query(sql, params).then(
          () => assert.fail(`${sql} should fail`),
          (e: unknown) => e,
        );
        assert.equal(sqlState(err), code, sql);
        assert.equal(isDataSqlError(err), data, `${sql}: a data error?`);
        assert.equal(typeof (err as { message?: unknown }).message, 'string');
      }
      const inExec = await client.exec(`INSERT INTO ${s}.k VALUES (1, 1)`).then(
        () => assert.fail('exec should fail'),
        (e: unknown) => e,
      );
      assert.equal(sqlState(inExec), '23505', 'exec errors carry it too');
      const inTx = await client
        .transaction((tx) => tx.query('SELEC 1'))
        .then(
          () => assert.fail('should fail'),
          (e: unknown) => e,
        );
      assert.equal(sqlState(inTx), '42601', 'and errors inside a transaction');
    });
  });
}
