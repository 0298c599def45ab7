import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeFailedError } from '../../src/connectors/log/log-errors.ts';
import { sqlError } from '../../src/connectors/sql/sql-errors.ts';
import { ERROR_CODES, FlowmarkError, isRetriable, RETRIABLE_ERROR_CODES } from '../../src/engine/index.ts';

test('every error code says once whether it is retriable, and only the codes of a service that is away are', () => {
  assert.deepEqual(Object.keys(RETRIABLE_ERROR_CODES).sort(), [...ERROR_CODES].sort());
  const retriable = ERROR_CODES.filter((code) => RETRIABLE_ERROR_CODES[code]);
  assert.deepEqual(retriable, ['FM_PG_UNAVAILABLE', 'FM_KAFKA_UNAVAILABLE']);
});

test('retriable follows from the code, whoever constructs the error', () => {
  for (const code of ERROR_CODES) {
    const err = new FlowmarkError(code, 'x');
    assert.equal(err.retriable, RETRIABLE_ERROR_CODES[code], code);
    assert.equal(isRetriable(err), RETRIABLE_ERROR_CODES[code], code);
  }
  // The same code from two places is judged alike: a driver's connection failure wrapped by the SQL
  // connector, and the embedded database's "in use" (which was final while the first was not).
  const refused = sqlError(
    Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    'FM_SINK_FAILED',
    'x',
  );
  const inUse = new FlowmarkError('FM_PG_UNAVAILABLE', 'the embedded database in /d is in use by process 7');
  assert.equal(refused.code, 'FM_PG_UNAVAILABLE');
  assert.equal(refused.retriable, true);
  assert.equal(inUse.retriable, true);
  // FM_SINK_FAILED is final everywhere: a log partition whose write failed refuses appends until it
  // is reopened, so the same call cannot succeed (it was marked retriable, unlike every other sink failure).
  assert.equal(writeFailedError('clicks', 0, new Error('ENOSPC')).retriable, false);
});
