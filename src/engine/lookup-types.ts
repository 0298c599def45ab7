/** Looks up many keys at once; keys not in the returned map are unknown. */
export type LookupFn<V> = (keys: readonly string[]) => Promise<ReadonlyMap<string, V>>;

/** Options of a lookup join (an asynchronous, batched enrichment against a table). */
export interface LookupJoinSpec<T, V, O> {
  /** The lookup key of a record; `undefined` skips the lookup (joined with `undefined`). */
  key: (value: T) => string | undefined;
  lookup: LookupFn<V>;
  join: (value: T, found: V | undefined) => O;
  /** Most keys kept in the LRU cache (default 10 000). Unknown keys are cached too. */
  cacheEntries?: number;
  /** Processing-time freshness: a cached row older than this is looked up again (default 60 s). */
  cacheTtlMs?: number;
  /** Most keys per call to `lookup` (default 500). */
  batchSize?: number;
  /** Most records waiting for look-ups before the source loop waits (default 5 000). */
  maxPending?: number;
}
