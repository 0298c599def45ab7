/**
 * Helpers for tests of the SQL connectors that run against any PostgreSQL (PGlite or a server):
 * a fresh schema per test, with flowmark's migrations, dropped afterwards.
 */
import type { TestContext } from 'node:test';
import type { AttributedCheckoutRow } from '../../../src/attribution/output-rows.ts';
import { outputMigrations, SINK_TABLES } from '../../../src/attribution/output-schema.ts';
import { runMigrations } from '../../../src/connectors/sql/migrations.ts';
import type { SinkTables } from '../../../src/connectors/sql/sink-tables.ts';
import type { SqlClient } from '../../../src/connectors/sql/sql-client.ts';

/** How a suite reaches a database. The suite never closes the client. */
export interface SqlHarness {
  client(): Promise<SqlClient>;
}

let counter = 0;

/** A schema name no other test uses (tests may run in parallel against one server). */
export function uniqueSchema(prefix = 'fm_test'): string {
  return `${prefix}_${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`;
}

/** A new schema with flowmark's tables, dropped when the test ends. */
export async function freshSchema(t: TestContext, client: SqlClient, prefix?: string): Promise<string> {
  const schema = uniqueSchema(prefix);
  t.after(() => client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  await runMigrations(client, schema, outputMigrations(schema));
  return schema;
}

/** The application's sink tables, typed as the connector takes them (checks that the shapes agree). */
export const SINKS: SinkTables = SINK_TABLES;

/** An attributed_checkouts row with every column, overridable. */
export function checkoutRow(id: string, over: Partial<AttributedCheckoutRow> = {}): AttributedCheckoutRow {
  return {
    checkout_id: id,
    user_id: 'u1',
    product_id: 'p1',
    quantity: 2,
    discount: 0.1,
    shipping_cost: 4.5,
    payment_method: 'card',
    payment_status: 'success',
    payment_description: null,
    user_name: 'Ada',
    user_gender: 'F',
    product_name: 'Lamp',
    product_category: 'home',
    product_price: 19.99,
    commission_rate: 0.15,
    click_id: null,
    click_source: null,
    click_time: null,
    checkout_time: '2024-05-01T10:00:00.000Z',
    order_value: 35.98,
    revenue: 35.98,
    profit: 5.4,
    attribution_model: 'first_click',
    is_final: false,
    ...over,
  };
}

/**
 * Reads a whole table as plain JSON values (times as ISO strings, numbers as text), ordered by
 * the table's columns named in `orderBy` (not by their text form).
 */
export async function tableRows(
  client: SqlClient,
  schema: string,
  table: string,
  orderBy: string,
  exclude: readonly string[] = [],
): Promise<Record<string, unknown>[]> {
  const { rows: cols } = await client.query<{ name: string; type: string }>(
    `SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns
     WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [schema, table],
  );
  const select = cols
    .filter((c) => !exclude.includes(c.name))
    .map((c) =>
      c.type === 'timestamp with time zone'
        ? `to_char(${c.name} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${c.name}`
        : c.type === 'boolean'
          ? c.name
          : `${c.name}::text AS ${c.name}`,
    );
  const { rows } = await client.query<Record<string, unknown>>(
    `SELECT ${select.join(', ')} FROM ${schema}.${table} AS src ORDER BY ${orderBy
      .split(',')
      .map((c) => `src.${c.trim()}`)
      .join(', ')}`,
  );
  return rows;
}

export async function count(client: SqlClient, schema: string, table: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${schema}.${table}`);
  return Number(rows[0]?.n);
}

/** Wraps a client so that every statement sent through it (and its transactions) is recorded. */
export function recording(client: SqlClient): { client: SqlClient; statements: string[] } {
  const statements: string[] = [];
  const wrap = (c: SqlClient): SqlClient => ({
    query: (text, params) => {
      statements.push(text);
      return c.query(text, params);
    },
    exec: (script) => {
      statements.push(script);
      return c.exec(script);
    },
    transaction: (fn) => c.transaction((tx) => fn(wrap(tx))),
    close: () => c.close(),
  });
  return { client: wrap(client), statements };
}

/**
 * Wraps a client to record every statement sent through it, and `SAVEPOINT` for each nested
 * transaction opened (the drivers send the savepoint statements themselves). With `fault`, the
 * first statement matching `when` fails with `error` instead of reaching the database (as a
 * driver reports a dropped connection), once. The database itself is real: the transaction
 * around the failing statement is rolled back by it.
 */
export function watched(
  client: SqlClient,
  fault?: { when: (statement: string) => boolean; error: Error },
): { client: SqlClient; statements: string[] } {
  const statements: string[] = [];
  let armed = fault !== undefined;
  const wrap = (c: SqlClient, nested: boolean): SqlClient => ({
    query: (text, params) => {
      statements.push(text);
      if (armed && fault?.when(text)) {
        armed = false;
        return Promise.reject(fault.error);
      }
      return c.query(text, params);
    },
    exec: (script) => {
      statements.push(script);
      return c.exec(script);
    },
    transaction: (fn) => {
      if (nested) statements.push('SAVEPOINT');
      return c.transaction((tx) => fn(wrap(tx, true)));
    },
    close: () => c.close(),
  });
  return { client: wrap(client, false), statements };
}
