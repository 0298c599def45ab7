/** MemorySource against the source contract (test/connectors/source-contract.ts). */
import { MemorySource } from '../../../src/connectors/memory/memory-source.ts';
import { sourceContract } from '../source-contract.ts';

sourceContract(
  'MemorySource',
  async (records, { partitions, drain }) => {
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
  },
  {
    // MemorySource.seek resumes at the first record, in arrival order, at or after its partition's
    // offset, and then delivers everything after it, including records of other partitions below
    // theirs. Right for offsets the runtime checkpointed from this same source; wrong in general.
    seekToAnyOffsets: 'MemorySource.seek replays records below the offsets of other partitions',
  },
);
