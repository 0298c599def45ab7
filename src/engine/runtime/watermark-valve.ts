import { MAX_WATERMARK, MIN_WATERMARK } from '../time.ts';

/**
 * What one input event did to a valve's combined watermark:
 * - `advanced`: it rose (read {@link WatermarkValve.watermark});
 * - `idle`: every input is idle now, so the step holds nothing back downstream;
 * - `held`: some input is active and the combined watermark did not rise.
 * Strings, not objects: the valve runs after every record and must not allocate.
 */
export type ValveChange = 'advanced' | 'idle' | 'held';

/**
 * The watermark of one step from the watermarks and idleness of its inputs (as Flink's
 * StatusWatermarkValve): the minimum over the active (not idle) inputs, monotone. It knows
 * nothing of the graph: the runtime feeds it what arrives on each input and forwards what it
 * reports.
 *
 * - Every input starts at −∞, so the step is at −∞ until every input has a watermark.
 * - An input's watermark only rises; a lower one is ignored.
 * - An idle input does not hold the step back; a watermark on it makes it active again.
 * - +∞ (the end of a bounded input) is reached once every active input is at +∞.
 */
export class WatermarkValve {
  /** Per input, the largest watermark received (in the snapshot's meta as `inputWatermarksMs`). */
  readonly inputWatermarks: number[];
  readonly #idle: boolean[];
  /** The combined watermark: the largest minimum over the active inputs seen so far. */
  #watermark = MIN_WATERMARK;

  constructor(inputs: number) {
    this.inputWatermarks = Array.from({ length: inputs }, () => MIN_WATERMARK);
    this.#idle = Array.from({ length: inputs }, () => false);
  }

  get watermark(): number {
    return this.#watermark;
  }

  /** Whether `input` is idle. */
  isIdle(input: number): boolean {
    return this.#idle[input] as boolean;
  }

  /** A watermark arrived on `input`: records it (the input is active again) and combines. */
  inputWatermark(input: number, watermarkMs: number): ValveChange {
    this.recordWatermark(input, watermarkMs);
    return this.#combine();
  }

  /** `input` went idle: it stops holding the step back. */
  inputIdle(input: number): ValveChange {
    this.recordIdle(input);
    return this.#combine();
  }

  /** Records a watermark of `input` without combining (a sink, which forwards nothing). */
  recordWatermark(input: number, watermarkMs: number): void {
    this.#idle[input] = false;
    if (watermarkMs > (this.inputWatermarks[input] as number)) this.inputWatermarks[input] = watermarkMs;
  }

  /** Records that `input` is idle without combining. */
  recordIdle(input: number): void {
    this.#idle[input] = true;
  }

  /**
   * Resumes from a checkpoint's watermarks. +∞ was the end of a bounded input (a drain): a new
   * run is new input, so it starts from −∞ again; the restored partition maxima of the sources
   * bring the watermarks back to where they were with the first record.
   */
  restore(inputWatermarksMs: readonly number[], watermarkMs: number): void {
    inputWatermarksMs.forEach((w, i) => {
      if (i < this.inputWatermarks.length) this.inputWatermarks[i] = resumed(w);
    });
    this.#watermark = resumed(watermarkMs);
  }

  #combine(): ValveChange {
    const wms = this.inputWatermarks;
    const idle = this.#idle;
    let min = MAX_WATERMARK;
    let active = false;
    for (let i = 0; i < wms.length; i++) {
      if (idle[i]) continue;
      active = true;
      const w = wms[i] as number;
      if (w < min) min = w;
    }
    if (!active) return 'idle';
    if (min <= this.#watermark) return 'held';
    this.#watermark = min;
    return 'advanced';
  }
}

/** A watermark restored into a new run: +∞ (the end of a drain) starts again from −∞. */
export function resumed(watermarkMs: number): number {
  return watermarkMs === MAX_WATERMARK ? MIN_WATERMARK : watermarkMs;
}
