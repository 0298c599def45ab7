/**
 * Properties of the time-bucketed table against a brute-force reference (an array of entries,
 * filtered and sorted on every read), over random inserts, deletes, watermarks and checkpoints
 * across many buckets (buckets of 50 ms, retention 200 ms, times over a few seconds).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
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
const RETENTION_MS = 200;

const spec = {
  name: 'clicks',
  retentionMs: RETENTION_MS,
  bucketWidthMs: 50,
  idColumn: 'id',
  columns: { id: 'uuid', source: 'string', n: 'i32' },
} as const;

type Table = TimeBucketedTable<(typeof spec)['columns']>;

type Op =
  | { kind: 'insert'; key: number; dt: number; id: number; source: number }
  | { kind: 'insertTie'; pick: number; id: number; source: number }
  | { kind: 'deleteExisting'; pick: number }
  | { kind: 'delete'; key: number; dt: number; id: number }
  | { kind: 'watermark'; step: number }
  | { kind: 'read'; key: number; from: number; len: number }
  | { kind: 'checkpoint'; restart: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      key: fc.nat(KEYS.length - 1),
      dt: fc.integer({ min: -260, max: 400 }),
      id: fc.nat(IDS.length - 1),
      source: fc.nat(SOURCES.length - 1),
    }),
  },
  {
    // Another entry at the key and time of one held: ties in time, and in id.
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('insertTie' as const),
      pick: fc.nat(),
      id: fc.nat(IDS.length - 1),
      source: fc.nat(SOURCES.length - 1),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deleteExisting' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      key: fc.nat(KEYS.length - 1),
      dt: fc.integer({ min: -260, max: 400 }),
      id: fc.nat(IDS.length - 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('watermark' as const), step: fc.integer({ min: 0, max: 150 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      key: fc.nat(KEYS.length - 1),
      from: fc.integer({ min: -300, max: 400 }),
      len: fc.integer({ min: 0, max: 400 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('checkpoint' as const), restart: fc.boolean() }) },
);

interface RefEntry {
  key: string;
  t: number;
  id: string | null;
  source: string | null;
  n: number;
}

const cmpId = (a: string | null, b: string | null) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1);

/** The brute-force reference: what the table must answer. */
class Reference {
  entries: RefEntry[] = [];
  /** The latest time of an entry ever added (deleted ones too: their bucket still spans it). */
  maxInsertedMs = Number.NEGATIVE_INFINITY;
  watermarkMs = Number.NEGATIVE_INFINITY;
  get cutoffMs(): number {
    return this.watermarkMs - RETENTION_MS;
  }
  insert(e: RefEntry): boolean {
    if (e.t < this.cutoffMs) return false;
    this.entries.push(e);
    this.maxInsertedMs = Math.max(this.maxInsertedMs, e.t);
    return true;
  }
  delete(key: string, t: number, id: string | null): number {
    if (t < this.cutoffMs) return 0;
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => !(e.key === key && e.t === t && e.id === id));
    return before - this.entries.length;
  }
  advance(wm: number): void {
    if (wm > this.watermarkMs) this.watermarkMs = wm;
  }
  /** Visible entries of `key` in [from, to], by (time, id), equal ones in insertion order (sort is stable). */
  range(key: string, from: number, to: number): RefEntry[] {
    return this.entries
      .filter((e) => e.key === key && e.t >= this.cutoffMs && e.t >= from && e.t <= to)
      .sort((a, b) => a.t - b.t || cmpId(a.id, b.id));
  }
}

const view = (e: RefEntry | undefined) => (e === undefined ? undefined : [e.t, e.id, e.source, e.n]);
const viewRef = (t: Table, r: number) => {
  if (r < 0) return undefined;
  const row = t.row(r);
  return [t.timeOf(r), row.id, row.source, row.n];
};

/** Every visible entry of every key, sorted by key then the read order. */
function dump(t: Table): unknown[] {
  return KEYS.map((k) => [k, t.range(k, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY).map((r) => viewRef(t, r))]);
}

/** `findId` of every key and id (and of ids never inserted) against the reference's oldest match. */
function checkFindId(table: Table, ref: Reference, label: string): void {
  for (const key of KEYS) {
    for (const id of [...IDS, '00000000-0000-4000-8000-0000000000ff', 'never-held']) {
      // The oldest visible entry with this id: the smallest time, then the first inserted.
      let want: RefEntry | undefined;
      for (const e of ref.entries) {
        if (e.key === key && e.id === id && e.t >= ref.cutoffMs && (want === undefined || e.t < want.t)) want = e;
      }
      assert.deepEqual(viewRef(table, table.findId(key, id)), view(want), `${label}: findId(${key}, ${id})`);
    }
    assert.equal(table.findId(key, 7 as unknown as string), -1, `${label}: a number is no uuid`);
  }
}

function refDump(ref: Reference): unknown[] {
  return KEYS.map((k) => [k, ref.range(k, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY).map(view)]);
}

interface Stored {
  bytes: Uint8Array;
  maxTimeMs: number;
  name: string;
}

/**
 * Runs `ops` on a table and the reference; `check` looks after each (and may hand back a table to
 * go on with). Returns the final table and reference.
 */
function run(
  ops: Op[],
  check: (table: Table, ref: Reference, op: Op, stored: Stored[]) => Table | undefined,
): { table: Table; ref: Reference } {
  let table: Table = new TimeBucketedTable(spec);
  const ref = new Reference();
  let stored: Stored[] = [];
  let n = 0;
  const base = () => (Number.isFinite(ref.watermarkMs) ? ref.watermarkMs : 1000);
  for (const op of ops) {
    switch (op.kind) {
      case 'insert': {
        const e = {
          key: KEYS[op.key] as string,
          t: base() + op.dt,
          id: IDS[op.id] as string | null,
          source: SOURCES[op.source] as string | null,
          n: n++,
        };
        assert.equal(table.insert(e.key, e.t, { id: e.id, source: e.source, n: e.n }), ref.insert(e));
        break;
      }
      case 'insertTie': {
        const held = ref.entries.filter((e) => e.t >= ref.cutoffMs);
        const like = held[op.pick % Math.max(1, held.length)];
        if (like === undefined) break;
        const e = { ...like, id: IDS[op.id] as string | null, source: SOURCES[op.source] as string | null, n: n++ };
        assert.equal(table.insert(e.key, e.t, { id: e.id, source: e.source, n: e.n }), ref.insert(e));
        break;
      }
      case 'deleteExisting': {
        const live = ref.entries.filter((e) => e.t >= ref.cutoffMs);
        const e = live[op.pick % Math.max(1, live.length)];
        if (e === undefined) break;
        assert.equal(table.delete(e.key, e.t, e.id), ref.delete(e.key, e.t, e.id));
        break;
      }
      case 'delete': {
        const key = KEYS[op.key] as string;
        const t = base() + op.dt;
        const id = IDS[op.id] as string | null;
        assert.equal(table.delete(key, t, id), ref.delete(key, t, id));
        break;
      }
      case 'watermark': {
        const wm = Number.isFinite(ref.watermarkMs) ? ref.watermarkMs + op.step : 900 + op.step;
        table.advanceWatermark(wm);
        ref.advance(wm);
        break;
      }
      case 'read':
        break;
      case 'checkpoint': {
        const c = table.takeChunk();
        if (c !== undefined) stored.push({ bytes: c.bytes, maxTimeMs: c.maxTimeMs, name: `chunk ${c.seq}` });
        // As the store will: delete the chunks whose entries have all expired.
        stored = stored.filter((s) => !(s.maxTimeMs < table.cutoffMs));
        break;
      }
    }
    table = check(table, ref, op, stored) ?? table;
  }
  return { table, ref };
}

test('(a) first, last and range equal a brute-force reference over random inserts, deletes and watermarks', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 200, size: 'max' }), (ops) => {
      run(ops, (table, ref, op) => {
        if (op.kind !== 'read') return undefined;
        const key = KEYS[op.key] as string;
        const from = (Number.isFinite(ref.watermarkMs) ? ref.watermarkMs : 1000) + op.from;
        const to = from + op.len;
        const want = ref.range(key, from, to);
        assert.deepEqual(
          table.range(key, from, to).map((r) => viewRef(table, r)),
          want.map(view),
        );
        assert.deepEqual(viewRef(table, table.first(key, from, to)), view(want[0]));
        assert.deepEqual(viewRef(table, table.last(key, from, to)), view(want.at(-1)));
        checkFindId(table, ref, 'live');
        return undefined;
      });
    }),
    { numRuns: 300 },
  );
});

test('(b) a table restored from the chunks stored so far equals the live one, at every checkpoint, also after restarts', () => {
  let restores = 0;
  let restarts = 0;
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 250, size: 'max' }), (ops) => {
      run(ops, (table, ref, op, stored) => {
        if (op.kind !== 'checkpoint') return undefined;
        const restored: Table = new TimeBucketedTable(spec);
        restored.restore(stored, table.watermarkMs);
        restores++;
        const want = refDump(ref);
        assert.deepEqual(dump(table), want, 'the live table');
        assert.deepEqual(dump(restored), want, 'the restored table');
        checkFindId(restored, ref, 'restored');
        assert.equal(restored.cutoffMs, table.cutoffMs);
        if (!op.restart) return undefined;
        // A restart: the run goes on with the restored table, which writes the next chunks.
        restarts++;
        return restored;
      });
    }),
    { numRuns: 300 },
  );
  assert.ok(restores > 1000 && restarts > 300, `enough checkpoints were restored (${restores}, ${restarts} restarts)`);
});

test('(d) merging any contiguous run of the stored chunks into one (compaction, again and again) restores the same table', () => {
  let merges = 0;
  let k = 0;
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 250, size: 'max' }), (ops) => {
      run(ops, (table, ref, op, stored) => {
        if (op.kind !== 'checkpoint' || stored.length < 2) return undefined;
        // A run [i, j] chosen by a counter (the ops already vary the chunks), mostly after the
        // first chunk (so that its deletes can target entries of chunks before it); kept in
        // `stored`, so later merges take merged chunks too, as a store's repeated compactions do.
        k++;
        const i = stored.length > 2 && k % 4 !== 0 ? 1 + (k % (stored.length - 2)) : 0;
        const j = i + 1 + ((k * 7) % (stored.length - i - 1));
        const merged = TimeBucketedTable.merge(stored.slice(i, j + 1), table.watermarkMs);
        stored.splice(
          i,
          j - i + 1,
          ...(merged === undefined
            ? []
            : [{ bytes: merged.bytes, maxTimeMs: merged.maxTimeMs, name: `merged ${merged.seq}` }]),
        );
        merges++;

        const restored: Table = new TimeBucketedTable(spec);
        restored.restore(stored, table.watermarkMs);
        assert.deepEqual(dump(restored), refDump(ref), 'restored from the merged chunks');
        return undefined;
      });
    }),
    { numRuns: 300 },
  );
  assert.ok(merges > 500, `enough merges (${merges})`);
});

test('a merged run keeps its deletes of entries in chunks before it, and drops what it inserted and deleted itself', () => {
  const table = new TimeBucketedTable(spec);
  const row = (id: string) => ({ id, source: null, n: 0 });
  table.insert('k', 1000, row('a'));
  table.insert('k', 1001, row('b'));
  const first = table.takeChunk();
  table.delete('k', 1000, 'a'); // an entry of the chunk before the run
  table.insert('k', 1002, row('c'));
  const second = table.takeChunk();
  table.delete('k', 1002, 'c'); // an entry of the run itself
  table.insert('k', 1003, row('d'));
  const third = table.takeChunk();
  assert.ok(first && second && third);
  const merged = TimeBucketedTable.merge([third.bytes, second.bytes], table.watermarkMs);
  assert.ok(merged !== undefined);
  assert.equal(merged.seq, third.seq, "numbered as the run's last chunk");
  assert.deepEqual([merged.inserts, merged.deletes], [1, 2], 'd inserted; a and c deleted');
  const restored = new TimeBucketedTable(spec);
  restored.restore([first.bytes, merged.bytes], table.watermarkMs);
  assert.deepEqual(dump(restored), dump(table));
  assert.deepEqual(
    restored.range('k', 0, 5000).map((r) => restored.value(r, 'id')),
    ['b', 'd'],
  );
});

test('(c) the table is empty once the watermark passes every entry time + retention, and not a millisecond before', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 200, size: 'max' }), (ops) => {
      const { table, ref } = run(ops, () => undefined);
      const latest = ref.entries
        .filter((e) => e.t >= ref.cutoffMs)
        .reduce<RefEntry | undefined>((m, e) => (m === undefined || e.t > m.t ? e : m), undefined);
      if (latest !== undefined) {
        table.advanceWatermark(latest.t + RETENTION_MS);
        assert.ok(
          table.first(latest.key, latest.t, latest.t) >= 0,
          'the latest entry is read at watermark = t + retention',
        );
      }
      // Deleted entries count too: a bucket is dropped once every entry it ever held has expired.
      table.advanceWatermark(ref.maxInsertedMs + RETENTION_MS + 1);
      assert.equal(table.size, 0);
      assert.equal(table.keyCount, 0);
      assert.deepEqual([...table.keys()], []);
      assert.equal(table.measure().entries, 0);
    }),
    { numRuns: 300 },
  );
});

test('a chunk holds only what changed since the previous one: its inserts and deletes, not the state', () => {
  const table: Table = new TimeBucketedTable(spec);
  for (let i = 0; i < 1000; i++) {
    table.insert(`k${i % 50}`, 1000 + (i % 100), { id: IDS[i % 3] as string, source: 'direct', n: i });
  }
  const first = table.takeChunk();
  assert.equal(first?.inserts, 1000);
  assert.equal(table.takeChunk(), undefined, 'nothing changed: no chunk');
  table.insert('k1', 1050, { id: null, source: null, n: -1 });
  table.delete('k2', 1002, IDS[2] as string);
  const second = table.takeChunk();
  assert.deepEqual([second?.inserts, second?.deletes], [1, 1]);
  assert.ok((second?.bytes.length ?? 0) < 400, `${second?.bytes.length} bytes for one insert and one delete`);
  assert.deepEqual([second?.minTimeMs, second?.maxTimeMs, second?.expiresAtMs], [1002, 1050, 1050 + RETENTION_MS]);
  table.insert('k9', 1090, { id: null, source: null, n: -2 });
  table.delete('k9', 1090, null);
  assert.equal(table.takeChunk(), undefined, 'added and deleted in between: neither is written');
});

test('findId with a string or a number id column equals a brute-force scan (its index survives deletes and dropped buckets)', () => {
  const codecs = ['string', 'i32', 'f64'] as const;
  const idsOf = { string: ['x', 'y', 'zz', null], i32: [0, 1, -5, 7], f64: [0, -0, 1.5, 1e300] };
  fc.assert(
    fc.property(
      fc.constantFrom(...codecs),
      fc.array(fc.tuple(fc.nat(3), fc.nat(3), fc.integer({ min: -150, max: 300 }), fc.nat(9)), { maxLength: 300 }),
      (codec, ops) => {
        const table = new TimeBucketedTable({
          name: 't',
          retentionMs: 100,
          bucketWidthMs: 20,
          idColumn: 'id',
          columns: { id: codec },
        });
        const ids = idsOf[codec] as Array<string | number | null>;
        const held: Array<{ key: string; t: number; id: string | number | null }> = [];
        let wm = 1000;
        table.advanceWatermark(wm);
        for (const [k, i, dt, what] of ops) {
          const key = KEYS[k] as string;
          const id = ids[i] as string | number | null;
          const t = wm + dt;
          const cutoff = wm - 100;
          if (what < 6) {
            if (table.insert(key, t, { id } as never)) held.push({ key, t, id });
          } else if (what < 8) {
            const n = table.delete(key, t, id);
            const before = held.length;
            for (let j = held.length - 1; j >= 0; j--) {
              const e = held[j] as (typeof held)[number];
              if (e.key === key && e.t === t && e.id === id && t >= cutoff) held.splice(j, 1);
            }
            assert.equal(n, t >= cutoff ? before - held.length : 0);
          } else {
            wm += 40;
            table.advanceWatermark(wm);
          }
          const cut = wm - 100;
          for (const key2 of KEYS) {
            for (const id2 of ids) {
              let want: (typeof held)[number] | undefined;
              // −0 and 0 are one id, as `===` has them.
              for (const e of held)
                if (e.key === key2 && e.id === id2 && e.t >= cut && (want === undefined || e.t < want.t)) want = e;
              const r = table.findId(key2, id2);
              assert.deepEqual(
                r < 0 ? undefined : table.timeOf(r),
                want?.t,
                `${codec} findId(${key2}, ${String(id2)})`,
              );
            }
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});
