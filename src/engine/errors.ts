/**
 * The one error type of flowmark. Every error has a stable `code` that scripts and tests can
 * match on, a message that tells a user what to do, and whether retrying may help.
 * Bad *data* is never thrown: it becomes a dead letter. These are for bad configuration,
 * broken invariants and unavailable services.
 */
export const ERROR_CODES = [
  'FM_CONFIG_INVALID',
  'FM_CONFIG_UNKNOWN_KEY',
  'FM_PIPELINE_INVALID',
  'FM_PIPELINE_DUPLICATE_ID',
  'FM_SNAPSHOT_CORRUPT',
  'FM_SNAPSHOT_VERSION',
  'FM_SNAPSHOT_MISMATCH',
  'FM_STATE_NOT_SERIALIZABLE',
  'FM_SOURCE_FAILED',
  'FM_SINK_FAILED',
  'FM_LOOKUP_FAILED',
  'FM_RUNTIME_STATE',
  'FM_PG_UNAVAILABLE',
  'FM_KAFKA_UNAVAILABLE',
  'FM_KAFKA_NOT_COPARTITIONED',
  'FM_KAFKA_TOPIC_MISSING',
  'FM_LOG_CORRUPT',
  'FM_FENCED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface FlowmarkErrorOptions {
  cause?: unknown;
  retriable?: boolean;
}

export class FlowmarkError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  constructor(code: ErrorCode, message: string, options: FlowmarkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FlowmarkError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** True when `err` is a FlowmarkError with the given code. */
export function isFlowmarkError(err: unknown, code?: ErrorCode): err is FlowmarkError {
  return err instanceof FlowmarkError && (code === undefined || err.code === code);
}
