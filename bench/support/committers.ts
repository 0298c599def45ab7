/**
 * The one committer of the in-memory suites (engine, scaling, state): it makes nothing durable
 * and measures what it is handed. What it does per checkpoint is part of the timed run, so each
 * cost is opt-in: encoding the snapshot (what any durable store pays; `encode`) and keeping the
 * final attributed rows (to check them against a hand-written loop; `keepFinal`). A committer
 * that keeps checkpoints to restore them is the shipped MemoryCommitter.
 */
import { SINK } from '../../src/attribution/attribution-pipeline.ts';
import type { AttributedCheckoutRow } from '../../src/attribution/output-rows.ts';
import {
  type Checkpoint,
  type CheckpointCommitter,
  encodeSnapshot,
  type RestorePoint,
} from '../../src/engine/index.ts';

export class MeasuringCommitter implements CheckpointCommitter {
  readonly #encode: boolean;
  readonly #keepFinal: boolean;
  /** Rows committed per sink. */
  readonly rowsBySink = new Map<string, number>();
  /** Final attributed rows (checkout id → click id), with `keepFinal`. */
  readonly attributed = new Map<string, string | null>();
  /** With `encode`: the encoded size of every snapshot so far, and of the last one. */
  snapshotBytes = 0;
  lastBytes = 0;
  lastEntries = 0;

  constructor(o: { encode?: boolean; keepFinal?: boolean } = {}) {
    this.#encode = o.encode ?? false;
    this.#keepFinal = o.keepFinal ?? false;
  }

  /** Rows committed to every sink. */
  get rows(): number {
    let n = 0;
    for (const c of this.rowsBySink.values()) n += c;
    return n;
  }

  async load(): Promise<RestorePoint | undefined> {
    return undefined;
  }

  async commit(cp: Checkpoint): Promise<void> {
    if (this.#encode) {
      // The JSON snapshot and the time-bucketed tables' chunks (bytes already): what a store writes.
      let chunkBytes = 0;
      for (const { chunk } of cp.chunks ?? []) chunkBytes += chunk.bytes.length;
      this.lastBytes = encodeSnapshot(cp.snapshot).length + chunkBytes;
      this.snapshotBytes += this.lastBytes;
    }
    this.lastEntries = cp.snapshot.entries.length;
    for (const [sink, rows] of cp.outputs) this.rowsBySink.set(sink, (this.rowsBySink.get(sink) ?? 0) + rows.length);
    if (this.#keepFinal) {
      for (const row of (cp.outputs.get(SINK.attributed) ?? []) as AttributedCheckoutRow[]) {
        if (row.is_final) this.attributed.set(row.checkout_id, row.click_id);
      }
    }
  }
}
