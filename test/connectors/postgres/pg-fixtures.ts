/**
 * The PostgreSQL server of the tests (scripts/services.sh postgres → FLOWMARK_TEST_PG_URL). Suites
 * share one pool per file; each test works in its own schema (sql-fixtures.ts `freshSchema`).
 */
import { after, type TestContext, test } from 'node:test';
import pg from 'pg';
import { PgClient } from '../../../src/connectors/postgres/index.ts';
import { isCi, requireService } from '../../support/services.ts';

/** The server's URL, or undefined when none is configured. */
export const PG_URL: string | undefined = process.env.FLOWMARK_TEST_PG_URL || undefined;

/** `$FLOWMARK_TEST_PG_CTL`: pg_ctl for the test server (stop -m immediate / start), for outage tests. */
export const PG_CTL: string | undefined = process.env.FLOWMARK_TEST_PG_CTL || undefined;

/**
 * Registers `suite` when the server is there; otherwise one test that skips loudly (or fails
 * under CI) so that a missing server is never a quiet green.
 */
export function withServer(name: string, suite: (url: string) => void): void {
  if (PG_URL !== undefined) {
    suite(PG_URL);
    return;
  }
  test(`${name} (needs a PostgreSQL server)`, (t: TestContext) => {
    requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  });
  if (isCi()) return;
}

/** One pool for the file, closed after its tests. */
export function sharedServerClient(url: string): PgClient {
  const client = new PgClient(new pg.Pool({ connectionString: url, max: 8 }));
  client.pool.on('error', () => {});
  after(() => client.close());
  return client;
}
