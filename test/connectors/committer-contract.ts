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
import type { Checkpoint, CheckpointCommitter, NodeChunk, StoredChunk } from '../../src/engine/checkpoint.ts';
import { isFlowmarkError } from '../../src/engine/errors.ts';
import { frozenEntry, type SnapshotEntry, type SnapshotMeta } from '../../src/engine/snapshot.ts';
import { TimeBucketedTable } from '../../src/engine/state/time-bucketed-table.ts';

export interface CommitterStore {
  /** A new committer over the store, as after a restart (an in-memory store may return itself). */
  committer(): CheckpointCommitter;
  /**
   * Every row committed to `sink` so far, in commit order. Called only after the last commit of
   * a test (a file committer may close its files to read them).
   */
  rows(sink: string): Promise<Record<string, unknown>[]>;
  /**
   * Forgets the job's last checkpoint and nothing else, as an operator does to rebuild a job's
   * state from its source: the next `load` finds nothing, the job's stored chunks are left behind.
   */
  forgetCheckpoint?(): Promise<void>;
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
  parts: {
    letters?: string[];
    entries?: SnapshotEntry[];
    kind?: 'full' | 'delta';
    meta?: SnapshotMeta;
    chunks?: NodeChunk[];
  } = {},
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
    chunks: parts.chunks ?? [],
  };
}

/** {@link CONTRACT_META} with the watermarks of some steps set. */
export function metaWithWatermarks(watermarks: Record<string, number>): SnapshotMeta {
  const nodes = structuredClone(CONTRACT_META.nodes);
  for (const [node, wm] of Object.entries(watermarks)) {
    nodes[node] = { inputWatermarksMs: [wm], watermarkMs: wm, outputWatermarkMs: wm };
  }
  return { sources: structuredClone(CONTRACT_META.sources), nodes };
}

const CLICKS_SPEC = {
  name: 'clicks',
  retentionMs: 1000,
  bucketWidthMs: 100,
  idColumn: 'clickId',
  columns: { clickId: 'uuid', source: 'string' },
} as const;
const SEEN_SPEC = { name: 'seen', retentionMs: 500, columns: {} } as const;

/**
 * Real time-bucketed tables that make chunks as the runtime takes them: step `attribute` has
 * `clicks` (uuid and string columns, retention 1 s), step `dedupe` has `seen` (no columns).
 * `take()` returns the chunks of what changed since the previous call, as a checkpoint carries them.
 */
export class ChunkMaker {
  readonly clicks = new TimeBucketedTable(CLICKS_SPEC);
  readonly seen = new TimeBucketedTable(SEEN_SPEC);
  #n = 0;

  /** Adds `n` clicks (keys u0…u4) from `fromMs`, 10 ms apart, and `n` seen ids; returns their keys. */
  add(n: number, fromMs: number): this {
    for (let i = 0; i < n; i++, this.#n++) {
      const id = `00000000-0000-4000-8000-${String(this.#n).padStart(12, '0')}`;
      this.clicks.insert(`u${this.#n % 5}\u0000p1`, fromMs + i * 10, {
        clickId: id,
        source: this.#n % 3 === 0 ? null : `src-é😀-${this.#n % 4}`,
      });
      this.seen.insert(id, fromMs + i * 10, {});
    }
    return this;
  }

  take(): NodeChunk[] {
    const out: NodeChunk[] = [];
    const c = this.clicks.takeChunk();
    if (c !== undefined) out.push({ node: 'attribute', chunk: c });
    const s = this.seen.takeChunk();
    if (s !== undefined) out.push({ node: 'dedupe', chunk: s });
    return out;
  }
}

/** Every entry of a clicks table, in key and time order, as plain values. */
export function clickContents(t: TimeBucketedTable<(typeof CLICKS_SPEC)['columns']>): unknown[] {
  const out: unknown[] = [];
  for (let k = 0; k < 5; k++) {
    const key = `u${k}\u0000p1`;
    for (const ref of t.range(key, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY)) {
      out.push([key, t.timeOf(ref), t.row(ref)]);
    }
  }
  return out;
}

/** Restores a clicks table from the stored chunks of step `attribute`, as the runtime does. */
export function restoredClicks(
  chunks: readonly StoredChunk[],
  watermarkMs: number,
): TimeBucketedTable<(typeof CLICKS_SPEC)['columns']> {
  const t = new TimeBucketedTable(CLICKS_SPEC);
  t.restore(
    chunks.filter((c) => c.node === 'attribute' && c.table === 'clicks'),
    watermarkMs,
  );
  return t;
}

/** The stored chunks of a restore point, in (node, table, seq) order, bytes as plain arrays. */
export async function storedChunks(
  chunks: Iterable<StoredChunk> | AsyncIterable<StoredChunk> | undefined,
): Promise<StoredChunk[]> {
  const all: StoredChunk[] = [];
  for await (const c of chunks ?? []) all.push(c);
  const id = (c: StoredChunk) => `${c.node}\u0001${c.table}\u0001${String(c.seq).padStart(12, '0')}`;
  return all.sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
}

/** What a stored chunk should be: its step, table, number and bytes (as plain arrays, comparable). */
const chunkId = (c: StoredChunk | NodeChunk) =>
  'chunk' in c
    ? { node: c.node, table: c.chunk.table, seq: c.chunk.seq, bytes: [...c.chunk.bytes] }
    : { node: c.node, table: c.table, seq: c.seq, bytes: [...c.bytes] };

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

    describe('chunks of time-bucketed tables', () => {
      test('are kept with their checkpoint and given back on restore, each named by step/table/number', async (t) => {
        const store = await open(t);
        const maker = new ChunkMaker();
        const first = maker.add(12, 10_000).take();
        maker.clicks.delete('u1\u0000p1', 10_010, '00000000-0000-4000-8000-000000000001');
        const second = maker.add(7, 10_500).take();
        assert.equal(first.length, 2);
        assert.equal(second.length, 2);
        const c = store.committer();
        await c.load();
        await c.commit(checkpoint(1, { chunks: first }));
        await c.commit(checkpoint(2, { chunks: [] }));
        await c.commit(checkpoint(3, { chunks: second }));
        const point = await store.committer().load();
        assert.equal(point?.checkpointId, 3);
        const stored = await storedChunks(point?.chunks);
        assert.deepEqual(stored.map(chunkId), [...first, ...second].map(chunkId).sort(byChunk));
        for (const s of stored) {
          assert.ok(s.name.endsWith(`${s.node}/${s.table}/${s.seq}`), `${s.name} names the chunk`);
        }
        const restored = restoredClicks(stored, Number.NEGATIVE_INFINITY);
        assert.equal(restored.size, 18);
        assert.deepEqual(clickContents(restored), clickContents(maker.clicks));
      });

      test('one whose every entry has expired by the committed watermark of its step is deleted; the rest stay', async (t) => {
        const store = await open(t);
        const maker = new ChunkMaker();
        const old = maker.add(5, 10_000).take(); // clicks expire at 10 040 + 1000, seen at 10 040 + 500
        const young = maker.add(5, 20_000).take();
        const oldClicks = old.find((x) => x.node === 'attribute')?.chunk;
        assert.equal(oldClicks?.expiresAtMs, 11_040);
        const c = store.committer();
        await c.load();
        await c.commit(checkpoint(1, { chunks: old }));
        await c.commit(checkpoint(2, { chunks: young }));
        const ids = async () => (await storedChunks((await store.committer().load())?.chunks)).map(chunkId);
        // The watermark at the expiry itself keeps the chunk (an entry at t expires once wm > t + retention).
        const d = store.committer();
        await d.load();
        await d.commit(checkpoint(3, { meta: metaWithWatermarks({ attribute: 11_040, dedupe: 10_540 }) }));
        assert.deepEqual(await ids(), [...old, ...young].map(chunkId).sort(byChunk));
        const e = store.committer();
        await e.load();
        await e.commit(checkpoint(4, { meta: metaWithWatermarks({ attribute: 11_041 }) }));
        const attributeYoung = young.filter((x) => x.node === 'attribute');
        const dedupeAll = [...old, ...young].filter((x) => x.node === 'dedupe');
        assert.deepEqual(await ids(), [...attributeYoung, ...dedupeAll].map(chunkId).sort(byChunk));
        const f = store.committer();
        const point = await f.load();
        const restored = restoredClicks(await storedChunks(point?.chunks), 11_041);
        const youngOnly = clickContents(maker.clicks).filter((x) => (x as [string, number])[1] >= 20_000);
        assert.equal(youngOnly.length, 5);
        assert.deepEqual(clickContents(restored), youngOnly);
        // A step whose watermark is +∞ (the end of a drain) has nothing left.
        await f.commit(
          checkpoint(5, { meta: metaWithWatermarks({ attribute: 11_041, dedupe: Number.POSITIVE_INFINITY }) }),
        );
        assert.deepEqual(await ids(), attributeYoung.map(chunkId));
      });

      test("checkpoint 1 (a run with nothing to resume) starts them afresh: an earlier run's are dropped", async (t) => {
        const store = await open(t);
        const before = new ChunkMaker();
        const c = store.committer();
        await c.load();
        await c.commit(checkpoint(1, { chunks: before.add(5, 10_000).take() }));
        await c.commit(checkpoint(2, { chunks: before.add(5, 10_100).take() }));
        const again = new ChunkMaker();
        const fresh = again
          .add(3, 50_000)
          .take()
          .filter((x) => x.node === 'attribute');
        assert.ok(store.forgetCheckpoint !== undefined, 'a store that resumes says how to forget its checkpoint');
        await store.forgetCheckpoint();
        const d = store.committer();
        assert.equal(await d.load(), undefined);
        await d.commit(checkpoint(1, { chunks: fresh }));
        const point = await store.committer().load();
        assert.deepEqual((await storedChunks(point?.chunks)).map(chunkId), fresh.map(chunkId));
      });

      test("a restore point's chunks are copies: changing their bytes does not change the checkpoint", async (t) => {
        const store = await open(t);
        const chunks = new ChunkMaker().add(5, 10_000).take();
        const c = store.committer();
        await c.load();
        await c.commit(checkpoint(1, { chunks }));
        for (const s of await storedChunks((await store.committer().load())?.chunks)) s.bytes.fill(0);
        const again = await storedChunks((await store.committer().load())?.chunks);
        assert.deepEqual(again.map(chunkId), chunks.map(chunkId).sort(byChunk));
      });
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
        const maker = new ChunkMaker();
        const kept = maker.add(3, 10_000).take();
        await first.commit(checkpoint(1, { letters: ['1'], entries: [e('k', 1)], chunks: kept }));
        const second = store.committer();
        await second.load();
        const zombie = maker.add(3, 20_000).take();
        await assert.rejects(
          first.commit(
            checkpoint(2, {
              letters: ['zombie'],
              entries: [e('k', 'zombie')],
              chunks: zombie,
              meta: metaWithWatermarks({ attribute: 99_999, dedupe: 99_999 }),
            }),
          ),
          (err) => isFlowmarkError(err, 'FM_FENCED') && !err.retriable,
        );
        const point = await store.committer().load();
        assert.equal(point?.checkpointId, 1);
        assert.deepEqual(await sortedEntries(point?.entries ?? []), [e('k', 1)]);
        assert.deepEqual((await storedChunks(point?.chunks)).map(chunkId), kept.map(chunkId).sort(byChunk));
        assert.deepEqual(await raws(store), ['1']);
      });
    }

    if (caps.idempotentRetry) {
      test('committing a checkpoint again (a retry after a lost acknowledgement) writes nothing twice', async (t) => {
        const store = await open(t);
        const c = store.committer();
        await c.load();
        const chunks = new ChunkMaker().add(4, 10_000).take();
        const cp = checkpoint(1, { letters: ['once'], entries: [e('k', 1)], chunks });
        await c.commit(cp);
        await c.commit(cp);
        await c.commit(checkpoint(2, { letters: ['two'] }));
        await c.commit(cp); // an older one, late: ignored too
        const point = await store.committer().load();
        assert.equal(point?.checkpointId, 2);
        assert.deepEqual((await storedChunks(point?.chunks)).map(chunkId), chunks.map(chunkId).sort(byChunk));
        assert.deepEqual(await raws(store), ['once', 'two']);
      });
    }
  });
}

function byChunk(a: { node: string; table: string; seq: number }, b: { node: string; table: string; seq: number }) {
  return a.node < b.node ? -1 : a.node > b.node ? 1 : a.table < b.table ? -1 : a.table > b.table ? 1 : a.seq - b.seq;
}
