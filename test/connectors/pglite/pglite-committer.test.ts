import { sqlCommitterContracts } from '../sql/committer-contract.ts';
import { sharedPglite } from './pglite-fixtures.ts';

const client = sharedPglite();
sqlCommitterContracts('PGlite (in memory)', { client: () => client });
