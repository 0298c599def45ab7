import type { Key } from '../operator.ts';

/**
 * How records are grouped into event-time windows. Windows are half-open: `[startMs, endMs)`.
 * - `tumbling(size)`: fixed, non-overlapping windows aligned to the epoch (plus `offsetMs`).
 * - `hopping(size, slide)`: windows of `size` starting every `slide`; a record is in size/slide windows.
 * - `cumulate(step, maxSize)`: windows sharing a start aligned to `maxSize`, ending every `step`
 *   (`[s, s+step)`, `[s, s+2·step)`, …, `[s, s+maxSize)`), as Flink SQL's CUMULATE.
 * - `session(gap)`: per key, records less than `gap` apart share a window `[first, last + gap)`.
 */
export type WindowAssigner =
  | { readonly kind: 'tumbling'; readonly sizeMs: number; readonly offsetMs: number }
  | { readonly kind: 'hopping'; readonly sizeMs: number; readonly slideMs: number }
  | { readonly kind: 'cumulate'; readonly stepMs: number; readonly maxSizeMs: number }
  | { readonly kind: 'session'; readonly gapMs: number };

export function tumbling(sizeMs: number, offsetMs = 0): WindowAssigner {
  return { kind: 'tumbling', sizeMs, offsetMs };
}
export function hopping(sizeMs: number, slideMs: number): WindowAssigner {
  return { kind: 'hopping', sizeMs, slideMs };
}
export function cumulate(stepMs: number, maxSizeMs: number): WindowAssigner {
  return { kind: 'cumulate', stepMs, maxSizeMs };
}
export function session(gapMs: number): WindowAssigner {
  return { kind: 'session', gapMs };
}

/**
 * An incremental aggregation. The accumulator is state: it must be JSON-serializable plain data.
 * `merge` is required for session windows (sessions merge when a record bridges them).
 *
 * @example
 * const count: AggregateFunction<unknown, number, number> =
 *   { create: () => 0, add: (n) => n + 1, merge: (a, b) => a + b, result: (n) => n };
 */
export interface AggregateFunction<T, A, R> {
  create(): A;
  add(acc: A, value: T): A;
  merge?(a: A, b: A): A;
  result(acc: A): R;
}

/** One result of one window for one key. */
export interface WindowResult<R> {
  key: Key;
  windowStartMs: number;
  windowEndMs: number;
  value: R;
  /**
   * 0 for the result emitted when the watermark passed the window's end; n > 0 for the n-th
   * update caused by records accepted under `allowedLatenessMs`. Downstream upserts by
   * (key, window).
   */
  firing: number;
}

export interface WindowOptions {
  /**
   * How far behind the watermark a record may still be accepted (default 0): records with
   * event time ≥ watermark − allowedLatenessMs update their windows, whose results are emitted
   * again with `firing` + 1. A window's state is kept until the watermark reaches end + allowedLatenessMs.
   */
  allowedLatenessMs?: number;
}
