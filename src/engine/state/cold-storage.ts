import type { SegmentStore } from './segment-store.ts';

/** Default memory budget of the time-bucketed tables (`state.memory_budget`): 1 GiB, a laptop's share. */
export const DEFAULT_STATE_MEMORY_BUDGET_BYTES = 1024 ** 3;

export interface ColdStorageOptions {
  /** Bytes the time-bucketed tables of a run may hold in memory before old buckets go to disk. */
  memoryBudgetBytes: number;
  /** Directory of the on-disk segments (`state.local_dir`, one sub-directory per job); made when first needed. */
  dir: string;
  /** The files: a connector (`connectors/local-state`), since the engine does no I/O. */
  segments: SegmentStore;
  /** Where the lines saying what of a local store is reused or rebuilt go. */
  log: (line: string) => void;
  /**
   * Sync each segment to disk before its manifest names it (default true), so that a machine's
   * crash cannot leave a manifest over a partly written file. False only where the machine's crash
   * is no concern (tests): a process killed at any instant is still safe without it.
   */
  sync?: boolean;
}

/** What the storage asks of a table that registered: its bytes in memory now. */
interface Member {
  memoryBytes(): number;
}

/**
 * The memory budget and the on-disk directory shared by every time-bucketed table of a run
 * (`state.memory_budget`, `state.local_dir`). A table attaches itself
 * (`TimeBucketedTable.useColdStorage`) and, when the tables together hold more than the budget,
 * moves its oldest sealed buckets into segment files under its own sub-directory.
 *
 * The directory is a cache of the checkpoint's chunks, never a source of truth: at a restore a
 * table reuses only the segments whose manifest proves they hold exactly what the committed
 * chunks hold, deletes the rest (one log line says why) and rebuilds them from the chunks. See
 * docs/engine.md, "Cold segments", for the rule.
 */
export class ColdStorage {
  readonly memoryBudgetBytes: number;
  readonly dir: string;
  readonly segments: SegmentStore;
  readonly sync: boolean;
  readonly #members = new Set<Member>();
  readonly #log: (line: string) => void;

  constructor(options: ColdStorageOptions) {
    if (!(options.memoryBudgetBytes >= 0)) {
      throw new RangeError(
        `state.memory_budget must be a non-negative number of bytes, got ${options.memoryBudgetBytes}`,
      );
    }
    this.memoryBudgetBytes = options.memoryBudgetBytes;
    this.dir = options.dir;
    this.segments = options.segments;
    this.sync = options.sync ?? true;
    this.#log = options.log;
  }

  /** Registers a table whose bytes count toward the budget. */
  join(member: Member): void {
    this.#members.add(member);
  }

  leave(member: Member): void {
    this.#members.delete(member);
  }

  /** Bytes the registered tables hold in memory. */
  memoryBytes(): number {
    let n = 0;
    for (const m of this.#members) n += m.memoryBytes();
    return n;
  }

  overBudget(): boolean {
    return this.memoryBytes() > this.memoryBudgetBytes;
  }

  /** The directory of one table's segments: `<dir>/<step>/<table>`. */
  tableDir(step: string, table: string): string {
    return `${this.dir}/${encodeURIComponent(step)}/${encodeURIComponent(table)}`;
  }

  /** One line for the operator (why a local store is rebuilt, what was reused). */
  log(line: string): void {
    this.#log(line);
  }

  /**
   * Empties a table's directory before its first segment when no restore validated it (a job
   * with no checkpoint of the table): what is there belongs to another history. Says so.
   */
  clearTableDir(dir: string): void {
    if (this.segments.clear(dir)) {
      this.#log(
        `flowmark: the local state store ${dir} holds segments the checkpoint does not know; deleted them ` +
          "(the local store is a cache of the checkpoint's state chunks)",
      );
    }
  }
}
