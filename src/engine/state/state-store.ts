import type { StateSize, TableChange } from './state-table.ts';

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
