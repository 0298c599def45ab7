import type { StateSize, TableChange } from './state-table.ts';
import type { ChunkInput, TableChunk } from './time-bucketed-table.ts';

/**
 * What the runtime needs of a piece of operator state to checkpoint and restore it.
 * {@link StateTable} is the general implementation; an operator whose hot path cannot afford a
 * second index (windows) implements this over its own structures and registers it with
 * `ctx.registerState`. Keys are strings; values JSON-serializable plain data.
 */
export interface StateStore {
  /** Entries changed since the previous call (`undefined` value = deleted); forgets them. */
  takeChanges(): Iterable<TableChange<unknown>>;
  /** Every live entry (a full snapshot). */
  allEntries(): Iterable<TableChange<unknown>>;
  /** Loads one entry of a snapshot (not a change). */
  restoreEntry(key: string, value: unknown, expiresAtMs?: number): void;
  /** The event-time expiry of `key`, for stores with a TTL. */
  expiryOf?(key: string): number | undefined;
  measure(): StateSize;
}

/**
 * What the runtime needs of a time-bucketed table (`TimeBucketedTable`) to checkpoint and
 * restore it: binary chunks, incremental, never one entry at a time.
 */
export interface ChunkedStateStore {
  /** What was added and deleted since the previous call, as one chunk; undefined when nothing. */
  takeChunk(): TableChunk | undefined;
  /** Forgets what `takeChunk` would return, cheaply (a checkpoint that keeps no state). */
  skipChunk(): void;
  /** Loads every stored chunk of the table into the empty table, as of `watermarkMs`. */
  restore(chunks: Iterable<ChunkInput>, watermarkMs: number): void;
  /**
   * Loads one entry of a state table written by an earlier release, which kept this state as
   * JSON rows (`flowmark.state`): the one-time upgrade. The entry is not in any chunk yet, so the
   * next `takeChunk` writes it. Absent when the table never had a JSON form.
   */
  restoreLegacyEntry?(key: string, value: unknown, expiresAtMs: number | undefined): void;
  measure(): StateSize;
}
