/**
 * Options of the embedded log, their defaults and their validation.
 *
 * Guarantees: every option is checked when the log is opened, before anything is read or written;
 * a bad value throws `FM_CONFIG_INVALID` naming the option and what is wrong. Processing time is
 * read only through `nowMs` (default `Date.now`), so tests drive append times and retention by age.
 */
import { FlowmarkError } from '../../engine/index.ts';

export const MIB = 1024 * 1024;

export interface LogOptions {
  /**
   * Open without writing anything: no writer lock, no repair of a torn tail, no appends, no
   * retention. Several read-only openers may run beside one writer (in other processes). Default false.
   */
  readOnly?: boolean;
  /** A partition's active segment is rolled when a record would take it past this size. Default 64 MiB. */
  segmentBytes?: number;
  /** Retention by size: per partition, old segments are deleted while the partition is larger. Default: none. */
  retentionBytes?: number;
  /** Retention by age: a segment whose records were all appended longer ago than this is deleted. Default: none. */
  retentionMs?: number;
  /** Enforce retention on a partition each time its active segment is rolled. Default true. */
  retentionOnRoll?: boolean;
  /**
   * Never delete a segment holding records at or after a consumer's committed position (the
   * slowest consumer of the topic wins). Default true; false lets retention delete unread records.
   */
  retainUnconsumed?: boolean;
  /**
   * Delete a segment that is no longer written once every consumer of its topic has committed a
   * position past all its records (a topic no consumer has committed keeps everything). Checked
   * when a segment is rolled and when a reader commits in a writable log. Default true: the log
   * keeps what is still to be read, not the history (which `flowmark run` has in its database).
   */
  deleteConsumed?: boolean;
  /** Appended records are buffered in memory per partition and written once this many bytes wait. Default 1 MiB. */
  writeBufferBytes?: number;
  /** Largest accepted payload in UTF-8 bytes; a larger one is refused with a RangeError. Default 8 MiB. */
  maxRecordBytes?: number;
  /**
   * Wait for the disk (fdatasync) in `flush()`, on roll and when creating files. Default true.
   * With false, an acknowledged record survives a crash of the process (kill -9: it is in the
   * OS cache) but not a crash of the machine or a power loss. For tests and throwaway data.
   */
  fsync?: boolean;
  /** The clock for append times and retention by age, in ms since the epoch. Default `Date.now`. */
  nowMs?: () => number;
}

export interface ResolvedLogOptions {
  readOnly: boolean;
  segmentBytes: number;
  retentionBytes: number | undefined;
  retentionMs: number | undefined;
  retentionOnRoll: boolean;
  retainUnconsumed: boolean;
  deleteConsumed: boolean;
  writeBufferBytes: number;
  maxRecordBytes: number;
  fsync: boolean;
  nowMs: () => number;
}

export const LOG_DEFAULTS = {
  segmentBytes: 64 * MIB,
  writeBufferBytes: MIB,
  maxRecordBytes: 8 * MIB,
} as const;

function positiveInteger(key: string, value: number | undefined, fallback: number): number;
function positiveInteger(key: string, value: number | undefined, fallback: undefined): number | undefined;
function positiveInteger(key: string, value: number | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new FlowmarkError('FM_CONFIG_INVALID', `log option ${key} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Applies the defaults and checks every option; throws `FM_CONFIG_INVALID` naming the bad key. */
export function resolveLogOptions(options: LogOptions = {}): ResolvedLogOptions {
  if (options.nowMs !== undefined && typeof options.nowMs !== 'function') {
    throw new FlowmarkError('FM_CONFIG_INVALID', 'log option nowMs must be a function returning ms since the epoch');
  }
  return {
    readOnly: options.readOnly ?? false,
    segmentBytes: positiveInteger('segmentBytes', options.segmentBytes, LOG_DEFAULTS.segmentBytes),
    retentionBytes: positiveInteger('retentionBytes', options.retentionBytes, undefined),
    retentionMs: positiveInteger('retentionMs', options.retentionMs, undefined),
    retentionOnRoll: options.retentionOnRoll ?? true,
    retainUnconsumed: options.retainUnconsumed ?? true,
    deleteConsumed: options.deleteConsumed ?? true,
    writeBufferBytes: positiveInteger('writeBufferBytes', options.writeBufferBytes, LOG_DEFAULTS.writeBufferBytes),
    maxRecordBytes: positiveInteger('maxRecordBytes', options.maxRecordBytes, LOG_DEFAULTS.maxRecordBytes),
    fsync: options.fsync ?? true,
    nowMs: options.nowMs ?? Date.now,
  };
}

/** Topic and consumer names: letters, digits, `.`, `_`, `-`; not `.` or `..`; at most 200 characters. */
export function checkName(kind: 'topic' | 'consumer', name: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,200}$/.test(name) || name === '.' || name === '..') {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `${kind} name ${JSON.stringify(name)} is not valid: use 1–200 letters, digits, '.', '_' or '-'`,
    );
  }
}
