import { restoredFromChunks, timeBucketedTableContract } from './time-bucketed-table-contract.ts';

timeBucketedTableContract('restored from chunks', restoredFromChunks);
