import type pg from 'pg';
import { inSavepoint, type SqlClient, type SqlResult } from '../sql/sql-client.ts';

/**
 * {@link SqlClient} over a `pg` connection pool (a PostgreSQL server). Queries outside a
 * transaction take any free connection; `transaction` holds one connection from BEGIN to
 * COMMIT/ROLLBACK. A connection that failed inside a transaction is destroyed, not returned to
 * the pool, so that a server restart leaves no broken connection behind.
 *
 * @example
 * const client = new PgClient(new pg.Pool({ connectionString: url, max: 4 }));
 * await client.query('SELECT 1 AS one'); // { rows: [{ one: 1 }] }
 */
export class PgClient implements SqlClient {
  readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<SqlResult<R>> {
    const { rows } = await this.pool.query(text, params as unknown[] | undefined);
    return { rows: rows as R[] };
  }

  async exec(script: string): Promise<void> {
    // Without parameters, pg sends the simple protocol, which runs several statements.
    await this.pool.query(script);
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const conn = await this.pool.connect();
    let broken: Error | undefined;
    // A checked-out connection that breaks between two statements (the server stops) emits
    // 'error', which would end the process if nobody listened: the failing statement (or COMMIT)
    // rejects on its own, and the connection is then destroyed instead of pooled again.
    const onError = (err: Error) => {
      broken = err;
    };
    conn.on('error', onError);
    try {
      await conn.query('BEGIN');
      const result = await fn(new PgTransaction(conn));
      await conn.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await conn.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error; // the connection is gone: do not pool it again
      }
      throw err;
    } finally {
      conn.off('error', onError);
      conn.release(broken);
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** @internal The client inside a transaction (one connection); nested transactions are savepoints. */
class PgTransaction implements SqlClient {
  readonly #conn: pg.PoolClient;
  #savepoints = 0;

  constructor(conn: pg.PoolClient) {
    this.#conn = conn;
  }

  async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<SqlResult<R>> {
    const { rows } = await this.#conn.query(text, params as unknown[] | undefined);
    return { rows: rows as R[] };
  }

  async exec(script: string): Promise<void> {
    await this.#conn.query(script);
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return inSavepoint(
      (statement) => this.#conn.query(statement),
      `fm_sp_${++this.#savepoints}`,
      () => fn(this),
    );
  }

  async close(): Promise<void> {
    throw new Error('close() inside a transaction: close the client the transaction came from');
  }
}
