/**
 * The source interface that connectors implement (log, Kafka, files, memory).
 *
 * A reader delivers raw records per partition in offset order. The engine decodes them, assigns
 * event times, tracks one bounded-out-of-orderness watermark per partition, and tells the reader
 * which offsets are durable downstream (`commit`), never before.
 */
export interface SourceRecord<R> {
  partition: number;
  offset: number;
  value: R;
  /** When the record arrived in the queue (append time, ms), if the source knows: for latency. */
  timestampMs?: number;
}

export interface PollResult<R> {
  records: readonly SourceRecord<R>[];
  /**
   * Partitions that had nothing to deliver at this poll (caught up). Only these can become idle:
   * a partition that is merely behind is never treated as idle, however slow the pipeline.
   */
  caughtUp?: readonly number[];
  /** True once a bounded source has delivered everything: its watermark becomes +∞. */
  ended?: boolean;
}

export interface SourceReader<R> {
  /** The partitions this reader owns. */
  readonly partitions: readonly number[];
  /** Positions the reader at the next offset to read, per partition (after a restore). */
  seek(nextOffsets: ReadonlyMap<number, number>): void | Promise<void>;
  /**
   * Up to `maxRecords` records. A reader that waits when it knows of nothing to read (a long poll,
   * as Kafka's fetch) waits at most `maxWaitMs` when given: the runtime has other sources to read
   * and checkpoints to cut meanwhile.
   */
  poll(maxRecords: number, maxWaitMs?: number): PollResult<R> | Promise<PollResult<R>>;
  /**
   * For a deterministic order over several sources: the round of the reader's fixed read
   * schedule that it reads next (+∞: nothing to read now). When every source of a pipeline has
   * one, the runtime always polls the source with the lowest round (ties: the order the sources
   * were declared), and a reader's poll must not go past the end of its current round. Then the
   * order of records over all sources depends only on the input, not on where a run restarted.
   */
  readRound?(): number;
  /** Records not read yet over the reader's partitions (end of the queue − next offset), if known. */
  lag?(): number;
  /** The records before these offsets are durable downstream: the reader may acknowledge them. */
  commit?(nextOffsets: ReadonlyMap<number, number>): void | Promise<void>;
  close?(): void | Promise<void>;
}

/** A record that a source's `decode` refused; it goes to the source's `invalid` output. */
export class Rejected {
  readonly reason: string;
  readonly detail: string;
  constructor(reason: string, detail: string) {
    this.reason = reason;
    this.detail = detail;
  }
}

/** What the `invalid` output of a source carries: the raw record and why it was refused. */
export interface InvalidRecord<R> {
  source: string;
  partition: number;
  offset: number;
  raw: R;
  reason: string;
  detail: string;
}
