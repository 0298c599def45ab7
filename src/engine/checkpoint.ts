import type { Snapshot, SnapshotEntry, SnapshotMeta } from './snapshot.ts';
import type { TableChunk } from './state/time-bucketed-table.ts';

/**
 * One chunk of a time-bucketed table ({@link TableChunk}) of step `node`, as a checkpoint carries
 * it. A store keeps every chunk it is given until the committed watermark of `node` passes the
 * chunk's `expiresAtMs` ({@link isChunkExpired}); a restore gives back those still kept.
 */
export interface NodeChunk {
  node: string;
  chunk: TableChunk;
}

/** A stored chunk as a restore reads it back; `name` identifies it in errors (a row, a file). */
export interface StoredChunk {
  node: string;
  table: string;
  seq: number;
  bytes: Uint8Array;
  name: string;
}

/**
 * Whether every entry of a chunk has expired by the committed watermarks of a checkpoint, so a
 * store may delete it: the one rule every committer applies (a restore would skip it anyway).
 */
export function isChunkExpired(node: string, expiresAtMs: number, meta: SnapshotMeta): boolean {
  const wm = meta.nodes[node]?.watermarkMs;
  return wm !== undefined && wm > expiresAtMs;
}

/** What a restart resumes from: the compacted state of the last committed checkpoint. */
export interface RestorePoint {
  checkpointId: number;
  meta: SnapshotMeta;
  /**
   * The state entries, possibly read lazily (a database pages them in as the runtime restores,
   * so that a restart never holds all of a large state twice).
   */
  entries: Iterable<SnapshotEntry> | AsyncIterable<SnapshotEntry>;
  /**
   * Every stored chunk of the time-bucketed tables (any order; the runtime sorts by table and
   * sequence). Absent for a store that has none.
   */
  chunks?: Iterable<StoredChunk> | AsyncIterable<StoredChunk>;
}

/** One checkpoint: the outputs produced since the previous one, and the state delta. */
export interface Checkpoint {
  id: number;
  snapshot: Snapshot;
  /** Sink id → rows, in emission order. */
  outputs: ReadonlyMap<string, readonly unknown[]>;
  /**
   * The time-bucketed tables' chunks of this checkpoint: what each added and deleted since the
   * previous one (at most one chunk per table). Always incremental, also when `snapshot.kind` is
   * 'full' (which is about `snapshot.entries` only). A store adds them, and deletes the chunks
   * stored before whose every entry has expired ({@link isChunkExpired} with `snapshot.meta`).
   * Checkpoint 1 (a run with nothing to restore) starts the store's chunks afresh: a store drops
   * any it holds for the job first.
   */
  chunks?: readonly NodeChunk[];
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
  /**
   * Waits for the store's own background work (a compaction) to finish; the runtime calls it
   * when it closes. The store stays open.
   */
  idle?(): Promise<void>;
}
