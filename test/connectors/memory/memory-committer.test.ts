import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryCommitter } from '../../../src/connectors/memory/memory-committer.ts';
import { checkpointCommitterContract } from '../committer-contract.ts';

// One MemoryCommitter is its own store: a "restart" in the contract is the same object loaded again.
checkpointCommitterContract(
  'MemoryCommitter',
  async () => {
    const committer = new MemoryCommitter();
    return {
      committer: () => committer,
      rows: async (sink) => committer.rows<Record<string, unknown>>(sink),
      // With no commit counted, load() finds nothing; the chunks stay, as a database's rows would.
      forgetCheckpoint: async () => {
        committer.commits = 0;
      },
    };
  },
  { resumes: true },
);

test('regression: a value restored from a checkpoint and mutated in place leaves the checkpoint unchanged', async () => {
  // The crash-after-any-record property found it: a run resumed, counted one more record into the
  // restored object, crashed before its commit, and the next run resumed from the changed count.
  const committer = new MemoryCommitter();
  await committer.commit({
    id: 1,
    outputs: new Map(),
    snapshot: {
      version: 1,
      checkpointId: 1,
      kind: 'full',
      meta: { sources: { in: { offsets: { '0': 9 }, maxEventTimeMs: { '0': 0 } } }, nodes: {} },
      entries: [{ node: 'p', table: 'n', key: 'a', value: { 99: 9 } }],
    },
  });
  const first = await committer.load();
  for await (const e of first?.entries ?? []) (e.value as Record<string, number>)[99] = 10;
  if (first !== undefined) (first.meta.sources.in as { offsets: Record<string, number> }).offsets['0'] = 10;

  const again = await committer.load();
  const values: unknown[] = [];
  for await (const e of again?.entries ?? []) values.push(e.value);
  assert.deepEqual(values, [{ 99: 9 }]);
  assert.equal(again?.meta.sources.in?.offsets['0'], 9);
});
