/** LineFileSource (a replay's input) against the source contract: one partition, always bounded. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineFileSource } from '../../../src/connectors/files/line-file-source.ts';
import { sourceContract } from '../source-contract.ts';

sourceContract(
  'LineFileSource',
  async (records, { partitions, drain }) => {
    if (partitions !== 1 || !drain) throw new Error(`a line file is one bounded partition, asked for ${partitions}`);
    const dir = mkdtempSync(join(tmpdir(), 'flowmark-line-file-contract-'));
    const path = join(dir, 'input.jsonl');
    writeFileSync(path, records.map((r) => `${r.payload}\n`).join(''));
    const reader = new LineFileSource(path);
    return {
      reader,
      close: async () => {
        await reader.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  {},
  { maxPartitions: 1, live: false },
);
