/**
 * Asynchronous work is drained before every checkpoint (docs/semantics.md): a lookup join keeps
 * no snapshot state, so a record still waiting for its look-up when a checkpoint is cut would be
 * acknowledged by that checkpoint without its row, and lost at a crash. Here every record waits
 * for a real (asynchronous, uncached) look-up, checkpoints are cut in the middle of a source batch
 * (before the end of the batch issues the look-ups), and the source fails after the third one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFlowmarkError } from '../../src/engine/errors.ts';
import type { SourceReader } from '../../src/engine/source.ts';
import { type Ev, ev, MemoryCommitter, MemorySource, Pipeline, runBounded } from './engine-fixtures.ts';

/** source → lookupJoin (no cache: every record is looked up, answered on a later turn) → out. */
function enrichPipeline(reader: SourceReader<Ev>, calls: { n: number }): Pipeline {
  const p = new Pipeline();
  const { out, invalid } = p.source<Ev, Ev>('in', { reader, eventTimeMs: (e) => e.t });
  invalid.sink('invalid');
  out
    .lookupJoin('enrich', {
      key: (e) => e.k,
      cacheEntries: 0,
      lookup: async (keys) => {
        calls.n++;
        await new Promise((resolve) => setImmediate(resolve));
        return new Map(keys.map((k) => [k, k.toUpperCase()]));
      },
      join: (e, found) => `${e.id}:${found}`,
    })
    .sink('out');
  return p;
}

test('§3.7 look-ups in flight are drained into every checkpoint: a crash after one loses no row', async () => {
  const events = Array.from({ length: 50 }, (_, i) => ev(`k${i % 7}`, i * 7, `e${i}`));
  const calls = { n: 0 };
  const uninterrupted = await runBounded(enrichPipeline(MemorySource.of(events), calls), {
    checkpointEveryRecords: 10,
  });
  assert.equal(uninterrupted.committer.rows('out').length, 50);

  const committer = new MemoryCommitter();
  const crashing = MemorySource.of(events, { failAfterRecords: 33 });
  await assert.rejects(runBounded(enrichPipeline(crashing, calls), { committer, checkpointEveryRecords: 10 }), (e) =>
    isFlowmarkError(e, 'FM_SOURCE_FAILED'),
  );
  // The last checkpoint acknowledged 30 records: each with its row, none waiting elsewhere.
  assert.deepEqual(
    committer.rows('out'),
    events.slice(0, 30).map((e) => `${e.id}:${e.k.toUpperCase()}`),
  );
  await runBounded(enrichPipeline(MemorySource.of(events), calls), { committer, checkpointEveryRecords: 10 });
  assert.deepEqual(committer.rows('out'), uninterrupted.committer.rows('out'));
  assert.ok(calls.n >= 10, `the look-ups were real (${calls.n} calls)`);
});
