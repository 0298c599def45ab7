/**
 * The engine's restore property (test/engine/properties.test.ts, property 2) through the real
 * chunk encoding and the SQL committer: a keyed process function on time-bucketed tables (and
 * its timers, which are one too) crashes after random records and resumes from its last
 * checkpoint, read back from PGlite's `state_chunks`; its output equals an uninterrupted run's.
 * The output rows are kept in memory (the shape's sinks are not flowmark's tables): the state,
 * the chunks, the offsets and the watermarks go through SqlCommitter.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SqlCommitter } from '../../../src/connectors/sql/index.ts';
import type { Checkpoint, CheckpointCommitter, RestorePoint } from '../../../src/engine/index.ts';
import { isFlowmarkError } from '../../../src/engine/index.ts';
import { type Ev, MemorySource, Pipeline, runBounded } from '../../engine/engine-fixtures.ts';
import { firstInWindow } from '../../engine/first-in-window.ts';
import { sharedPglite } from '../pglite/pglite-fixtures.ts';
import { freshSchema, SINKS } from './sql-fixtures.ts';

const RUNS = Number(process.env.FLOWMARK_PROPERTY_RUNS ?? 60) >> 2;
const BOUND_MS = 50;
const db = sharedPglite();

/** State, chunks and offsets through SqlCommitter; the shape's output rows in memory, after the commit. */
class SqlStateCommitter implements CheckpointCommitter {
  readonly #sql: SqlCommitter;
  readonly rows = new Map<string, unknown[]>();
  constructor(sql: SqlCommitter) {
    this.#sql = sql;
  }
  load(): Promise<RestorePoint | undefined> {
    return this.#sql.load();
  }
  async commit(cp: Checkpoint): Promise<void> {
    await this.#sql.commit({ ...cp, outputs: new Map() });
    for (const [sink, rows] of cp.outputs) this.rows.set(sink, [...(this.rows.get(sink) ?? []), ...rows]);
  }
}

function pipeline(events: Ev[], failAfterRecords?: number): Pipeline {
  const p = new Pipeline();
  const { out, invalid } = p.source<Ev, Ev>('in', {
    reader: MemorySource.of(events, failAfterRecords === undefined ? {} : { failAfterRecords }),
    eventTimeMs: (e) => e.t,
    maxOutOfOrdernessMs: BOUND_MS,
  });
  invalid.sink('invalid');
  const { out: firsts, late } = out.keyBy((e) => e.k).process('first', firstInWindow);
  firsts.sink('out');
  late.sink('late');
  return p;
}

const crashRunArb = fc
  .array(fc.record({ k: fc.constantFrom('a', 'b', 'c', 'd'), t: fc.integer({ min: 0, max: 3_000 }) }), {
    minLength: 2,
    maxLength: 150,
    size: 'max',
  })
  .map((xs) => xs.sort((x, y) => x.t - y.t).map((x, i): Ev => ({ k: x.k, t: x.t, id: `e${i}` })))
  .chain((sorted) =>
    fc.record({
      events: fc.shuffledSubarray(sorted, { minLength: sorted.length }),
      crashes: fc
        .uniqueArray(fc.integer({ min: 1, max: sorted.length - 1 }), { minLength: 1, maxLength: 4 })
        .map((xs) => xs.sort((a, b) => a - b)),
      every: fc.integer({ min: 1, max: 30 }),
    }),
  );

test('crash after any record, resume from the chunks in PGlite: the uninterrupted output', async (t) => {
  const client = await db;
  const schema = await freshSchema(t, client, 'fm_chunk_prop');
  let job = 0;
  await fc.assert(
    fc.asyncProperty(crashRunArb, async ({ events, crashes, every }) => {
      const { committer: reference } = await runBounded(pipeline(events));
      const committer = new SqlStateCommitter(new SqlCommitter(client, { schema, job: `job${++job}`, sinks: SINKS }));
      for (const crashAt of crashes) {
        const resumedAt = (await committer.load())?.meta.sources.in?.offsets['0'] ?? 0;
        assert.ok(resumedAt < crashAt, `resumed at ${resumedAt}, past the crash point ${crashAt}`);
        await assert.rejects(
          runBounded(pipeline(events, crashAt - resumedAt), { committer, checkpointEveryRecords: every }),
          (e) => isFlowmarkError(e, 'FM_SOURCE_FAILED'),
        );
      }
      await runBounded(pipeline(events), { committer, checkpointEveryRecords: every });
      assert.deepEqual(committer.rows.get('out') ?? [], reference.rows('out'));
      assert.deepEqual(committer.rows.get('late') ?? [], reference.rows('late'));
    }),
    { numRuns: RUNS },
  );
});
