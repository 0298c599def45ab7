import { MIN_WATERMARK } from './time.ts';

/**
 * The watermark of one source (ARCHITECTURE §3.2):
 * per partition `W_p = max event time seen on p − maxOutOfOrdernessMs`; the source's watermark
 * is the minimum over its active partitions, −∞ while an active partition has seen nothing.
 *
 * A partition becomes idle only after it has been *caught up* (nothing to read) for
 * `idleTimeoutMs` of processing time; then it stops holding the watermark back, until it
 * delivers again; when all are idle, the largest partition watermark holds. A partition that is behind is never idle, however slow the pipeline is —
 * which is the failure that makes other systems drop good records as late.
 * @internal
 */
export class PartitionWatermarks {
  readonly partitions: readonly number[];
  readonly maxOutOfOrdernessMs: number;
  readonly idleTimeoutMs: number;
  readonly #index = new Map<number, number>();
  readonly #maxTs: number[];
  readonly #caughtUpSinceMs: (number | undefined)[];
  readonly #idle: boolean[];

  constructor(partitions: readonly number[], maxOutOfOrdernessMs: number, idleTimeoutMs: number) {
    this.partitions = partitions;
    this.maxOutOfOrdernessMs = maxOutOfOrdernessMs;
    this.idleTimeoutMs = idleTimeoutMs;
    partitions.forEach((p, i) => {
      this.#index.set(p, i);
    });
    this.#maxTs = partitions.map(() => MIN_WATERMARK);
    this.#caughtUpSinceMs = partitions.map(() => undefined);
    this.#idle = partitions.map(() => false);
  }

  indexOf(partition: number): number {
    const i = this.#index.get(partition);
    if (i === undefined) throw new RangeError(`partition ${partition} is not owned by this source`);
    return i;
  }

  /** Records an event time on partition index `i`; true when the partition's maximum moved. */
  observe(i: number, eventTimeMs: number): boolean {
    this.#caughtUpSinceMs[i] = undefined;
    if (this.#idle[i]) {
      this.#idle[i] = false;
      if (eventTimeMs > (this.#maxTs[i] as number)) this.#maxTs[i] = eventTimeMs;
      return true;
    }
    if (eventTimeMs <= (this.#maxTs[i] as number)) return false;
    this.#maxTs[i] = eventTimeMs;
    return true;
  }

  /** After a poll: which partitions were caught up, which were not. True if idleness changed. */
  afterPoll(caughtUp: readonly number[] | undefined, nowMs: number): boolean {
    const caught = new Set(caughtUp ?? []);
    let changed = false;
    for (let i = 0; i < this.partitions.length; i++) {
      if (caught.has(this.partitions[i] as number)) {
        this.#caughtUpSinceMs[i] ??= nowMs;
        if (!this.#idle[i] && nowMs - (this.#caughtUpSinceMs[i] as number) >= this.idleTimeoutMs) {
          this.#idle[i] = true;
          changed = true;
        }
      } else {
        this.#caughtUpSinceMs[i] = undefined;
      }
    }
    return changed;
  }

  /** True when every partition is idle: the source holds no watermark back. */
  allIdle(): boolean {
    return this.#idle.every(Boolean);
  }

  isIdle(partition: number): boolean {
    return this.#idle[this.indexOf(partition)] === true;
  }

  /**
   * The source watermark: the minimum over active partitions. When every partition is idle none
   * holds it back, so it is the largest partition watermark (everything available was read).
   */
  watermark(): number {
    let min = Number.POSITIVE_INFINITY;
    let max = MIN_WATERMARK;
    for (let i = 0; i < this.#maxTs.length; i++) {
      const w = (this.#maxTs[i] as number) - this.maxOutOfOrdernessMs;
      if (w > max) max = w;
      if (this.#idle[i]) continue;
      if (w < min) min = w;
    }
    return min === Number.POSITIVE_INFINITY ? max : min;
  }

  maxEventTimes(): Record<string, number> {
    const out: Record<string, number> = {};
    this.partitions.forEach((p, i) => {
      out[p] = this.#maxTs[i] as number;
    });
    return out;
  }

  restoreMaxEventTimes(maxTs: Record<string, number>): void {
    this.partitions.forEach((p, i) => {
      const v = maxTs[p];
      if (v !== undefined) this.#maxTs[i] = v;
    });
  }
}
