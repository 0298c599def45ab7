/** Unit tests of the committer's pure parts; its contract against databases is committer-contract.ts. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { SqlClient } from '../../../src/connectors/sql/sql-client.ts';
import { decodeStateKey, encodeStateKey, SqlCommitter } from '../../../src/connectors/sql/sql-committer.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { SINKS } from './sql-fixtures.ts';

test('state keys survive storage as text: U+0000 and backslashes round-trip, and distinct keys stay distinct', () => {
  const keyChar = fc.constantFrom('a', '0', '\\', '\u0000', 'é', '|');
  const key = fc.array(keyChar, { maxLength: 12 }).map((cs) => cs.join(''));
  fc.assert(
    fc.property(key, key, (a, b) => {
      const ea = encodeStateKey(a);
      assert.ok(!ea.includes('\u0000'));
      assert.equal(decodeStateKey(ea), a);
      assert.equal(ea === encodeStateKey(b), a === b);
    }),
  );
  assert.equal(encodeStateKey('u1\u0000p1'), 'u1\\0p1');
  assert.equal(encodeStateKey('plain|key'), 'plain|key');
});

test('the committer checks its options when constructed', () => {
  const client = {} as SqlClient;
  assert.throws(
    () =>
      new SqlCommitter(client, { job: 'j', sinks: { x: { table: 'x', columns: [], primaryKey: [], mode: 'append' } } }),
    (err) => isFlowmarkError(err, 'FM_CONFIG_INVALID') && /sink "x"/.test(err.message),
  );
  assert.throws(
    () =>
      new SqlCommitter(client, {
        job: 'j',
        sinks: { x: { table: 'x', columns: [{ name: 'a', type: 'text' }], primaryKey: ['b'], mode: 'upsert' } },
      }),
    (err) => isFlowmarkError(err, 'FM_CONFIG_INVALID') && /primary key column "b"/.test(err.message),
  );
  assert.throws(
    () => new SqlCommitter(client, { job: 'j', sinks: SINKS, batchRows: 0 }),
    (err) => isFlowmarkError(err, 'FM_CONFIG_INVALID'),
  );
});
