/**
 * The contract of every {@link CheckpointCommitter} (src/engine/checkpoint.ts, ARCHITECTURE §3.7),
 * as one suite that each implementation's test file runs (hono's router suite is the model):
 *
 * | implementation | test file | resumes | fencing | idempotent retry |
 * |---|---|---|---|---|
 * | MemoryCommitter | test/connectors/memory/memory-committer.test.ts | yes | – | – |
 * | JsonlFileCommitter | test/connectors/files/jsonl-file-committer.test.ts | no (a replay) | – | – |
 * | SqlCommitter on PGlite | test/connectors/pglite/pglite-committer.test.ts | yes | yes | yes |
 * | SqlCommitter on a server | test/connectors/postgres/pg-committer.test.ts | yes | yes | yes |
 *
 * The SQL committer also runs its own SQL-specific suite (test/connectors/sql/committer-contract.ts:
 * tables, paging, refused rows, failures midway).
 *
 * A *store* is where an implementation keeps its checkpoints; `committer()` makes a new instance
 * over it, as a restarted process does. Capabilities the interface leaves open are flags: a
 * committer that does not resume (a replay's) has `discardsState`, and the suite then checks only
 * its outputs.
 *
 * @example
 * checkpointCommitterContract('MemoryCommitter', async () => { const c = new MemoryCommitter(); … }, { resumes: true });
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import type { Checkpoint, CheckpointCommitter } from '../../src/engine/checkpoint.ts';
import { isFlowmarkError } from '../../src/engine/errors.ts';
import { frozenEntry, type SnapshotEntry, type SnapshotMeta } from '../../src/engine/snapshot.ts';

export interface CommitterStore {
  /** A new committer over the store, as after a restart (an in-memory store may return itself). */
  committer(): CheckpointCommitter;
  /**
   * Every row committed to `sink` so far, in commit order. Called only after the last commit of
   * a test (a file committer may close its files to read them).
   */
  rows(sink: string): Promise<Record<string, unknown>[]>;
}

export interface CommitterCapabilities {
  /** `load` returns the last committed checkpoint (false: a replay's, which starts over). */
  resumes: boolean;
  /** Loading in a second instance fences the first: its commits fail with FM_FENCED and write nothing. */
  fencing?: boolean;
  /** Committing an already committed checkpoint again (a retry after a lost acknowledgement) writes nothing twice. */
  idempotentRetry?: boolean;
}

/** The sink every implementation under test writes: dead letters, appended. */
export const CONTRACT_SINK = 'dead_letters';

export const CONTRACT_META: SnapshotMeta = {
  sources: {
    clicks: { offsets: { '0': 17, '1': 4 }, maxEventTimeMs: { '0': 1_714_557_600_000, '1': Number.NEGATIVE_INFINITY } },
  },
  nodes: {
    clicks: { inputWatermarksMs: [], watermarkMs: Number.NEGATIVE_INFINITY, outputWatermarkMs: 1_714_557_585_000 },
    attribute: {
      inputWatermarksMs: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
      watermarkMs: Number.NEGATIVE_INFINITY,
      outputWatermarkMs: Number.POSITIVE_INFINITY,
    },
  },
};

/** A dead-letter row (the shape of the application's `dead_letters` sink) with payload `raw`. */
export const letter = (raw: string) => ({
  source: 'clicks',
  reason: 'malformed_json',
  raw,
  detail: 'not JSON',
  received_at: '2024-05-01T10:00:00.000Z',
});

function checkpoint(
  id: number,
  parts: { letters?: string[]; entries?: SnapshotEntry[]; kind?: 'full' | 'delta'; meta?: SnapshotMeta } = {},
): Checkpoint {
  return {
    id,
    outputs: new Map([[CONTRACT_SINK, (parts.letters ?? []).map(letter)]]),
    snapshot: {
      version: 1,
      checkpointId: id,
      kind: parts.kind ?? (id === 1 ? 'full' : 'delta'),
      meta: parts.meta ?? CONTRACT_META,
      entries: parts.entries ?? [],
    },
  };
}

const e = (key: string, value: unknown, expiresAtMs?: number): SnapshotEntry =>
  expiresAtMs === undefined
    ? { node: 'n', table: 't', key, value }
    : { node: 'n', table: 't', key, value, expiresAtMs };

async function sortedEntries(
  entries: Iterable<SnapshotEntry> | AsyncIterable<SnapshotEntry>,
): Promise<SnapshotEntry[]> {
  const all: SnapshotEntry[] = [];
  for await (const x of entries) all.push(x);
  const id = (x: SnapshotEntry) => `${x.node}\u0001${x.table}\u0001${x.key}`;
  return all.sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
}

export function checkpointCommitterContract(
  label: string,
  open: (t: TestContext) => Promise<CommitterStore>,
  caps: CommitterCapabilities,
): void {
  const raws = async (store: CommitterStore) => (await store.rows(CONTRACT_SINK)).map((r) => r.raw);

  describe(`CheckpointCommitter contract: ${label}`, () => {
    test('a new store has nothing to resume from', async (t) => {
      const store = await open(t);
      assert.equal(await store.committer().load(), undefined);
    });

    test(
      caps.resumes ? 'keeps state (discardsState is not set)' : 'says it keeps no state (discardsState)',
      async (t) => {
        const store = await open(t);
        assert.equal(store.committer().discardsState === true, !caps.resumes);
      },
    );

    test('writes every row of every checkpoint once, in commit order, identical rows included', async (t) => {
      const store = await open(t);
      const c = store.committer();
      await c.load();
      await c.commit(checkpoint(1, { letters: ['a', 'a', 'é😀"{}'] }));
      await c.commit(checkpoint(2)); // nothing to write
      await c.commit(checkpoint(3, { letters: ['b', 'a'] }));
      assert.deepEqual(await raws(store), ['a', 'a', 'é😀"{}', 'b', 'a']);
    });

    if (!caps.resumes) {
      test('a new instance starts over: it loads nothing, even after commits', async (t) => {
        const store = await open(t);
        const c = store.committer();
        await c.load();
        await c.commit(checkpoint(1, { letters: ['x'], entries: [e('k', 1)] }));
        assert.equal(await c.load(), undefined);
      });
      return;
    }

    test('a restart loads the checkpoint id, the meta (±Infinity intact) and the state, exactly', async (t) => {
      const store = await open(t);
      const entries: SnapshotEntry[] = [
        {
          node: 'attribute',
          table: 'clicks',
          key: 'u1\u0000p1',
          value: [[1000, { clickId: 'c\u00001', raw: '{"a":"\\\\"}' }]],
        },
        {
          node: 'attribute',
          table: 'timers',
          key: '1000|u1\u0000p1',
          value: [1000, 'u1\u0000p1'],
          expiresAtMs: 3_600_000,
        },
        { node: 'dedupe', table: 'seen', key: 'back\\slash\\0', value: true, expiresAtMs: 86_400_000.5 },
        { node: 'dedupe', table: 'seen', key: '', value: null },
        { node: 'w', table: 'emoji', key: 'é😀"\'{}', value: { nested: { deep: ['x', 1.5e-7, 1e21, false, -0.5] } } },
      ];
      const writer = store.committer();
      await writer.load();
      await writer.commit(checkpoint(1, { entries }));
      const point = await store.committer().load();
      assert.ok(point !== undefined, 'a committed checkpoint is loaded');
      assert.equal(point.checkpointId, 1);
      assert.deepEqual(point.meta, CONTRACT_META);
      assert.equal(point.meta.nodes.attribute?.outputWatermarkMs, Number.POSITIVE_INFINITY);
      assert.deepEqual(await sortedEntries(point.entries), await sortedEntries(entries));
    });

    test('entries frozen at the cut (JSON text, as the runtime hands them) are kept as they were cut', async (t) => {
      const store = await open(t);
      const live = [[1000, { clickId: 'c\u00001' }]];
      const entries = [
        frozenEntry('attribute', 'clicks', 'u1\u0000p1', live, 3_600_000),
        frozenEntry('attribute', 'clicks', 'u2\u0000p2', undefined, undefined),
      ];
      live.push([2000, { clickId: 'c2' }]); // mutated after the cut: not in the checkpoint
      const c = store.committer();
      await c.load();
      await c.commit(checkpoint(1, { entries }));
      const point = await store.committer().load();
      assert.deepEqual(await sortedEntries(point?.entries ?? []), [
        {
          node: 'attribute',
          table: 'clicks',
          key: 'u1\u0000p1',
          value: [[1000, { clickId: 'c\u00001' }]],
          expiresAtMs: 3_600_000,
        },
      ]);
    });

    test('deltas apply in order (upserts replace, deletions remove); a full snapshot replaces everything', async (t) => {
      const store = await open(t);
      const c = store.committer();
      await c.load();
      await c.commit(checkpoint(1, { entries: [e('a', 1), e('b', 1), e('c', 1, 50)] }));
      await c.commit(
        checkpoint(2, { entries: [e('b', 2), e('c', undefined), e('d', 2), e('e', 2), e('e', undefined)] }),
      );
      let point = await store.committer().load();
      assert.equal(point?.checkpointId, 2);
      assert.deepEqual(await sortedEntries(point?.entries ?? []), [e('a', 1), e('b', 2), e('d', 2)]);
      const d = store.committer();
      await d.load();
      await d.commit(checkpoint(3, { kind: 'full', entries: [e('z', 3, 7)] }));
      point = await store.committer().load();
      assert.equal(point?.checkpointId, 3);
      assert.deepEqual(await sortedEntries(point?.entries ?? []), [e('z', 3, 7)]);
    });

    test('a restarted instance goes on where the last one stopped: rows of both, state merged', async (t) => {
      const store = await open(t);
      const first = store.committer();
      await first.load();
      await first.commit(checkpoint(1, { letters: ['1'], entries: [e('a', 1), e('b', 1)] }));
      const second = store.committer();
      assert.equal((await second.load())?.checkpointId, 1);
      await second.commit(checkpoint(2, { letters: ['2'], entries: [e('b', undefined), e('c', 2)] }));
      const third = store.committer();
      const point = await third.load();
      assert.equal(point?.checkpointId, 2);
      assert.deepEqual(await sortedEntries(point?.entries ?? []), [e('a', 1), e('c', 2)]);
      assert.deepEqual(await raws(store), ['1', '2']);
    });

    test('a restore point is a copy: changing what was loaded does not change the checkpoint', async (t) => {
      // Operators mutate restored values in place; a run that crashes before its next commit
      // must resume from the checkpoint as committed (the crash property found this once).
      const store = await open(t);
      const c = store.committer();
      await c.load();
      await c.commit(checkpoint(1, { entries: [e('k', { count: 9 })] }));
      const first = await store.committer().load();
      assert.ok(first !== undefined);
      for await (const x of first.entries) (x.value as { count: number }).count = 10;
      (first.meta.sources.clicks as { offsets: Record<string, number> }).offsets['0'] = 99;
      const again = await store.committer().load();
      assert.deepEqual(await sortedEntries(again?.entries ?? []), [e('k', { count: 9 })]);
      assert.equal(again?.meta.sources.clicks?.offsets['0'], 17);
    });

    if (caps.fencing) {
      test('fencing: once a second instance loads, the first cannot commit, and writes nothing', async (t) => {
        const store = await open(t);
        const first = store.committer();
        await first.load();
        await first.commit(checkpoint(1, { letters: ['1'], entries: [e('k', 1)] }));
        const second = store.committer();
        await second.load();
        await assert.rejects(
          first.commit(checkpoint(2, { letters: ['zombie'], entries: [e('k', 'zombie')] })),
          (err) => isFlowmarkError(err, 'FM_FENCED') && !err.retriable,
        );
        const point = await store.committer().load();
        assert.equal(point?.checkpointId, 1);
        assert.deepEqual(await sortedEntries(point?.entries ?? []), [e('k', 1)]);
        assert.deepEqual(await raws(store), ['1']);
      });
    }

    if (caps.idempotentRetry) {
      test('committing a checkpoint again (a retry after a lost acknowledgement) writes nothing twice', async (t) => {
        const store = await open(t);
        const c = store.committer();
        await c.load();
        const cp = checkpoint(1, { letters: ['once'], entries: [e('k', 1)] });
        await c.commit(cp);
        await c.commit(cp);
        await c.commit(checkpoint(2, { letters: ['two'] }));
        await c.commit(cp); // an older one, late: ignored too
        const point = await store.committer().load();
        assert.equal(point?.checkpointId, 2);
        assert.deepEqual(await raws(store), ['once', 'two']);
      });
    }
  });
}
