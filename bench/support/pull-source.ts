import type { PollResult, SourceReader, SourceRecord } from '../../src/engine/index.ts';

/**
 * An unbounded one-partition source that pulls records from an iterator as the runtime polls,
 * so that millions of generated lines never sit in memory at once (they would count as the
 * state's memory). It delivers up to an allowance ({@link PullSource.allow}) and then calls
 * `onPause` once: the benchmark aborts the run there, so the run ends with a checkpoint and
 * leaves the state in place (a bounded source would end with the watermark at +∞, which
 * finalizes and drops everything).
 */
export class PullSource implements SourceReader<string> {
  readonly partitions = [0] as const;
  #it: Iterator<string>;
  #offset = 0;
  #allowed = 0;
  #onPause: () => void = () => undefined;
  /** Lines delivered whose `type` is click (the generator writes `{"type":"click",…` first). */
  clicks = 0;
  /** Stop at this many clicks, even if the allowance is not used up. */
  #clickLimit = Number.POSITIVE_INFINITY;
  /** The iterator has nothing more. */
  exhausted = false;

  constructor(lines: Iterable<string>) {
    this.#it = lines[Symbol.iterator]();
  }

  get delivered(): number {
    return this.#offset;
  }

  /** Allows `records` more records (and at most `clicks` clicks in all); `onPause` when used up. */
  allow(records: number, onPause: () => void, clicks = Number.POSITIVE_INFINITY): void {
    this.#allowed = this.#offset + records;
    this.#clickLimit = clicks;
    this.#onPause = onPause;
  }

  seek(): void {}

  poll(maxRecords: number): PollResult<string> {
    const records: SourceRecord<string>[] = [];
    while (records.length < maxRecords && this.#offset < this.#allowed && this.clicks < this.#clickLimit) {
      const next = this.#it.next();
      if (next.done === true) {
        this.exhausted = true;
        break;
      }
      if (next.value.startsWith('{"type":"click"')) this.clicks++;
      records.push({ partition: 0, offset: this.#offset++, value: next.value });
    }
    if (this.#offset >= this.#allowed || this.clicks >= this.#clickLimit || this.exhausted) this.#onPause();
    return records.length > 0 ? { records } : { records, caughtUp: [0] };
  }
}
