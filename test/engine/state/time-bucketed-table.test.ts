import { inMemory, timeBucketedTableContract } from './time-bucketed-table-contract.ts';

timeBucketedTableContract('in memory', inMemory);
