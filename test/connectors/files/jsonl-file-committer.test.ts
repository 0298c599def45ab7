/** JsonlFileCommitter (a replay's) against the committer contract: outputs only, it never resumes. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlFileCommitter } from '../../../src/connectors/files/jsonl-file-committer.ts';
import { CONTRACT_SINK, checkpointCommitterContract } from '../committer-contract.ts';

checkpointCommitterContract(
  'JsonlFileCommitter',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'flowmark-jsonl-committer-'));
    const path = join(dir, `${CONTRACT_SINK}.jsonl`);
    const made: JsonlFileCommitter[] = [];
    const closeAll = () => Promise.all(made.splice(0).map((c) => c.close()));
    t.after(async () => {
      await closeAll();
      rmSync(dir, { recursive: true, force: true });
    });
    return {
      committer: () => {
        const c = new JsonlFileCommitter({ [CONTRACT_SINK]: path });
        made.push(c);
        return c;
      },
      rows: async (sink) => {
        // The files are complete once closed; the contract reads rows only after the last commit.
        await closeAll();
        if (sink !== CONTRACT_SINK) return [];
        return readFileSync(path, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      },
    };
  },
  { resumes: false },
);
