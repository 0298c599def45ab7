/**
 * The one error type of flowmark. Every error has a stable `code` that scripts and tests can
 * match on, a message that tells a user what to do, and whether retrying may help (which follows
 * from the code).
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

/**
 * Whether trying the same thing again may succeed, per code: the one place that decides it, so
 * that a code cannot be retriable where one connector throws it and final where another does.
 * Retriable are only the codes of a service that is away (database, broker): the runtime retries
 * a checkpoint commit, a look-up and a Kafka fetch after them for as long as it takes. Every other
 * code is final: a failure that gave up already (FM_LOOKUP_FAILED after its attempts), bad input
 * or configuration, or a write whose target refuses further writes until it is reopened.
 */
export const RETRIABLE_ERROR_CODES: Readonly<Record<ErrorCode, boolean>> = {
  FM_CONFIG_INVALID: false,
  FM_CONFIG_UNKNOWN_KEY: false,
  FM_PIPELINE_INVALID: false,
  FM_PIPELINE_DUPLICATE_ID: false,
  FM_SNAPSHOT_CORRUPT: false,
  FM_SNAPSHOT_VERSION: false,
  FM_SNAPSHOT_MISMATCH: false,
  FM_STATE_NOT_SERIALIZABLE: false,
  FM_SOURCE_FAILED: false,
  FM_SINK_FAILED: false,
  FM_LOOKUP_FAILED: false,
  FM_RUNTIME_STATE: false,
  FM_PG_UNAVAILABLE: true,
  FM_KAFKA_UNAVAILABLE: true,
  FM_KAFKA_NOT_COPARTITIONED: false,
  FM_KAFKA_TOPIC_MISSING: false,
  FM_LOG_CORRUPT: false,
  FM_FENCED: false,
};

export interface FlowmarkErrorOptions {
  cause?: unknown;
}

export class FlowmarkError extends Error {
  readonly code: ErrorCode;
  /** Whether retrying may help: follows from `code` ({@link RETRIABLE_ERROR_CODES}). */
  readonly retriable: boolean;
  constructor(code: ErrorCode, message: string, options: FlowmarkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FlowmarkError';
    this.code = code;
    this.retriable = RETRIABLE_ERROR_CODES[code];
  }
}

/** True when `err` is a FlowmarkError with the given code. */
export function isFlowmarkError(err: unknown, code?: ErrorCode): err is FlowmarkError {
  return err instanceof FlowmarkError && (code === undefined || err.code === code);
}
