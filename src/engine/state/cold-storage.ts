import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Default memory budget of the time-bucketed tables (`state.memory_budget`): 1 GiB, a laptop's share. */
export const DEFAULT_STATE_MEMORY_BUDGET_BYTES = 1024 ** 3;

export interface ColdStorageOptions {
  /** Bytes the time-bucketed tables of a run may hold in memory before old buckets go to disk. */
  memoryBudgetBytes: number;
  /** Directory of the on-disk segments (`state.local_dir`); made when first needed. */
  dir: string;
  /** Where the one line saying why a local store is rebuilt goes (default: stderr). */
  log?: (line: string) => void;
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
 * The directory is a cache of the checkpoint's chunks, never a source of truth: what it held when
 * the run started is deleted (with one log line saying so), and every table's cold part is rebuilt
 * from the chunks its restore reads. See docs/engine.md, "Cold segments", for the rule that makes
 * this the safe choice.
 */
export class ColdStorage {
  readonly memoryBudgetBytes: number;
  readonly dir: string;
  readonly #members = new Set<Member>();
  readonly #log: (line: string) => void;
  #cleared = false;

  constructor(options: ColdStorageOptions) {
    if (!(options.memoryBudgetBytes >= 0)) {
      throw new RangeError(
        `state.memory_budget must be a non-negative number of bytes, got ${options.memoryBudgetBytes}`,
      );
    }
    this.memoryBudgetBytes = options.memoryBudgetBytes;
    this.dir = options.dir;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
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

  /**
   * The directory of one table's segments (`<dir>/<step>/<table>`). The first call of a run
   * deletes whatever an earlier run left in `dir`, saying why once: it may hold entries of a
   * checkpoint that never committed, so it is rebuilt from the chunks rather than trusted.
   */
  tableDir(step: string, table: string): string {
    if (!this.#cleared) {
      this.#cleared = true;
      if (existsSync(this.dir) && readdirSync(this.dir).length > 0) {
        this.#log(
          `flowmark: the local state store ${this.dir} holds segments of an earlier run; rebuilding it from the ` +
            "checkpoint's state chunks (the local store is a cache, the database's chunks are the truth)",
        );
        rmSync(this.dir, { recursive: true, force: true });
      }
    }
    return join(this.dir, encodeURIComponent(step), encodeURIComponent(table));
  }
}
