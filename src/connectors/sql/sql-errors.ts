import { type ErrorCode, FlowmarkError } from '../../engine/index.ts';

/**
 * SQLSTATE classes and codes after which the same statement may succeed when tried again. 25P03
 * (the server ended a session idle in a transaction for longer than flowmark's timeout) is one:
 * a process paused inside a commit (a long GC, SIGSTOP) must retry on a new connection — which
 * either commits or finds that another instance took the job over (FM_FENCED) — not stop.
 */
const TRANSIENT_SQLSTATE = /^(08|53|57P0[1-3]|40001|40P01|55P03|25P03)/;
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
const TRANSIENT_MESSAGE =
  /connection terminated|connection timeout|client has encountered a connection error|terminating connection due to idle-in-transaction timeout/i;

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
 * SQLSTATE classes of errors caused by the values of a statement: 22 data_exception (`numeric
 * field overflow`, `date/time field value out of range`, `invalid input syntax …`) and 54
 * program_limit_exceeded (`index row size … exceeds btree … maximum`). The same statement fails
 * again, so retrying cannot help; the same statement without the offending rows succeeds.
 */
const DATA_SQLSTATE = /^(22|54)[0-9A-Z]{3}$/;

/**
 * True when the database refused the values of a statement (SQLSTATE class 22 or 54): the rows
 * it refuses can be isolated and set aside. Never true for a connection failure, a serialization
 * failure, or any of flowmark's own errors (`FM_FENCED`).
 */
export function isDataSqlError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || err instanceof FlowmarkError) return false;
  const { code } = err as DriverError;
  return typeof code === 'string' && DATA_SQLSTATE.test(code) && !isTransientSqlError(err);
}

/**
 * The database's own words for an error: its message, then its detail in parentheses and its
 * hint, as one line.
 *
 * @example
 * sqlMessage(err) // 'numeric field overflow (A field with precision 14, scale 2 cannot hold an infinite value.)'
 */
export function sqlMessage(err: unknown): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as DriverError;
  const parts = [typeof e.message === 'string' ? e.message : String(err)];
  // Left out: a physical row location ("Index row references tuple (3,42) in relation …"), which
  // means nothing to a reader and differs from run to run (a dead letter must not).
  if (typeof e.detail === 'string' && e.detail !== '' && !PHYSICAL_LOCATION.test(e.detail)) {
    parts.push(`(${e.detail})`);
  }
  if (typeof e.hint === 'string' && e.hint !== '') parts.push(`hint: ${e.hint}`);
  return parts.join(' ');
}

const PHYSICAL_LOCATION = /^Index row references tuple \(\d+,\d+\)/;

/** The SQLSTATE of a driver error, or undefined. */
export function sqlState(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as DriverError).code : undefined;
  return typeof code === 'string' ? code : undefined;
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
  const message = sqlMessage(err);
  if (isTransientSqlError(err)) {
    return new FlowmarkError('FM_PG_UNAVAILABLE', `${what}: the database is unavailable: ${message}`, {
      cause: err,
    });
  }
  return new FlowmarkError(code, `${what}: ${message}`, { cause: err });
}
