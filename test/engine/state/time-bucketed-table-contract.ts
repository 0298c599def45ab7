/**
 * The contract of a time-bucketed table, run by every implementation flowmark keeps: the table in
 * memory (time-bucketed-table.test.ts) and a table restored from the chunks of another one before
 * every read (time-bucketed-table-restored.test.ts). A case sees the table only through
 * {@link TableUnderTest}: entries come back as plain objects, since refs do not survive a restore.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ColumnSpecs, Row } from '../../../src/engine/state/column-codecs.ts';
import { TimeBucketedTable, type TimeBucketedTableSpec } from '../../../src/engine/state/time-bucketed-table.ts';

export interface ReadEntry {
  t: number;
  row: Record<string, unknown>;
}

export interface TableUnderTest<S extends ColumnSpecs> {
  insert(key: string, timeMs: number, row: Row<S>): boolean;
  delete(key: string, timeMs: number, id?: string | number | null): number;
  advanceWatermark(watermarkMs: number): void;
  first(key: string, fromMs: number, toMs: number): ReadEntry | undefined;
  last(key: string, fromMs: number, toMs: number): ReadEntry | undefined;
  range(key: string, fromMs: number, toMs: number): ReadEntry[];
  /** Keys with an entry that has not expired, sorted. */
  keys(): string[];
  size(): number;
}

export type TableFactory = <S extends ColumnSpecs>(spec: TimeBucketedTableSpec<S>) => TableUnderTest<S>;

function read<S extends ColumnSpecs>(t: TimeBucketedTable<S>, ref: number): ReadEntry | undefined {
  return ref < 0 ? undefined : { t: t.timeOf(ref), row: t.row(ref) };
}

function visibleKeys<S extends ColumnSpecs>(t: TimeBucketedTable<S>): string[] {
  return [...t.keys()].filter((k) => t.first(k, -Infinity, Infinity) >= 0).sort();
}

/** The table itself. */
export const inMemory: TableFactory = (spec) => {
  const t = new TimeBucketedTable(spec);
  return {
    insert: (k, ms, row) => t.insert(k, ms, row),
    delete: (k, ms, id) => t.delete(k, ms, id),
    advanceWatermark: (wm) => void t.advanceWatermark(wm),
    first: (k, a, b) => read(t, t.first(k, a, b)),
    last: (k, a, b) => read(t, t.last(k, a, b)),
    range: (k, a, b) => t.range(k, a, b).map((r) => read(t, r) as ReadEntry),
    keys: () => visibleKeys(t),
    size: () => t.size,
  };
};

/**
 * Writes go to a live table, which hands a chunk to a store after each one; the store deletes the
 * chunks whose entries have all expired (as the SQL store will). Every read restores a new table
 * from the stored chunks, as of the live watermark, and reads that one.
 */
export const restoredFromChunks: TableFactory = (spec) => {
  const live = new TimeBucketedTable(spec);
  let stored: Array<{ bytes: Uint8Array; maxTimeMs: number; name: string }> = [];
  const checkpoint = () => {
    const c = live.takeChunk();
    if (c !== undefined) stored.push({ bytes: c.bytes, maxTimeMs: c.maxTimeMs, name: `chunk ${c.seq}` });
    stored = stored.filter((s) => !(s.maxTimeMs < live.cutoffMs));
  };
  const restored = () => {
    const t = new TimeBucketedTable(spec);
    t.restore(stored, live.watermarkMs);
    return t;
  };
  return {
    insert: (k, ms, row) => {
      const ok = live.insert(k, ms, row);
      checkpoint();
      return ok;
    },
    delete: (k, ms, id) => {
      const n = live.delete(k, ms, id);
      checkpoint();
      return n;
    },
    advanceWatermark: (wm) => {
      live.advanceWatermark(wm);
      checkpoint();
    },
    first: (k, a, b) => {
      const t = restored();
      return read(t, t.first(k, a, b));
    },
    last: (k, a, b) => {
      const t = restored();
      return read(t, t.last(k, a, b));
    },
    range: (k, a, b) => {
      const t = restored();
      return t.range(k, a, b).map((r) => read(t, r) as ReadEntry);
    },
    keys: () => visibleKeys(restored()),
    size: () => restored().size,
  };
};

const U1 = '00000000-0000-4000-8000-000000000001';
const U2 = '00000000-0000-4000-8000-000000000002';
const U3 = '00000000-0000-4000-8000-000000000003';

const clicksSpec = {
  name: 'clicks',
  retentionMs: 1000,
  bucketWidthMs: 100,
  idColumn: 'clickId',
  columns: { clickId: 'uuid', source: 'string' },
} as const satisfies TimeBucketedTableSpec<ColumnSpecs>;

const ts = (entries: ReadEntry[]) => entries.map((e) => e.t);

export function timeBucketedTableContract(label: string, make: TableFactory): void {
  test(`${label}: first, last and range read [from, to] inclusive, by (time, id), per key`, () => {
    const t = make(clicksSpec);
    t.insert('u1', 500, { clickId: U2, source: 'b' });
    t.insert('u1', 300, { clickId: U1, source: 'a' });
    t.insert('u1', 500, { clickId: U1, source: 'c' }); // same time, smaller id: first of the two
    t.insert('u1', 900, { clickId: U3, source: 'd' });
    t.insert('u2', 400, { clickId: U1, source: 'other key' });
    assert.deepEqual(t.first('u1', 300, 900)?.row, { clickId: U1, source: 'a' });
    assert.deepEqual(
      t.first('u1', 301, 900)?.row,
      { clickId: U1, source: 'c' },
      'the tie at 500 goes to the smaller id',
    );
    assert.deepEqual(t.last('u1', 0, 899)?.row, { clickId: U2, source: 'b' }, 'the larger id of the tie');
    assert.deepEqual(t.last('u1', 0, 900)?.row, { clickId: U3, source: 'd' }, 'the end is inclusive');
    assert.deepEqual(ts(t.range('u1', 300, 500)), [300, 500, 500]);
    assert.deepEqual(
      t.range('u1', 500, 500).map((e) => e.row.source),
      ['c', 'b'],
    );
    assert.equal(t.first('u1', 901, 2000), undefined);
    assert.equal(t.first('u3', 0, 2000), undefined, 'an unknown key');
    assert.deepEqual(t.keys(), ['u1', 'u2']);
    assert.equal(t.size(), 5);
  });

  test(`${label}: entries arriving out of order are read in time order; without an id column ties keep insertion order`, () => {
    const t = make({ name: 'plain', retentionMs: 10_000, bucketWidthMs: 7, columns: { n: 'i32' } });
    for (const [ms, n] of [
      [50, 1],
      [10, 2],
      [50, 3],
      [30, 4],
      [10, 5],
      [99, 6],
    ] as const) {
      t.insert('k', ms, { n });
    }
    assert.deepEqual(
      t.range('k', 0, 100).map((e) => [e.t, e.row.n]),
      [
        [10, 2],
        [10, 5],
        [30, 4],
        [50, 1],
        [50, 3],
        [99, 6],
      ],
    );
    assert.deepEqual(t.first('k', 10, 10)?.row, { n: 2 });
    assert.deepEqual(t.last('k', 50, 50)?.row, { n: 3 });
  });

  test(`${label}: delete removes the entries of the key at that time with that id, and only those`, () => {
    const t = make(clicksSpec);
    t.insert('u1', 500, { clickId: U1, source: 'a' });
    t.insert('u1', 500, { clickId: U2, source: 'b' });
    t.insert('u1', 600, { clickId: U1, source: 'c' });
    t.insert('u2', 500, { clickId: U1, source: 'd' });
    assert.equal(t.delete('u1', 500, U1), 1);
    assert.equal(t.delete('u1', 500, U1), 0, 'gone already');
    assert.equal(t.delete('u1', 501, U2), 0, 'another time');
    assert.equal(t.delete('nobody', 500, U2), 0, 'another key');
    assert.deepEqual(
      t.range('u1', 0, 1000).map((e) => e.row.source),
      ['b', 'c'],
    );
    assert.deepEqual(t.first('u2', 0, 1000)?.row.source, 'd');
    assert.equal(t.delete('u1', 500, U2), 1);
    assert.equal(t.delete('u1', 600, U1), 1);
    assert.deepEqual(t.keys(), ['u2'], 'a key whose last entry went is gone');
    assert.equal(t.size(), 1);
  });

  test(`${label}: a deleted entry may be inserted again, and a delete takes every equal entry`, () => {
    const t = make(clicksSpec);
    t.insert('u1', 500, { clickId: U1, source: 'a' });
    t.insert('u1', 500, { clickId: U1, source: 'twin' });
    assert.equal(t.delete('u1', 500, U1), 2);
    t.insert('u1', 500, { clickId: U1, source: 'again' });
    assert.deepEqual(
      t.range('u1', 0, 1000).map((e) => e.row.source),
      ['again'],
    );
  });

  test(`${label}: an entry at t is read while the watermark is ≤ t + retention, and never after`, () => {
    const t = make(clicksSpec); // retention 1000, buckets of 100
    t.insert('u1', 1000, { clickId: U1, source: 'a' });
    t.insert('u1', 1050, { clickId: U2, source: 'b' });
    t.advanceWatermark(2000);
    assert.deepEqual(ts(t.range('u1', 0, 5000)), [1000, 1050], 'watermark = t + retention keeps it');
    t.advanceWatermark(2001);
    assert.deepEqual(ts(t.range('u1', 0, 5000)), [1050], 'its bucket still holds 1050, but 1000 is not read');
    assert.equal(t.first('u1', 0, 5000)?.t, 1050);
    assert.equal(t.insert('u1', 1000, { clickId: U3, source: 'late' }), false, 'an expired entry is not added');
    assert.equal(t.delete('u1', 1000, U1), 0);
    t.advanceWatermark(2051);
    assert.deepEqual(t.range('u1', 0, 5000), []);
    assert.deepEqual(t.keys(), []);
    assert.equal(t.size(), 0, 'every bucket is dropped once its last entry has expired');
  });

  test(`${label}: the watermark never goes back`, () => {
    const t = make(clicksSpec);
    t.insert('u1', 1000, { clickId: U1, source: 'a' });
    t.advanceWatermark(2001);
    t.advanceWatermark(0);
    assert.equal(t.first('u1', 0, 5000), undefined);
    assert.equal(t.insert('u1', 1000, { clickId: U1, source: 'a' }), false);
  });

  test(`${label}: a watermark of +∞ (the end of a bounded input) empties the table`, () => {
    const t = make(clicksSpec);
    for (let i = 0; i < 300; i++) t.insert(`u${i % 7}`, i * 37, { clickId: U1, source: `s${i % 3}` });
    t.advanceWatermark(Number.POSITIVE_INFINITY);
    assert.equal(t.size(), 0);
    assert.deepEqual(t.keys(), []);
  });

  test(`${label}: values come back exactly: uuids, other ids, nulls, numbers, any string`, () => {
    const t = make({
      name: 'all',
      retentionMs: 10_000,
      idColumn: 'id',
      columns: { id: 'uuid', s: 'string', i: 'i32', f: 'f64', at: 'timeMs' },
    });
    const rows = [
      { id: 'ffffffff-ffff-ffff-ffff-ffffffffffff', s: '', i: -(2 ** 31), f: Number.NaN, at: 1_700_000_000_123 },
      { id: 'ABCDEF00-0000-4000-8000-000000000001', s: null, i: 2 ** 31 - 1, f: -0, at: -5 },
      { id: 'click-42', s: 'naïve — 日本', i: 0, f: 1e308, at: 0 },
      { id: null, s: '\ud800 lone surrogate', i: 7, f: Number.NEGATIVE_INFINITY, at: 1 },
      { id: 'ffffffff-ffff-ffff-ffff-000000000000', s: 'x'.repeat(70_000), i: 1, f: 0.1, at: 2 },
    ];
    for (const [n, row] of rows.entries()) t.insert('k\u0000\ud83d\ude00', 100 + n, row);
    t.insert('\udfff', 5, rows[0] as (typeof rows)[0]);
    assert.deepEqual(
      t.range('k\u0000\ud83d\ude00', 0, 1000).map((e) => e.row),
      rows,
    );
    assert.deepEqual(t.keys(), ['k\u0000\ud83d\ude00', '\udfff']);
    assert.equal(t.delete('k\u0000\ud83d\ude00', 102, 'click-42'), 1);
    assert.equal(t.delete('k\u0000\ud83d\ude00', 103, null), 1);
    assert.equal(t.delete('k\u0000\ud83d\ude00', 101, 'abcdef00-0000-4000-8000-000000000001'), 0, 'ids are exact');
    assert.equal(t.range('k\u0000\ud83d\ude00', 0, 1000).length, 3);
  });

  test(`${label}: a value its codec cannot hold is refused, naming the column, and nothing changes`, () => {
    const t = make({ name: 'typed', retentionMs: 10_000, columns: { s: 'string', i: 'i32' } });
    t.insert('k', 1, { s: 'a', i: 1 });
    for (const row of [
      { s: 'b', i: 1.5 },
      { s: 'b', i: 2 ** 31 },
      { s: 3, i: 1 },
      { s: 'b', i: '1' },
    ]) {
      assert.throws(
        () => t.insert('k', 2, row as unknown as { s: string; i: number }),
        (err: Error & { code?: string }) =>
          err.code === 'FM_STATE_NOT_SERIALIZABLE' && /column (s|i)/.test(err.message),
      );
    }
    assert.throws(() => t.insert('k', 2.5, { s: 'a', i: 1 }), /integer of milliseconds/);
    assert.deepEqual(
      t.range('k', 0, 10).map((e) => e.row),
      [{ s: 'a', i: 1 }],
    );
  });

  test(`${label}: many keys over many buckets, some deleted, some expired`, () => {
    const t = make({ name: 'many', retentionMs: 500, bucketWidthMs: 10, idColumn: 'n', columns: { n: 'i32' } });
    const expected = new Map<string, number[]>();
    for (let n = 0; n < 5000; n++) {
      const key = `key-${n % 97}`;
      const ms = (n * 7919) % 3000;
      t.insert(key, ms, { n });
      if (n % 5 === 0) t.delete(key, ms, n);
      else expected.set(key, [...(expected.get(key) ?? []), ms]);
    }
    t.advanceWatermark(2600); // cutoff 2100
    for (const [key, times] of expected) {
      assert.deepEqual(
        ts(t.range(key, 0, 5000)),
        times.filter((ms) => ms >= 2100).sort((a, b) => a - b),
        key,
      );
    }
  });
}
