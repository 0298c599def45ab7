/** PgliteClient against the SqlClient contract (test/connectors/sql/sql-client-contract.ts). */
import { sqlClientContract } from '../sql/sql-client-contract.ts';
import { sharedPglite } from './pglite-fixtures.ts';

const client = sharedPglite();
sqlClientContract('PgliteClient (in memory)', { client: () => client });
