import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTransientSqlError, sqlError } from '../../../src/connectors/sql/sql-errors.ts';
import { FlowmarkError } from '../../../src/engine/errors.ts';

test('connection failures are FM_PG_UNAVAILABLE and retriable; data errors keep their code and are not', () => {
  for (const err of [
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    Object.assign(new Error('could not serialize access'), { code: '40001' }),
    new Error('Connection terminated unexpectedly'),
  ]) {
    assert.ok(isTransientSqlError(err), err.message);
    const e = sqlError(err, 'FM_SINK_FAILED', 'checkpoint 3');
    assert.equal(e.code, 'FM_PG_UNAVAILABLE');
    assert.equal(e.retriable, true);
    assert.equal(e.cause, err);
  }
  const data = Object.assign(new Error('invalid input syntax for type integer: "x"'), {
    code: '22P02',
    detail: 'row 3',
  });
  const e = sqlError(data, 'FM_SINK_FAILED', 'checkpoint 3 was not committed');
  assert.equal(e.code, 'FM_SINK_FAILED');
  assert.equal(e.retriable, false);
  assert.equal(e.message, 'checkpoint 3 was not committed: invalid input syntax for type integer: "x" (row 3)');
  const own = new FlowmarkError('FM_FENCED', 'taken over');
  assert.equal(sqlError(own, 'FM_SINK_FAILED', 'x'), own);
});
