/**
 * The checkpoint reader against what the SqlCommitter really writes, on PGlite and on a
 * PostgreSQL server (each test in a fresh schema).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  nextOffsets,
  readLastCheckpoint,
  readLastCheckpoints,
  type SqlClient,
  SqlCommitter,
} from '../../../src/connectors/sql/index.ts';
import { type Checkpoint, isFlowmarkError, type SnapshotMeta } from '../../../src/engine/index.ts';
import { sharedPglite } from '../pglite/pglite-fixtures.ts';
import { sharedServerClient, withServer } from '../postgres/pg-fixtures.ts';
import { freshSchema, SINKS, uniqueSchema } from './sql-fixtures.ts';

const META: SnapshotMeta = {
  sources: {
    clicks: { offsets: { '0': 17, '3': 4 }, maxEventTimeMs: { '0': 1_714_557_600_000, '3': Number.NEGATIVE_INFINITY } },
  },
  nodes: {
    attribute: {
      inputWatermarksMs: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
      watermarkMs: 1_714_557_585_000,
      outputWatermarkMs: Number.POSITIVE_INFINITY,
    },
  },
};

function checkpoint(id: number, meta: SnapshotMeta = META): Checkpoint {
  return {
    id,
    outputs: new Map(),
    snapshot: { version: 1, checkpointId: id, kind: id === 1 ? 'full' : 'delta', meta, entries: [] },
  };
}

function readerContract(name: string, client: () => Promise<SqlClient>): void {
  describe(`checkpoint reader (${name})`, () => {
    test('a job with no row, or a row with an epoch and no checkpoint yet, has no last checkpoint', async (t) => {
      const db = await client();
      const schema = await freshSchema(t, db);
      assert.equal(await readLastCheckpoint(db, 'attribution', { schema }), undefined);
      await new SqlCommitter(db, { schema, job: 'attribution', sinks: SINKS }).load(); // takes epoch 1
      assert.equal(await readLastCheckpoint(db, 'attribution', { schema }), undefined);
    });

    test('the last committed checkpoint: its id, the epoch, offsets and watermarks with ±∞ restored', async (t) => {
      const db = await client();
      const schema = await freshSchema(t, db);
      const committer = new SqlCommitter(db, { schema, job: 'attribution', sinks: SINKS });
      await committer.load();
      await committer.commit(checkpoint(1));
      const later: SnapshotMeta = {
        ...META,
        sources: { clicks: { offsets: { '0': 20, '3': 9 }, maxEventTimeMs: {} } },
      };
      await committer.commit(checkpoint(2, later));
      const last = await readLastCheckpoint(db, 'attribution', { schema });
      assert.ok(last !== undefined);
      assert.equal(last.job, 'attribution');
      assert.equal(last.checkpointId, 2);
      assert.equal(last.epoch, 1);
      assert.deepEqual(last.meta, later);
      assert.deepEqual(last.meta.nodes.attribute?.inputWatermarksMs, [
        Number.NEGATIVE_INFINITY,
        Number.POSITIVE_INFINITY,
      ]);
      assert.deepEqual(
        nextOffsets(last.meta, 'clicks'),
        new Map([
          [0, 20],
          [3, 9],
        ]),
      );
      assert.deepEqual(nextOffsets(last.meta, 'checkouts'), new Map());
      assert.ok(Number.isFinite(last.committedAtMs));
      assert.ok(last.ageMs >= 0, `age ${last.ageMs} ms`);

      // A second instance takes the job over: the checkpoint is still the last one, under its epoch.
      await new SqlCommitter(db, { schema, job: 'attribution', sinks: SINKS }).load();
      const taken = await readLastCheckpoint(db, 'attribution', { schema });
      assert.equal(taken?.checkpointId, 2);
      assert.equal(taken?.epoch, 2);
    });

    test('several jobs in one read: those with a checkpoint, each its own', async (t) => {
      const db = await client();
      const schema = await freshSchema(t, db);
      for (const [job, id] of [
        ['kafka:g:p0', 1],
        ['kafka:g:p1', 3],
      ] as const) {
        const c = new SqlCommitter(db, { schema, job, sinks: SINKS });
        await c.load();
        for (let i = 1; i <= id; i++) await c.commit(checkpoint(i));
      }
      await new SqlCommitter(db, { schema, job: 'kafka:g:p2', sinks: SINKS }).load(); // no checkpoint yet
      const last = await readLastCheckpoints(db, ['kafka:g:p0', 'kafka:g:p1', 'kafka:g:p2', 'kafka:g:p3'], {
        schema,
      });
      assert.deepEqual([...last.values()].map((c) => [c.job, c.checkpointId]).sort(), [
        ['kafka:g:p0', 1],
        ['kafka:g:p1', 3],
      ]);
    });

    test('a schema without the committer tables fails with FM_SINK_FAILED naming the job', async () => {
      const db = await client();
      const schema = uniqueSchema('fm_test_none');
      await assert.rejects(
        readLastCheckpoint(db, 'attribution', { schema }),
        (err) => isFlowmarkError(err, 'FM_SINK_FAILED') && err.message.includes('"attribution"'),
      );
    });
  });
}

const pglite = sharedPglite();
readerContract('PGlite', () => pglite);

withServer('checkpoint reader on a PostgreSQL server', (url) => {
  const server = sharedServerClient(url);
  readerContract('PostgreSQL server', async () => server);
});
