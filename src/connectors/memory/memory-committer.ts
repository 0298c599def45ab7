import {
  type Checkpoint,
  type CheckpointCommitter,
  CompactedSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  isChunkExpired,
  type RestorePoint,
  type StoredChunk,
} from '../../engine/index.ts';

/**
 * Keeps checkpoints in memory: the compacted state and every committed output row. Each
 * snapshot goes through the byte format (encode, then decode), so what is restored is exactly
 * what a durable store would give back. A commit is atomic: it happens in one synchronous step.
 */
export class MemoryCommitter implements CheckpointCommitter {
  readonly state = new CompactedSnapshot();
  readonly #rows = new Map<string, unknown[]>();
  commits = 0;
  /** Encoded size of each committed snapshot delta, in commit order. */
  readonly snapshotBytes: number[] = [];
  /** The time-bucketed tables' chunks kept (node/table/seq → chunk), until they expire. */
  readonly chunks = new Map<string, StoredChunk & { expiresAtMs: number }>();

  async load(): Promise<RestorePoint | undefined> {
    if (this.commits === 0) return undefined;
    // A copy through the byte format, like a durable store's: operators mutate restored values
    // in place, and a run that crashes before its next commit must not have changed the checkpoint.
    const restored = decodeSnapshot(encodeSnapshot(this.state.toSnapshot()));
    const chunks = [...this.chunks.values()].map((c) => ({ ...c, bytes: c.bytes.slice() }));
    return { checkpointId: restored.checkpointId, meta: restored.meta, entries: restored.entries, chunks };
  }

  async commit(checkpoint: Checkpoint): Promise<void> {
    const bytes = encodeSnapshot(checkpoint.snapshot);
    const snapshot = decodeSnapshot(bytes);
    for (const [sink, rows] of checkpoint.outputs) {
      let all = this.#rows.get(sink);
      if (all === undefined) this.#rows.set(sink, (all = []));
      for (const r of rows) all.push(structuredClone(r));
    }
    if (checkpoint.id === 1) this.chunks.clear();
    for (const { node, chunk } of checkpoint.chunks ?? []) {
      const { table, seq, expiresAtMs } = chunk;
      const name = `${node}/${table}/${seq}`;
      // Overwrites: a chunk is numbered by its table, so the same name is the same chunk again.
      this.chunks.set(name, { node, table, seq, bytes: chunk.bytes.slice(), name, expiresAtMs });
    }
    this.state.apply(snapshot);
    for (const [name, c] of this.chunks)
      if (isChunkExpired(c.node, c.expiresAtMs, snapshot.meta)) this.chunks.delete(name);
    this.snapshotBytes.push(bytes.length);
    this.commits++;
  }

  /** Every row committed to `sink`, in order. */
  rows<T = unknown>(sink: string): T[] {
    return (this.#rows.get(sink) ?? []) as T[];
  }
}
