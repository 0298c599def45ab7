/**
 * The small interface flowmark's SQL code needs from a PostgreSQL client. The SQL connectors are
 * written against it and never import a driver: `src/connectors/pglite` adapts PGlite to it, and
 * the PostgreSQL server connector adapts `pg`'s Pool the same way (as kysely describes `pg` by
 * the interface it needs).
 *
 * @example
 * const { rows } = await client.query<{ n: number }>('SELECT $1::int AS n', [1]); // rows = [{ n: 1 }]
 * await client.transaction(async (tx) => {
 *   await tx.query('UPDATE flowmark.checkpoints SET epoch = epoch + 1 WHERE job = $1', ['attribution']);
 * });
 */
export interface SqlClient {
  /**
   * Runs one statement with `$1…$n` parameters (extended protocol). Parameters are strings,
   * numbers, booleans, null, or arrays of those (sent as PostgreSQL arrays, for `unnest`).
   */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<SqlResult<R>>;
  /** Runs a script of several statements separated by `;`, with no parameters (DDL, migrations). */
  exec(script: string): Promise<void>;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws (the
   * error is rethrown). Inside a transaction, `tx.transaction` opens a savepoint.
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  /** Closes the connection(s); the client cannot be used afterwards. */
  close(): Promise<void>;
}

export interface SqlResult<R> {
  rows: R[];
}

/**
 * Quotes an identifier (schema, table, column) for SQL text: `users` → `"users"`.
 * Identifiers are always quoted, so a configured name is used exactly as written.
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."table"`. */
export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/**
 * A nested transaction of a client that is inside one: `fn` runs after `SAVEPOINT name`; the
 * savepoint is released when it resolves and rolled back to when it throws (the error is
 * rethrown). `run` sends one statement on the transaction's connection.
 */
export async function inSavepoint<T>(
  run: (statement: string) => Promise<unknown>,
  name: string,
  fn: () => Promise<T>,
): Promise<T> {
  await run(`SAVEPOINT ${name}`);
  try {
    const result = await fn();
    await run(`RELEASE SAVEPOINT ${name}`);
    return result;
  } catch (err) {
    await run(`ROLLBACK TO SAVEPOINT ${name}`);
    throw err;
  }
}
