/** Dead-letter rows: the cap on their payload, and the dead letter of a row the database refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  attributedRow,
  capRaw,
  creditRows,
  DEAD_LETTER_RAW_MAX_BYTES,
  deadLetter,
  rawEventOf,
} from '../../src/attribution/output-rows.ts';
import { REJECTED_BY_DATABASE, refusedRowDeadLetter } from '../../src/attribution/output-schema.ts';
import { checkout, click, T0 } from './attribution-fixtures.ts';

test('capRaw keeps the longest whole-character prefix that fits, and the size of the whole', () => {
  const char = fc.constantFrom('a', '~', 'é', '€', '😀', '\u0000', '\n');
  fc.assert(
    fc.property(fc.array(char, { maxLength: 40 }), fc.integer({ min: 0, max: 60 }), (chars, maxBytes) => {
      const raw = chars.join('');
      const capped = capRaw(raw, maxBytes);
      assert.equal(capped.bytes, Buffer.byteLength(raw));
      assert.ok(raw.startsWith(capped.raw), 'a prefix');
      const kept = Buffer.byteLength(capped.raw);
      assert.ok(kept <= maxBytes, 'fits');
      // Whole characters only, and the next one would not fit.
      const keptChars = [...capped.raw].length;
      assert.deepEqual([...capped.raw], chars.slice(0, keptChars));
      const next = chars[keptChars];
      if (next !== undefined) assert.ok(kept + Buffer.byteLength(next) > maxBytes, 'maximal');
    }),
  );
  assert.deepEqual(capRaw('aé€', 4), { raw: 'aé', bytes: 6 });
  assert.deepEqual(capRaw('short'), { raw: 'short', bytes: 5 });
});

test('a dead letter keeps at most 1 MiB of its payload and records the whole size (issue 12: a 50 MB line)', () => {
  const line = `{"garbage":"${'x'.repeat(50 * 1024 * 1024)}`;
  const row = deadLetter('import', 'malformed_json', line, 'not JSON', T0);
  assert.equal(row.raw.length, DEAD_LETTER_RAW_MAX_BYTES);
  assert.ok(line.startsWith(row.raw));
  assert.equal(row.raw_bytes, line.length);
  // What the replay writes as a JSON line is the row itself: the same cap.
  const json = JSON.parse(JSON.stringify(row)) as typeof row;
  assert.equal(json.raw, row.raw);
  assert.equal(json.raw_bytes, line.length);
  const small = deadLetter('clicks', 'late', '{"a":"é"}', 'late', T0);
  assert.deepEqual(small, {
    source: 'clicks',
    reason: 'late',
    raw: '{"a":"é"}',
    detail: 'late',
    received_at: new Date(T0).toISOString(),
    raw_bytes: 10,
  });
});

test('output rows carry their event raw line out of sight: not a field, not in JSON, not in deepEqual', () => {
  const c = checkout('c1', T0, { raw: 'the raw line of c1' });
  const result = { checkout: c, credits: [{ click: click('k1', T0 - 1000), credit: 1 }], isFinal: true };
  const row = attributedRow({ result, user: undefined, product: undefined }, 'linear');
  assert.equal(rawEventOf(row), 'the raw line of c1');
  assert.ok(!JSON.stringify(row).includes('raw line'));
  assert.deepEqual({ ...row }, row);
  const [credit] = creditRows(result, 'linear');
  assert.equal(rawEventOf(credit), 'the raw line of c1');
  assert.equal(rawEventOf({ checkout_id: 'x' }), undefined);
  assert.equal(rawEventOf(null), undefined);
});

test('the dead letter of a refused row: its event line (or the row as JSON), the database message, capped', () => {
  const c = checkout('c1', T0, { raw: '{"checkout_id":"c1","price":1e308}' });
  const row = attributedRow(
    { result: { checkout: c, credits: [], isFinal: true }, user: undefined, product: undefined },
    'first_click',
  );
  const refusal = {
    sink: 'attributed_checkouts',
    table: 'attributed_checkouts',
    row,
    sqlstate: '22003',
    message: 'numeric field overflow (A field with precision 14, scale 2 cannot hold an infinite value.)',
    refusedAtMs: T0,
  };
  assert.deepEqual(refusedRowDeadLetter(refusal), {
    source: 'attributed_checkouts',
    reason: REJECTED_BY_DATABASE,
    raw: '{"checkout_id":"c1","price":1e308}',
    detail:
      'the database refused this row of attributed_checkouts: numeric field overflow ' +
      '(A field with precision 14, scale 2 cannot hold an infinite value.) [SQLSTATE 22003]',
    received_at: new Date(T0).toISOString(),
    raw_bytes: 34,
  });
  // A row made from no single line (an analytics minute): the row as JSON, keeping what JSON cannot.
  const minute = { window_start: '0000-01-01T00:00:00.000Z', revenue: Number.POSITIVE_INFINITY, n: 1n };
  const letter = refusedRowDeadLetter({ ...refusal, sink: 'analytics_minute', table: 'analytics_minute', row: minute });
  assert.equal(letter.raw, '{"window_start":"0000-01-01T00:00:00.000Z","revenue":"Infinity","n":"1"}');
  // And a huge row is capped like any dead letter.
  const huge = refusedRowDeadLetter({ ...refusal, row: { id: 'x'.repeat(2 * DEAD_LETTER_RAW_MAX_BYTES) } });
  assert.equal(Buffer.byteLength(huge.raw), DEAD_LETTER_RAW_MAX_BYTES);
  assert.equal(huge.raw_bytes, 2 * DEAD_LETTER_RAW_MAX_BYTES + 9);
});
