import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDataSqlError, isTransientSqlError, sqlError, sqlMessage } from '../../../src/connectors/sql/sql-errors.ts';
import { FlowmarkError } from '../../../src/engine/errors.ts';

test('connection failures are FM_PG_UNAVAILABLE and retriable; data errors keep their code and are not', () => {
  for (const err of [
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    Object.assign(new Error('could not serialize access'), { code: '40001' }),
    new Error('Connection terminated unexpectedly'),
    // A process paused inside a commit longer than the idle-in-transaction timeout: retry, then
    // commit or find itself fenced (test/connectors/postgres/paused-in-commit.test.ts).
    Object.assign(new Error('terminating connection due to idle-in-transaction timeout'), { code: '25P03' }),
    new Error('terminating connection due to idle-in-transaction timeout'),
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

test('data errors (SQLSTATE classes 22 and 54) are the ones whose rows may be set aside; nothing else is', () => {
  const pg = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  for (const code of ['22003', '22008', '22009', '22P02', '22001', '54000', '54001']) {
    assert.ok(isDataSqlError(pg(code)), code);
  }
  for (const err of [
    pg('08006'),
    pg('08000'),
    pg('57P01'),
    pg('40001'),
    pg('40P01'),
    pg('53300'),
    pg('23505'),
    pg('23502'),
    pg('42P01'),
    pg('ECONNRESET'),
    pg('2200'),
    pg('220031'),
    new Error('Connection terminated unexpectedly'),
    new FlowmarkError('FM_FENCED', 'taken over'),
    Object.assign(new FlowmarkError('FM_SINK_FAILED', 'x'), { code: '22003' }),
    null,
    'numeric field overflow',
  ]) {
    assert.equal(isDataSqlError(err), false, String((err as { code?: string } | null)?.code ?? err));
  }
  const overflow = Object.assign(pg('22003', 'numeric field overflow'), {
    detail: 'A field with precision 14, scale 2 cannot hold an infinite value.',
  });
  assert.equal(
    sqlMessage(overflow),
    'numeric field overflow (A field with precision 14, scale 2 cannot hold an infinite value.)',
  );
  const indexRow = Object.assign(
    pg('54000', 'index row size 3016 exceeds btree version 4 maximum 2704 for index "t_pkey"'),
    {
      detail: 'Index row references tuple (3,42) in relation "t".',
      hint: 'Values larger than 1/3 of a buffer page cannot be indexed.',
    },
  );
  assert.equal(
    sqlMessage(indexRow),
    'index row size 3016 exceeds btree version 4 maximum 2704 for index "t_pkey" ' +
      'hint: Values larger than 1/3 of a buffer page cannot be indexed.',
    'the physical row location, which changes from run to run, is left out',
  );
});
