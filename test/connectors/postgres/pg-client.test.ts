/** PgClient (over a `pg` pool) against the SqlClient contract (test/connectors/sql/sql-client-contract.ts). */
import { sqlClientContract } from '../sql/sql-client-contract.ts';
import { sharedServerClient, withServer } from './pg-fixtures.ts';

withServer('PgClient on a PostgreSQL server', (url) => {
  const client = sharedServerClient(url);
  sqlClientContract('PgClient on a PostgreSQL server', { client: async () => client });
});
