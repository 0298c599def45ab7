/**
 * (d) A chunk that is damaged, cut short, of a newer format or of another table is refused,
 * naming the chunk, before anything is loaded: never silently wrong or empty state.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ColumnSpecs } from '../../../src/engine/state/column-codecs.ts';
import { crc32 } from '../../../src/engine/state/crc32-checksum.ts';
import { openChunk, STATE_CHUNK_FORMAT_VERSION } from '../../../src/engine/state/state-chunk-codec.ts';
import { TimeBucketedTable, type TimeBucketedTableSpec } from '../../../src/engine/state/time-bucketed-table.ts';

const spec = {
  name: 'pending',
  retentionMs: 10_000,
  bucketWidthMs: 100,
  idColumn: 'checkoutId',
  columns: { checkoutId: 'uuid', amount: 'f64', quantity: 'i32', source: 'string' },
} as const;

/** Chunks of a few epochs: inserts, then deletes and more inserts. */
function chunks(entries: number): Array<{ bytes: Uint8Array; name: string }> {
  const t = new TimeBucketedTable(spec);
  const out: Array<{ bytes: Uint8Array; name: string }> = [];
  for (let epoch = 0; epoch < 3; epoch++) {
    for (let i = 0; i < entries; i++) {
      const n = epoch * entries + i;
      t.insert(`user-${n % 13}`, 1000 + n * 17, {
        checkoutId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
        amount: n / 3,
        quantity: n,
        source: n % 2 ? 'google_ads' : null,
      });
    }
    if (epoch > 0) t.delete('user-0', 1000, '00000000-0000-4000-8000-000000000000');
    const c = t.takeChunk();
    if (c !== undefined) out.push({ bytes: c.bytes, name: `flowmark.state_chunks row ${c.seq}` });
  }
  return out;
}

function errorOf(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  assert.fail('expected an error');
}

function restoreInto(input: Array<{ bytes: Uint8Array; name: string }>): TimeBucketedTable<(typeof spec)['columns']> {
  const t = new TimeBucketedTable(spec);
  t.restore(input, 0);
  return t;
}

test('the chunks of several epochs restore the table', () => {
  const t = restoreInto(chunks(20));
  assert.equal(t.size, 59);
  assert.deepEqual(t.row(t.first('user-1', 0, 2000)), {
    checkoutId: '00000000-0000-4000-8000-000000000001',
    amount: 1 / 3,
    quantity: 1,
    source: 'google_ads',
  });
});

test('a damaged byte anywhere in a chunk: FM_SNAPSHOT_CORRUPT naming the chunk, and nothing is loaded', () => {
  const good = chunks(20);
  fc.assert(
    fc.property(fc.nat(good.length - 1), fc.nat(), fc.integer({ min: 1, max: 255 }), (which, at, xor) => {
      const input = good.map((c) => ({ ...c, bytes: c.bytes.slice() }));
      const bad = input[which] as { bytes: Uint8Array; name: string };
      const pos = at % bad.bytes.length;
      bad.bytes[pos] = (bad.bytes[pos] as number) ^ xor;
      const t = new TimeBucketedTable(spec);
      const err = errorOf(() => t.restore(input, 0));
      assert.equal(err.code, 'FM_SNAPSHOT_CORRUPT', `byte ${pos}: ${err.message}`);
      assert.ok(err.message.includes(bad.name), err.message);
      assert.equal(t.size, 0, 'a refused restore loads nothing');
      t.restore(good, 0); // and the table can still be restored
      assert.equal(t.size, 59);
    }),
    { numRuns: 500 },
  );
});

test('a truncated chunk (cut anywhere): FM_SNAPSHOT_CORRUPT naming the chunk', () => {
  const good = chunks(5);
  fc.assert(
    fc.property(fc.nat(good.length - 1), fc.nat(), (which, cut) => {
      const input = [...good];
      const c = input[which] as { bytes: Uint8Array; name: string };
      input[which] = { ...c, bytes: c.bytes.subarray(0, cut % c.bytes.length) };
      const err = errorOf(() => restoreInto(input));
      assert.equal(err.code, 'FM_SNAPSHOT_CORRUPT', err.message);
      assert.ok(err.message.includes(c.name), err.message);
    }),
    { numRuns: 300 },
  );
  const extra = good.map((c) => ({ ...c }));
  const first = extra[0] as { bytes: Uint8Array; name: string };
  first.bytes = Uint8Array.of(...first.bytes, 0);
  assert.match(errorOf(() => restoreInto(extra)).message, /1 bytes after its end/);
});

test('an intact chunk of a newer format version: FM_SNAPSHOT_VERSION naming the chunk and the versions', () => {
  const good = chunks(5);
  for (const version of [STATE_CHUNK_FORMAT_VERSION + 1, 0xffff]) {
    const input = good.map((c) => ({ ...c, bytes: c.bytes.slice() }));
    const c = input[1] as { bytes: Uint8Array; name: string };
    const dv = new DataView(c.bytes.buffer);
    dv.setUint16(4, version, true);
    dv.setUint32(c.bytes.length - 4, crc32(c.bytes, 0, c.bytes.length - 4), true);
    const err = errorOf(() => restoreInto(input));
    assert.equal(err.code, 'FM_SNAPSHOT_VERSION');
    assert.ok(err.message.includes(c.name), err.message);
    assert.match(
      err.message,
      new RegExp(`version ${version}; this flowmark reads version ${STATE_CHUNK_FORMAT_VERSION}`),
    );
  }
});

test('a chunk with no name is named by its table and position', () => {
  const [c] = chunks(3);
  const bytes = (c as { bytes: Uint8Array }).bytes.slice();
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
  const err = errorOf(() => new TimeBucketedTable(spec).restore([bytes], 0));
  assert.match(err.message, /state chunk #0 of table pending is corrupt: its CRC-32 is 0x[0-9a-f]{8}, the chunk says/);
});

test('a chunk of another table, other columns or another id column: FM_SNAPSHOT_MISMATCH', () => {
  const good = chunks(3);
  for (const other of [
    { ...spec, name: 'clicks' },
    { ...spec, columns: { ...spec.columns, amount: 'i32' } },
    { ...spec, idColumn: 'source' },
  ] as TimeBucketedTableSpec<ColumnSpecs>[]) {
    const err = errorOf(() => new TimeBucketedTable(other).restore(good, 0));
    assert.equal(err.code, 'FM_SNAPSHOT_MISMATCH', err.message);
    assert.ok(err.message.includes((good[0] as { name: string }).name), err.message);
  }
});

test('the same chunk twice is refused; chunks in any order are applied by sequence number', () => {
  const good = chunks(4);
  assert.equal(errorOf(() => restoreInto([...good, good[1] as (typeof good)[0]])).code, 'FM_SNAPSHOT_MISMATCH');
  const a = restoreInto(good);
  const b = restoreInto([...good].reverse());
  const dump = (t: TimeBucketedTable<(typeof spec)['columns']>) =>
    [...t.keys()].sort().map((k) => t.range(k, 0, 1e9).map((r) => [t.timeOf(r), t.row(r)]));
  assert.deepEqual(dump(b), dump(a));
});

test('restore refuses a table that holds entries', () => {
  const t = restoreInto(chunks(2));
  assert.equal(errorOf(() => t.restore(chunks(2), 0)).code, 'FM_RUNTIME_STATE');
});

test('the frame is checked before the version: a damaged version field is damage, not a newer format', () => {
  const [c] = chunks(2);
  const bytes = (c as { bytes: Uint8Array }).bytes.slice();
  bytes[4] = 9;
  assert.equal(errorOf(() => openChunk(bytes, 'x')).code, 'FM_SNAPSHOT_CORRUPT');
});

test('a restore skips the chunks and entries the watermark has expired', () => {
  const good = chunks(20); // entries at 1000 + 17 n, n < 60; retention 10 s
  const t = new TimeBucketedTable(spec);
  t.restore(good, 1000 + 17 * 30 + 10_000); // cutoff: entry 30
  assert.equal(t.size, 30);
  assert.equal(t.timeOf(t.first('user-4', 0, 1e9)), 1000 + 17 * 30);
});
