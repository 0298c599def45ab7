import { sqlCommitterContracts } from '../sql/committer-contract.ts';
import { sharedServerClient, withServer } from './pg-fixtures.ts';

withServer('SqlCommitter on a PostgreSQL server', (url) => {
  const client = sharedServerClient(url);
  sqlCommitterContracts('PostgreSQL server', { client: async () => client });
});
