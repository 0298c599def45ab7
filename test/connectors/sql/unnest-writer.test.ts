import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SinkTable } from '../../../src/connectors/sql/sink-tables.ts';
import { columnArrays, lastPerKey, unnestStatement } from '../../../src/connectors/sql/unnest-writer.ts';

const UPSERT: SinkTable = {
  table: 't',
  columns: [
    { name: 'id', type: 'text' },
    { name: 'at', type: 'timestamptz' },
    { name: 'n', type: 'numeric' },
  ],
  primaryKey: ['id'],
  mode: 'upsert',
  updatedAtColumn: 'updated_at',
};

test('one statement per batch: every column is one array, expanded by unnest', () => {
  assert.equal(
    unnestStatement('flowmark', UPSERT),
    'INSERT INTO "flowmark"."t" ("id", "at", "n") SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::numeric[])' +
      ' ON CONFLICT ("id") DO UPDATE SET "at" = EXCLUDED."at", "n" = EXCLUDED."n", "updated_at" = now()',
  );
  assert.equal(
    unnestStatement('s', { ...UPSERT, mode: 'append', updatedAtColumn: undefined }),
    'INSERT INTO "s"."t" ("id", "at", "n") SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::numeric[])',
  );
  assert.equal(
    unnestStatement('s', { table: 'k', columns: [{ name: 'a', type: 'text' }], primaryKey: ['a'], mode: 'upsert' }),
    'INSERT INTO "s"."k" ("a") SELECT * FROM unnest($1::text[]) ON CONFLICT ("a") DO NOTHING',
  );
  assert.match(unnestStatement('we"ird', { ...UPSERT, table: 'ta"ble' }), /^INSERT INTO "we""ird"\."ta""ble"/);
});

test('upsert rows collapse to the last per primary key, in the position of the last; append rows all stay', () => {
  const rows = [
    { id: 'a', n: 1 },
    { id: 'b', n: 1 },
    { id: 'a', n: 2 },
    { id: 'c', n: 1 },
    { id: 'a', n: 3 },
  ];
  assert.deepEqual(lastPerKey(UPSERT, rows), [
    { id: 'b', n: 1 },
    { id: 'c', n: 1 },
    { id: 'a', n: 3 },
  ]);
  assert.equal(lastPerKey({ ...UPSERT, mode: 'append' }, rows).length, 5);
  const two: SinkTable = { ...UPSERT, primaryKey: ['id', 'at'] };
  const atMs = Date.UTC(2024, 0, 1);
  // The same instant as a number and as an ISO string is the same key.
  assert.deepEqual(
    lastPerKey(two, [
      { id: 'a', at: atMs, n: 1 },
      { id: 'a', at: new Date(atMs).toISOString(), n: 2 },
      { id: 'a', at: atMs + 1, n: 3 },
    ]),
    [
      { id: 'a', at: new Date(atMs).toISOString(), n: 2 },
      { id: 'a', at: atMs + 1, n: 3 },
    ],
  );
});

test('fields become array elements by column type; a missing field is NULL', () => {
  const t: SinkTable = {
    table: 't',
    columns: [
      { name: 's', type: 'text' },
      { name: 'at', type: 'timestamptz' },
      { name: 'n', type: 'bigint' },
      { name: 'j', type: 'json' },
      { name: 'b', type: 'boolean' },
    ],
    primaryKey: [],
    mode: 'append',
  };
  const arrays = columnArrays(t, [
    { s: 'a\u0000b', at: 0, n: 12n, j: { x: 'y\u0000' }, b: true },
    { s: 42, at: new Date(1000), n: 5, j: null },
    { s: { o: 1 }, at: '2024-01-01 00:00:00', n: null, b: false },
    { at: Number.POSITIVE_INFINITY },
  ]);
  assert.deepEqual(arrays, [
    ['a\uFFFDb', '42', '{"o":1}', null],
    ['1970-01-01T00:00:00.000Z', '1970-01-01T00:00:01.000Z', '2024-01-01 00:00:00', 'infinity'],
    ['12', 5, null, null],
    ['{"x":"y\\u0000"}', null, null, null],
    [true, null, false, null],
  ]);
});

test('a table of another schema (a shop’s reference table) is written there; timestamp columns take the instant as UTC wall time', () => {
  const reference: SinkTable = {
    schema: 'commerce',
    table: 'attributed_checkouts',
    columns: [
      { name: 'checkout_id', type: 'text' },
      { name: 'checkout_time', type: 'timestamp' },
    ],
    primaryKey: ['checkout_id'],
    mode: 'upsert',
  };
  assert.equal(
    unnestStatement('flowmark', reference),
    'INSERT INTO "commerce"."attributed_checkouts" ("checkout_id", "checkout_time") SELECT * FROM unnest($1::text[], $2::timestamp[])' +
      ' ON CONFLICT ("checkout_id") DO UPDATE SET "checkout_time" = EXCLUDED."checkout_time"',
  );
  assert.deepEqual(
    columnArrays(reference, [
      { checkout_id: 'c1', checkout_time: '2026-03-01T09:31:15.250Z' },
      { checkout_id: 'c2', checkout_time: Date.UTC(2026, 2, 1, 9, 32) },
      { checkout_id: 'c3' },
    ]),
    [
      ['c1', 'c2', 'c3'],
      ['2026-03-01T09:31:15.250Z', '2026-03-01T09:32:00.000Z', null],
    ],
  );
});
