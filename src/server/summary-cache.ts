/**
 * One summary query at a time, shared by every caller: `GET /api/summary` and the live stream ask
 * this cache, which returns the last result while it is younger than the asked age and otherwise
 * runs one query whose promise all concurrent callers await. The dashboard's load on the database
 * (PGlite shares its one connection with the pipeline's checkpoints) is then at most one summary
 * per `maxAgeMs`, however many browsers are open.
 */
import { performance } from 'node:perf_hooks';
import {
  querySummary,
  type Summary,
  type SummaryDb,
  type SummaryOptions,
  type SummaryTime,
} from './summary-queries.ts';

/** A summary and its JSON text (computed once; also what change detection compares). */
export interface CachedSummary {
  summary: Summary;
  json: string;
  /** `performance.now()` when the query finished. */
  atMs: number;
}

export class SummaryCache {
  readonly #db: SummaryDb;
  readonly #options: SummaryOptions;
  readonly #time: () => SummaryTime;
  #last: CachedSummary | undefined;
  #inflight: Promise<CachedSummary> | undefined;

  /**
   * `time` is asked before each query: the processing time and the running job's watermark, which
   * bound what counts as real data (summary-queries.ts). Default: the wall clock, no watermark.
   */
  constructor(db: SummaryDb, options: SummaryOptions = {}, time?: () => SummaryTime) {
    this.#db = db;
    this.#options = options;
    this.#time = time ?? (() => ({ nowMs: Date.now(), watermarkMs: null }));
  }

  /**
   * The last summary if it is at most `maxAgeMs` old, else a fresh one (joining a query already
   * running). Rejects when the query fails; the next call tries again.
   */
  get(maxAgeMs: number): Promise<CachedSummary> {
    const last = this.#last;
    if (last !== undefined && performance.now() - last.atMs <= maxAgeMs) return Promise.resolve(last);
    // Inside the promise: a time source that throws fails this summary, as a query would.
    this.#inflight ??= Promise.resolve()
      .then(() => querySummary(this.#db, this.#options, this.#time()))
      .then((summary) => {
        this.#last = { summary, json: JSON.stringify(summary), atMs: performance.now() };
        return this.#last;
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    return this.#inflight;
  }
}
