/** MemorySource against the source contract (test/connectors/source-contract.ts). */
import { MemorySource } from '../../../src/connectors/memory/memory-source.ts';
import { sourceContract } from '../source-contract.ts';

sourceContract('MemorySource', async (records, { partitions, drain }) => {
  const source = new MemorySource<string>({
    partitions: Array.from({ length: partitions }, (_, p) => p),
    bounded: drain,
  });
  for (const r of records) source.append(r.payload, r.partition);
  return {
    reader: source,
    append: async (more) => {
      for (const r of more) source.append(r.payload, r.partition);
    },
    close: async () => {},
  };
});
