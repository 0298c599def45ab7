import { committerContract } from '../sql/committer-contract.ts';
import { sharedPglite } from './pglite-fixtures.ts';

const client = sharedPglite();
committerContract('PGlite (in memory)', { client: () => client });
