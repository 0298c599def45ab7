import { FlowmarkError } from '../errors.ts';
import { isRetriable } from '../health.ts';
import type { LookupJoinSpec } from '../lookup-types.ts';
import type { AsyncOperatorFacet, Operator, OperatorContext, Output } from '../operator.ts';
import { MIN_WATERMARK } from '../time.ts';

const DEFAULT_CACHE_ENTRIES = 10_000;
const DEFAULT_CACHE_TTL_MS = 60_000;
const DEFAULT_BATCH_SIZE = 500;
const DEFAULT_MAX_PENDING = 5_000;
const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 5_000;
/** Calls to `lookup` for one batch before the operator gives up. */
export const LOOKUP_MAX_ATTEMPTS = 10;

/** A cached answer; `found` undefined caches an unknown key. */
interface CacheEntry<V> {
  found: V | undefined;
  atMs: number;
}

/** One key being looked up, shared by every pending record that needs it. */
interface KeyRequest<V> {
  readonly key: string;
  done: boolean;
  found: V | undefined;
}

/** A record waiting for its turn (resolved when `request` is undefined or done), or a watermark. */
type Slot<V> =
  | { kind: 'record'; value: unknown; ts: number; request: KeyRequest<V> | undefined; found: V | undefined }
  | { kind: 'watermark'; watermarkMs: number };

/**
 * Enriches each record with the row found for its key by an asynchronous, batched look-up
 * (like Flink's ordered AsyncWaitOperator with a caching, batching client). Semantics:
 *
 * - the key is `spec.key(v)`; an undefined key is joined with `undefined` without a look-up;
 * - answers (unknown keys too) are kept in an LRU cache of `cacheEntries` keys; an answer older
 *   than `cacheTtlMs` of processing time (`ctx.clock`) is stale and looked up again;
 * - missing keys are collected into batches of at most `batchSize` distinct keys; a full batch
 *   is issued at once without waiting for it, a partial one at the end of each source batch
 *   (`endOfBatch`) or by `drain`. A key is in at most
 *   one outstanding request: records needing the same key share it;
 * - output order is input order: records wait in a FIFO and leave when they and everything
 *   before them are resolved. A watermark arriving while records wait is queued behind them, so
 *   the output watermark never overtakes a record; with nothing waiting it is forwarded at once;
 * - at `maxPending` waiting records the operator signals pressure, and the runtime calls
 *   `drain`, which issues the partial batch and resolves once nothing waits;
 * - a failed look-up is retried with exponential backoff (50 ms doubling to 5 s, on
 *   `ctx.clock`): a retriable failure (database unavailable) until it succeeds, reported through
 *   `ctx.retrying`; any other up to {@link LOOKUP_MAX_ATTEMPTS} calls, then `drain` throws
 *   FM_LOOKUP_FAILED.
 *
 * It keeps no snapshot state: the runtime drains it before every checkpoint, so no record is
 * ever waiting in it when a checkpoint is taken, and the cache is only an optimization.
 */
export class LookupJoinOperator<T, V, O> implements Operator, AsyncOperatorFacet {
  readonly #spec: LookupJoinSpec<T, V, O>;
  readonly #cacheEntries: number;
  readonly #cacheTtlMs: number;
  readonly #batchSize: number;
  readonly #maxPending: number;
  #ctx!: OperatorContext;
  #out!: Output<O>;
  /** In least-recently-used order: eviction takes the first key. */
  readonly #cache = new Map<string, CacheEntry<V>>();
  /** Unanswered keys, batched or in flight. */
  readonly #requests = new Map<string, KeyRequest<V>>();
  #batch: KeyRequest<V>[] = [];
  readonly #inflight = new Set<Promise<void>>();
  #queue: Slot<V>[] = [];
  #head = 0;
  #pendingRecords = 0;
  #failure: { error: unknown } | undefined;
  #cacheHits = 0;
  #cacheMisses = 0;
  #lookups = 0;
  /** The operator is its own asynchronous facet: `hasPending`, `endOfBatch` and `drain` below. */
  readonly async: AsyncOperatorFacet = this;

  constructor(spec: LookupJoinSpec<T, V, O>) {
    this.#spec = spec;
    this.#cacheEntries = spec.cacheEntries ?? DEFAULT_CACHE_ENTRIES;
    this.#cacheTtlMs = spec.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
    this.#batchSize = Math.max(1, spec.batchSize ?? DEFAULT_BATCH_SIZE);
    this.#maxPending = Math.max(1, spec.maxPending ?? DEFAULT_MAX_PENDING);
  }

  open(ctx: OperatorContext): void {
    this.#ctx = ctx;
    this.#out = ctx.output();
  }

  processRecord(_input: number, value: unknown, eventTimeMs: number): void {
    const key = this.#spec.key(value as T);
    let request: KeyRequest<V> | undefined;
    let found: V | undefined;
    if (key !== undefined) {
      const cached = this.#cached(key);
      if (cached !== undefined) {
        this.#cacheHits++;
        found = cached.found;
      } else {
        this.#cacheMisses++;
        request = this.#request(key);
      }
    }
    if (request === undefined && this.#head === this.#queue.length) {
      this.#out.push(this.#spec.join(value as T, found), eventTimeMs);
      return;
    }
    this.#queue.push({ kind: 'record', value, ts: eventTimeMs, request, found });
    if (++this.#pendingRecords >= this.#maxPending) this.#ctx.signalPressure();
  }

  processWatermark(watermarkMs: number): number {
    const queue = this.#queue;
    if (this.#head === queue.length) return watermarkMs;
    // Held behind the waiting records: `#flush` forwards it through the context once they left.
    // Of consecutive queued watermarks only the newest matters.
    const last = queue[queue.length - 1];
    if (last?.kind === 'watermark') last.watermarkMs = watermarkMs;
    else queue.push({ kind: 'watermark', watermarkMs });
    return MIN_WATERMARK;
  }

  endOfBatch(): void {
    if (this.#batch.length > 0) this.#issue();
  }

  hasPending(): boolean {
    return this.#head < this.#queue.length || this.#failure !== undefined;
  }

  async drain(): Promise<void> {
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure.error;
      this.#flush();
      if (this.#head === this.#queue.length) return;
      if (this.#batch.length > 0) this.#issue();
      if (this.#inflight.size === 0) {
        throw new FlowmarkError(
          'FM_RUNTIME_STATE',
          `lookup "${this.#ctx.nodeId}": ${this.#pendingRecords} records wait with no look-up in flight`,
        );
      }
      await Promise.all(this.#inflight);
    }
  }

  describe(): Record<string, unknown> {
    return {
      cacheEntries: this.#cache.size,
      cacheHits: this.#cacheHits,
      cacheMisses: this.#cacheMisses,
      lookups: this.#lookups,
      pending: this.#pendingRecords,
    };
  }

  /** The fresh cached answer for `key`, marked most recently used. */
  #cached(key: string): CacheEntry<V> | undefined {
    const entry = this.#cache.get(key);
    if (entry === undefined) return undefined;
    this.#cache.delete(key);
    if (this.#ctx.clock.nowMs() - entry.atMs > this.#cacheTtlMs) return undefined;
    this.#cache.set(key, entry);
    return entry;
  }

  #remember(key: string, found: V | undefined, nowMs: number): void {
    if (this.#cacheEntries <= 0) return;
    const cache = this.#cache;
    cache.delete(key);
    cache.set(key, { found, atMs: nowMs });
    while (cache.size > this.#cacheEntries) cache.delete(cache.keys().next().value as string);
  }

  #request(key: string): KeyRequest<V> {
    let request = this.#requests.get(key);
    if (request === undefined) {
      request = { key, done: false, found: undefined };
      this.#requests.set(key, request);
      this.#batch.push(request);
      if (this.#batch.length >= this.#batchSize) this.#issue();
    }
    return request;
  }

  #issue(): void {
    const batch = this.#batch;
    this.#batch = [];
    const done: Promise<void> = this.#lookup(batch).then(() => {
      this.#inflight.delete(done);
    });
    this.#inflight.add(done);
  }

  /** Looks the batch up with retries; never rejects (a failure is kept for `drain`). */
  async #lookup(batch: readonly KeyRequest<V>[]): Promise<void> {
    const keys = batch.map((r) => r.key);
    let backoffMs = FIRST_BACKOFF_MS;
    for (let attempt = 1; ; attempt++) {
      let rows: ReadonlyMap<string, V>;
      try {
        this.#lookups++;
        rows = await this.#spec.lookup(keys);
      } catch (cause) {
        // An unavailable database is waited out however long it takes (the run stalls, nothing is
        // acknowledged); any other failure gives up after LOOKUP_MAX_ATTEMPTS calls.
        if (attempt >= LOOKUP_MAX_ATTEMPTS && !isRetriable(cause)) {
          const message = cause instanceof Error ? cause.message : String(cause);
          this.#fail(
            new FlowmarkError(
              'FM_LOOKUP_FAILED',
              `lookup "${this.#ctx.nodeId}" failed after ${attempt} attempts: ${message}`,
              { cause },
            ),
          );
          return;
        }
        this.#ctx.retrying(cause);
        await this.#ctx.clock.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
        continue;
      }
      if (attempt > 1) this.#ctx.recovered();
      const nowMs = this.#ctx.clock.nowMs();
      for (const request of batch) {
        request.found = rows.get(request.key);
        request.done = true;
        this.#requests.delete(request.key);
        this.#remember(request.key, request.found, nowMs);
      }
      try {
        // Emit at once rather than at the next call: the source may be quiet for a while.
        this.#flush();
      } catch (err) {
        this.#fail(err);
      }
      return;
    }
  }

  #fail(error: unknown): void {
    this.#failure ??= { error };
    // Ask for a drain soon, so that the error surfaces without waiting for a checkpoint.
    this.#ctx.signalPressure();
  }

  /** Emits the resolved records (and the watermarks behind them) at the head of the queue. */
  #flush(): void {
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const slot = queue[this.#head] as Slot<V>;
      if (slot.kind === 'watermark') {
        this.#head++;
        this.#ctx.emitWatermark(slot.watermarkMs);
        continue;
      }
      const request = slot.request;
      if (request !== undefined && !request.done) break;
      const joined = this.#spec.join(slot.value as T, request === undefined ? slot.found : request.found);
      this.#head++;
      this.#pendingRecords--;
      this.#out.push(joined, slot.ts);
    }
    if (this.#head === queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= queue.length) {
      // Drop the emitted prefix now and then, so a long-running backlog does not grow forever.
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
