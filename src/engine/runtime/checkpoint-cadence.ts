import type { SnapshotMeta } from '../snapshot.ts';

export interface CheckpointCadenceOptions {
  /** The least processing time between two cuts (`checkpoint.interval`). */
  minIntervalMs: number;
  /** While the input has a backlog, the least time between two cuts (at least `minIntervalMs`). */
  backlogIntervalMs: number;
  /** The longest time without a cut while nothing changes (liveness), at least `minIntervalMs`. */
  heartbeatMs: number;
}

/** What the loop knows when it asks whether to cut. */
export interface CadenceState {
  nowMs: number;
  lastCutAtMs: number;
  /** A commit is in flight: the next cut waits for it (at most one in flight). */
  committing: boolean;
  /** Some source still had records to read after its last poll. */
  backlog: boolean;
  /** Whether the next checkpoint would differ from the last one cut (asked only when needed). */
  changed: () => boolean;
}

/**
 * When the source loop cuts the next checkpoint — group commit: as soon as the previous one is
 * durable, so a record waits about one commit, not a fixed interval; batches grow by themselves
 * while a commit is in flight under load, and stay small when the input is quiet.
 *
 * - Never while a commit is in flight, and never sooner than `minIntervalMs` after the last cut
 *   (a checkpoint has a fixed cost: one transaction, its statements, a state chunk per table).
 * - While the input has a backlog, not sooner than `backlogIntervalMs`: the records read now
 *   have waited in their queue already, so bigger checkpoints (less fixed cost per record) let
 *   the job catch up sooner; a drained run reads a backlog from start to end.
 * - Only when something changed since the last cut (records read, sink rows, a watermark or a
 *   source position moved: {@link sameMeta}), or once `heartbeatMs` passed without one — the
 *   heartbeat that tells a standby worker and the health check that the job is alive. An idle
 *   job thus commits one transaction per heartbeat instead of one per interval.
 */
export class CheckpointCadence {
  readonly #minIntervalMs: number;
  readonly #backlogIntervalMs: number;
  readonly #heartbeatMs: number;

  constructor(o: CheckpointCadenceOptions) {
    this.#minIntervalMs = o.minIntervalMs;
    this.#backlogIntervalMs = Math.max(o.minIntervalMs, o.backlogIntervalMs);
    this.#heartbeatMs = Math.max(o.minIntervalMs, o.heartbeatMs);
  }

  /** Whether to cut a checkpoint now. */
  due(s: CadenceState): boolean {
    if (s.committing) return false;
    const sinceCutMs = s.nowMs - s.lastCutAtMs;
    if (sinceCutMs < this.#gapMs(s)) return false;
    return sinceCutMs >= this.#heartbeatMs || s.changed();
  }

  /**
   * How long until a cut is due if nothing else happens (+∞ while a commit is in flight): what
   * an idle loop sleeps at most, so that a change waiting for the minimum interval is not cut late.
   */
  msUntilDue(s: CadenceState): number {
    if (s.committing) return Number.POSITIVE_INFINITY;
    const dueAfterMs = s.changed() ? this.#gapMs(s) : this.#heartbeatMs;
    return Math.max(0, dueAfterMs - (s.nowMs - s.lastCutAtMs));
  }

  #gapMs(s: Pick<CadenceState, 'backlog'>): number {
    return s.backlog ? this.#backlogIntervalMs : this.#minIntervalMs;
  }
}

/**
 * Whether two checkpoint metas say the same: every source's offsets and partition maxima, every
 * step's watermarks. Exact comparison of numbers (±∞ included, which JSON would merge into null).
 */
export function sameMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  return (
    sameRecords(
      a.sources,
      b.sources,
      (x, y) => sameNumbers(x.offsets, y.offsets) && sameNumbers(x.maxEventTimeMs, y.maxEventTimeMs),
    ) &&
    sameRecords(
      a.nodes,
      b.nodes,
      (x, y) =>
        x.watermarkMs === y.watermarkMs &&
        x.outputWatermarkMs === y.outputWatermarkMs &&
        x.inputWatermarksMs.length === y.inputWatermarksMs.length &&
        x.inputWatermarksMs.every((w, i) => w === y.inputWatermarksMs[i]),
    )
  );
}

function sameNumbers(a: Record<string, number>, b: Record<string, number>): boolean {
  return sameRecords(a, b, (x, y) => x === y);
}

function sameRecords<V>(a: Record<string, V>, b: Record<string, V>, same: (x: V, y: V) => boolean): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) {
    const y = b[k];
    if (y === undefined || !same(a[k] as V, y)) return false;
  }
  return true;
}
