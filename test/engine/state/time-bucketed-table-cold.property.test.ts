/**
 * The time-bucketed table with a memory budget of 0 (every sealed bucket that a chunk holds goes
 * to a segment file) answers every read exactly as the all-in-memory table does, over random
 * inserts (behind the watermark too, which brings a segment back), deletes (of entries on disk
 * too), watermarks, checkpoints and restores from the chunks; expired segments go as files.
 */
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { sqliteSegmentStore } from '../../../src/connectors/local-state/index.ts';
import { ColdStorage } from '../../../src/engine/state/cold-storage.ts';
import { TimeBucketedTable } from '../../../src/engine/state/time-bucketed-table.ts';

const KEYS = ['a', 'b', 'k\u0000p', 'ü', '\ud800'];
const IDS = [
  '00000000-0000-4000-8000-000000000001',
  '00000000-0000-4000-8000-000000000002',
  'ffffffff-0000-4000-8000-00000000000a',
  'not-a-uuid',
  'Z',
  null,
];
const SOURCES = ['google_ads', 'direct', null];
const spec = {
  name: 'clicks',
  retentionMs: 200,
  bucketWidthMs: 50,
  idColumn: 'id',
  columns: { id: 'uuid', source: 'string', n: 'i32', x: 'f64' },
} as const;
type Table = TimeBucketedTable<(typeof spec)['columns']>;
const X = [0, -0, Number.NaN, 1.5, Number.POSITIVE_INFINITY];

type Op =
  | { kind: 'insert'; key: number; dt: number; id: number; source: number; x: number }
  | { kind: 'delete'; key: number; dt: number; id: number }
  | { kind: 'deleteSeen'; pick: number }
  | { kind: 'watermark'; step: number }
  | { kind: 'read'; key: number; from: number; len: number; id: number }
  | { kind: 'checkpoint'; restart: boolean }
  | { kind: 'crash'; lost: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      key: fc.nat(KEYS.length - 1),
      dt: fc.integer({ min: -260, max: 300 }),
      id: fc.nat(IDS.length - 1),
      source: fc.nat(SOURCES.length - 1),
      x: fc.nat(X.length - 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      key: fc.nat(KEYS.length - 1),
      dt: fc.integer({ min: -260, max: 300 }),
      id: fc.nat(IDS.length - 1),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deleteSeen' as const), pick: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('watermark' as const), step: fc.integer({ min: 0, max: 120 }) }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      key: fc.nat(KEYS.length - 1),
      from: fc.integer({ min: -300, max: 300 }),
      len: fc.integer({ min: 0, max: 400 }),
      id: fc.nat(IDS.length - 1),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('checkpoint' as const), restart: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), lost: fc.integer({ min: 0, max: 3 }) }) },
);

const view = (t: Table, r: number) => (r < 0 ? undefined : [t.timeOf(r), t.keyOf(r), t.row(r)]);
const dump = (t: Table) =>
  KEYS.map((k) => t.range(k, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY).map((r) => view(t, r)));

function coldTable(dir: string): { table: Table; storage: ColdStorage } {
  const storage = new ColdStorage({
    memoryBudgetBytes: 0,
    dir,
    log: () => {},
    sync: false,
    segments: sqliteSegmentStore,
  });
  const table: Table = new TimeBucketedTable(spec);
  table.useColdStorage(storage, storage.tableDir('step', spec.name));
  return { table, storage };
}

test('with a budget of 0 every read, size and findId equal the all-in-memory table, also after restores from the chunks', () => {
  let coldReads = 0;
  let thaws = 0;
  let restores = 0;
  let reusedSegments = 0;
  let skippedChunks = 0;
  let crashes = 0;
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 150, size: 'max' }), (ops) => {
      const dir = mkdtempSync(join(tmpdir(), 'fm-cold-prop-'));
      try {
        const mem: Table = new TimeBucketedTable(spec);
        let { table: cold } = coldTable(dir);
        let chunks: Array<{ bytes: Uint8Array; maxTimeMs: number; name: string }> = [];
        const seen: Array<[string, number, string | null]> = [];
        let n = 0;
        const restoresBefore = restores;
        const base = () => (Number.isFinite(mem.watermarkMs) ? mem.watermarkMs : 1000);
        for (const op of ops) {
          switch (op.kind) {
            case 'insert': {
              const key = KEYS[op.key] as string;
              const t = base() + op.dt;
              const row = {
                id: IDS[op.id] as string | null,
                source: SOURCES[op.source] as string | null,
                n: n++,
                x: X[op.x] as number,
              };
              const segmentsBefore = cold.coldStats().segments;
              assert.equal(cold.insert(key, t, row), mem.insert(key, t, row));
              if (cold.coldStats().segments < segmentsBefore) thaws++;
              seen.push([key, t, row.id]);
              break;
            }
            case 'delete': {
              const key = KEYS[op.key] as string;
              const t = base() + op.dt;
              const id = IDS[op.id] as string | null;
              assert.equal(cold.delete(key, t, id), mem.delete(key, t, id));
              break;
            }
            case 'deleteSeen': {
              const e = seen[op.pick % Math.max(1, seen.length)];
              if (e !== undefined) assert.equal(cold.delete(...e), mem.delete(...e));
              break;
            }
            case 'watermark': {
              const wm = Number.isFinite(mem.watermarkMs) ? mem.watermarkMs + op.step : 900 + op.step;
              cold.advanceWatermark(wm);
              mem.advanceWatermark(wm);
              break;
            }
            case 'read': {
              const key = KEYS[op.key] as string;
              const from = base() + op.from;
              const to = from + op.len;
              if (cold.coldStats().segments > 0) coldReads++;
              assert.deepEqual(
                cold.range(key, from, to).map((r) => view(cold, r)),
                mem.range(key, from, to).map((r) => view(mem, r)),
              );
              assert.deepEqual(view(cold, cold.first(key, from, to)), view(mem, mem.first(key, from, to)));
              assert.deepEqual(view(cold, cold.last(key, from, to)), view(mem, mem.last(key, from, to)));
              const id = IDS[op.id] as string | null;
              assert.deepEqual(view(cold, cold.findId(key, id)), view(mem, mem.findId(key, id)));
              break;
            }
            case 'checkpoint': {
              mem.skipChunk();
              const c = cold.takeChunk();
              if (c !== undefined) chunks.push({ bytes: c.bytes, maxTimeMs: c.maxTimeMs, name: `chunk ${c.seq}` });
              chunks = chunks.filter((s) => !(s.maxTimeMs < cold.cutoffMs));
              if (op.restart) {
                // A restart: a fresh table (its directory wiped) rebuilt from the chunks alone.
                cold.closeColdStorage();
                const next = coldTable(dir).table;
                next.restore(chunks, cold.watermarkMs);
                reusedSegments += next.coldStats().reused.segments;
                skippedChunks += next.coldStats().reused.chunksSkipped;
                cold = next;
                restores++;
              }
              break;
            }
            case 'crash': {
              // The last `lost` checkpoints never committed, but their segments are on disk (a copy
              // of the directory, so that this run goes on): a restore from the chunks that did
              // commit must equal the all-in-memory table restored from them.
              const committed = chunks.slice(0, Math.max(0, chunks.length - op.lost));
              const copy = `${dir}-crash`;
              rmSync(copy, { recursive: true, force: true });
              if (existsSync(dir)) cpSync(dir, copy, { recursive: true });
              try {
                const wm = committed.length > 0 ? cold.watermarkMs : Number.NEGATIVE_INFINITY;
                const fromMemory: Table = new TimeBucketedTable(spec);
                fromMemory.restore(committed, wm);
                const { table: fromDisk } = coldTable(copy);
                fromDisk.restore(committed, wm);
                assert.deepEqual(dump(fromDisk), dump(fromMemory), 'restored after a crash');
                fromDisk.closeColdStorage();
                crashes++;
              } finally {
                rmSync(copy, { recursive: true, force: true });
              }
              break;
            }
          }
          // A restore leaves out entries that expired in buckets not dropped yet, which `size` counts.
          if (restores === restoresBefore) assert.equal(cold.size, mem.size, `size after ${op.kind}`);
        }
        assert.deepEqual(dump(cold), dump(mem));
        cold.closeColdStorage();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 120 },
  );
  assert.ok(
    coldReads > 500 && thaws > 5 && restores > 50 && reusedSegments > 50 && skippedChunks > 10 && crashes > 50,
    `the disk was used (${coldReads} reads with segments, ${thaws} thaws, ${restores} restores reusing ` +
      `${reusedSegments} segments and skipping ${skippedChunks} chunks, ${crashes} crashes)`,
  );
});

test('a segment is one file, and an expired segment is deleted as a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fm-cold-files-'));
  try {
    const { table } = coldTable(dir);
    for (let t = 0; t < 500; t += 5) table.insert(`k${t % 7}`, t, { id: null, source: 's', n: t, x: 0 });
    table.takeChunk();
    // Cutoff 50: bucket [0, 50) expires in memory; [50, 100) … [200, 250) are sealed and go to disk.
    table.advanceWatermark(250);
    const files = table.coldStats().files;
    assert.equal(files.length, 4, 'the sealed buckets went to disk');
    for (const f of files) assert.ok(existsSync(f), f);
    // A segment is its file, its key filter and its manifest.
    assert.equal(readdirSync(join(dir, 'step', 'clicks')).length, 3 * files.length);
    // Cutoff 150: the segments of [50, 100) and [100, 150) have expired.
    table.advanceWatermark(350);
    assert.deepEqual(table.coldStats().files.slice(0, 2), files.slice(2));
    for (const f of files.slice(0, 2)) assert.equal(existsSync(f), false, `${f} was deleted`);
    assert.equal(readdirSync(join(dir, 'step', 'clicks')).length, 3 * table.coldStats().files.length);
    assert.equal(table.size, 70);
    // k0 holds the times divisible by 35: the first one not expired (175) is read from disk.
    assert.equal(table.timeOf(table.first('k0', 0, 1000)), 175);
    table.closeColdStorage();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a key no segment holds is answered without reading a segment (its key filter)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fm-cold-filter-'));
  try {
    const { table } = coldTable(dir);
    for (let t = 0; t < 200; t++) table.insert(`k${t % 5}`, t, { id: null, source: 's', n: t, x: 0 });
    table.takeChunk();
    table.advanceWatermark(190);
    assert.ok(table.coldStats().segments > 0);
    // Make the files unreadable: a read that touched one would throw.
    for (const f of table.coldStats().files) rmSync(f);
    table.closeColdStorage();
    assert.equal(table.first('absent', 0, 1000), -1);
    assert.equal(table.findId('absent', null), -1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a restart reuses the segments that match the checkpoint, and rebuilds a damaged or foreign one from the chunks, saying why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fm-cold-reuse-'));
  try {
    const { table } = coldTable(dir);
    const chunks: Array<{ bytes: Uint8Array; name: string }> = [];
    for (let t = 0; t < 400; t += 2) {
      table.insert(`k${t % 9}`, t, { id: null, source: `s${t % 3}`, n: t, x: t / 3 });
      if (t % 50 === 0) {
        const c = table.takeChunk();
        if (c !== undefined) chunks.push({ bytes: c.bytes, name: `chunk ${c.seq}` });
      }
      table.advanceWatermark(t - 10);
    }
    const last = table.takeChunk();
    if (last !== undefined) chunks.push({ bytes: last.bytes, name: `chunk ${last.seq}` });
    const wm = table.watermarkMs;
    table.closeColdStorage();
    const memory: Table = new TimeBucketedTable(spec);
    memory.restore(chunks, wm);
    const restart = (): { t: Table; lines: string[] } => {
      const lines: string[] = [];
      const storage = new ColdStorage({
        memoryBudgetBytes: 0,
        dir,
        log: (l) => lines.push(l),
        sync: false,
        segments: sqliteSegmentStore,
      });
      const t: Table = new TimeBucketedTable(spec);
      t.useColdStorage(storage, storage.tableDir('step', spec.name));
      t.restore(chunks, wm);
      return { t, lines };
    };

    const first = restart();
    const segments = first.t.coldStats().reused.segments;
    assert.ok(segments >= 3, `segments reused (${segments})`);
    assert.ok(first.t.coldStats().reused.chunksSkipped > 0, 'chunks wholly inside reused segments were not decoded');
    assert.deepEqual(dump(first.t), dump(memory));
    assert.match(first.lines.join('\n'), /reusing \d+ on-disk segment/);
    const files = first.t.coldStats().files;
    first.t.closeColdStorage();

    // A segment file cut short: its manifest no longer matches it.
    const victim = files[0] as string;
    truncateSync(victim, 100);
    writeFileSync(victim.replace(/\.sqlite$/, '.json'), readFileSync(victim.replace(/\.sqlite$/, '.json')));
    const second = restart();
    assert.deepEqual(dump(second.t), dump(memory), 'a truncated segment is rebuilt from the chunks');
    assert.match(
      second.lines.join('\n'),
      /1 on-disk segment\(s\) .* rebuilt from its chunks \(\d+: its file is missing or has another size/,
    );
    second.t.closeColdStorage();

    // A manifest that is not JSON.
    writeFileSync((second.t.coldStats().files[0] as string).replace(/\.sqlite$/, '.json'), '{ not json');
    const third = restart();
    assert.deepEqual(dump(third.t), dump(memory));
    assert.match(third.lines.join('\n'), /not a readable manifest/);
    third.t.closeColdStorage();

    // Chunks of another history (a fresh table's lineage): nothing is reused.
    const other = coldTable(`${dir}-other`).table;
    other.insert('k1', 1, { id: null, source: null, n: 0, x: 0 });
    const foreign = other.takeChunk();
    other.closeColdStorage();
    rmSync(`${dir}-other`, { recursive: true, force: true });
    const lines: string[] = [];
    const storage = new ColdStorage({
      memoryBudgetBytes: 0,
      dir,
      log: (l) => lines.push(l),
      sync: false,
      segments: sqliteSegmentStore,
    });
    const fourth: Table = new TimeBucketedTable(spec);
    fourth.useColdStorage(storage, storage.tableDir('step', spec.name));
    fourth.restore([{ bytes: (foreign as { bytes: Uint8Array }).bytes, name: 'foreign' }], wm);
    assert.equal(fourth.coldStats().reused.segments, 0);
    assert.match(lines.join('\n'), /another checkpoint history/);
    fourth.closeColdStorage();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
