import type { Snapshot, SnapshotEntry, SnapshotMeta } from './snapshot.ts';

/** What a restart resumes from: the compacted state of the last committed checkpoint. */
export interface RestorePoint {
  checkpointId: number;
  meta: SnapshotMeta;
  /**
   * The state entries, possibly read lazily (a database pages them in as the runtime restores,
   * so that a restart never holds all of a large state twice).
   */
  entries: Iterable<SnapshotEntry> | AsyncIterable<SnapshotEntry>;
}

/** One checkpoint: the outputs produced since the previous one, and the state delta. */
export interface Checkpoint {
  id: number;
  snapshot: Snapshot;
  /** Sink id → rows, in emission order. */
  outputs: ReadonlyMap<string, readonly unknown[]>;
}

/**
 * Makes checkpoints durable. `commit` must be atomic (ARCHITECTURE §3.7): after a crash at any
 * instant, `load` returns either the state before the checkpoint or the state after it, with the
 * outputs written exactly when the state is. The runtime acknowledges source offsets upstream only
 * after `commit` resolves.
 */
export interface CheckpointCommitter {
  load(): Promise<RestorePoint | undefined>;
  commit(checkpoint: Checkpoint): Promise<void>;
  /**
   * True for a committer that keeps no state (a replay's, which never resumes): the runtime then
   * hands it checkpoints without state entries instead of serializing every changed value.
   */
  readonly discardsState?: boolean;
}
