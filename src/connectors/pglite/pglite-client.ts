import type { PGliteInterface, Transaction } from '@electric-sql/pglite';
import { inSavepoint, type SqlClient, type SqlResult } from '../sql/sql-client.ts';

/**
 * {@link SqlClient} over PGlite (PostgreSQL compiled to WebAssembly, in this process). PGlite is
 * one connection: its `transaction` holds it exclusively, so other queries wait until the
 * transaction ends, as they would for a row lock on a server.
 *
 * @example
 * const client = new PgliteClient(await PGlite.create()); // in memory
 * await client.query('SELECT 1 AS one'); // { rows: [{ one: 1 }] }
 */
export class PgliteClient implements SqlClient {
  readonly db: PGliteInterface;

  constructor(db: PGliteInterface) {
    this.db = db;
  }

  async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<SqlResult<R>> {
    const { rows } = await this.db.query<R>(text, params as unknown[] | undefined);
    return { rows };
  }

  async exec(script: string): Promise<void> {
    await this.db.exec(script);
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new PgliteTransaction(tx)));
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** @internal The client inside a PGlite transaction; nested transactions are savepoints. */
class PgliteTransaction implements SqlClient {
  readonly #tx: Transaction;
  #savepoints = 0;

  constructor(tx: Transaction) {
    this.#tx = tx;
  }

  async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<SqlResult<R>> {
    const { rows } = await this.#tx.query<R>(text, params as unknown[] | undefined);
    return { rows };
  }

  async exec(script: string): Promise<void> {
    await this.#tx.exec(script);
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return inSavepoint(
      (statement) => this.#tx.query(statement),
      `fm_sp_${++this.#savepoints}`,
      () => fn(this),
    );
  }

  async close(): Promise<void> {
    throw new Error('close() inside a transaction: close the client the transaction came from');
  }
}
