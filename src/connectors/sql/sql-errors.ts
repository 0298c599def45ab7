import { type ErrorCode, FlowmarkError } from '../../engine/index.ts';

/** SQLSTATE classes and codes after which the same statement may succeed when tried again. */
const TRANSIENT_SQLSTATE = /^(08|53|57P0[1-3]|40001|40P01|55P03)/;
/** Node.js socket errors: the server is unreachable or went away. */
const TRANSIENT_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** Messages of drivers that throw connection failures without a code. */
const TRANSIENT_MESSAGE = /connection terminated|connection timeout|client has encountered a connection error/i;

interface DriverError {
  code?: unknown;
  message?: unknown;
  detail?: unknown;
  hint?: unknown;
}

/** True when retrying may help: the connection failed, or the server asked to retry. */
export function isTransientSqlError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as DriverError;
  if (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_ERRNO.has(code))) return true;
  return typeof message === 'string' && TRANSIENT_MESSAGE.test(message);
}

/**
 * Wraps an error of the database driver in a {@link FlowmarkError}: `FM_PG_UNAVAILABLE`
 * (retriable) when the connection failed, else `code` with the server's message, detail and hint.
 * A FlowmarkError passes through unchanged.
 *
 * @example
 * sqlError(err, 'FM_SINK_FAILED', 'checkpoint 7 was not committed')
 * // FlowmarkError FM_SINK_FAILED: checkpoint 7 was not committed: invalid input syntax for type integer: "x"
 */
export function sqlError(err: unknown, code: ErrorCode, what: string): FlowmarkError {
  if (err instanceof FlowmarkError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as DriverError;
  const parts = [typeof e.message === 'string' ? e.message : String(err)];
  if (typeof e.detail === 'string' && e.detail !== '') parts.push(`(${e.detail})`);
  if (typeof e.hint === 'string' && e.hint !== '') parts.push(`hint: ${e.hint}`);
  if (isTransientSqlError(err)) {
    return new FlowmarkError('FM_PG_UNAVAILABLE', `${what}: the database is unavailable: ${parts.join(' ')}`, {
      cause: err,
    });
  }
  return new FlowmarkError(code, `${what}: ${parts.join(' ')}`, { cause: err });
}
