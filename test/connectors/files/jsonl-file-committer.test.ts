/** JsonlFileCommitter (a replay's) against the committer contract: outputs only, it never resumes. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { JsonlFileCommitter } from '../../../src/connectors/files/jsonl-file-committer.ts';
import { CONTRACT_META, CONTRACT_SINK, checkpointCommitterContract } from '../committer-contract.ts';

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

test('waiting for a slow file to drain leaves no listener behind: many commits, one error listener', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-jsonl-drain-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const committer = new JsonlFileCommitter({ [CONTRACT_SINK]: join(dir, 'out.jsonl') });
  // Each commit writes more than the stream's 16 KiB high-water mark, so each one waits for 'drain'.
  const rows = [{ text: 'x'.repeat(64 * 1024) }];
  for (let id = 1; id <= 30; id++) {
    await committer.commit({
      id,
      outputs: new Map([[CONTRACT_SINK, rows]]),
      snapshot: { version: 1, checkpointId: id, kind: 'delta', meta: CONTRACT_META, entries: [] },
    });
  }
  await committer.close();
  await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  assert.deepEqual(warnings, [], 'no MaxListenersExceededWarning');
  assert.equal(readFileSync(join(dir, 'out.jsonl'), 'utf8').split('\n').length - 1, 30);
});
