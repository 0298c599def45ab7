import type { Output } from '../operator.ts';
import { PartitionWatermarks } from '../partition-watermarks.ts';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_OUT_OF_ORDERNESS_MS, type SourceSpec } from '../pipeline.ts';
import type { SourcePosition } from '../snapshot.ts';
import { type InvalidRecord, type PollResult, Rejected, type SourceReader, type SourceRecord } from '../source.ts';
import { MAX_WATERMARK } from '../time.ts';
import type { RuntimeGraph, RuntimeNode } from './graph.ts';

/** What a source needs of the graph: its two outputs and the propagation of its watermark. */
export type SourceGraph = Pick<RuntimeGraph, 'output' | 'emitWatermark' | 'emitIdle'>;

/**
 * A poll whose oldest record arrived this long ago (arrival → read) means the input has a backlog:
 * the checkpoints then come at the backlog interval (bigger, cheaper per record) instead of as
 * soon as the previous one is durable. Well above what a live job's records wait (a poll turn and
 * a fetch: a few ms to a few tens), well below a drain's (seconds to days).
 */
export const BACKLOG_AGE_MS = 100;

/**
 * One running source: decodes the records its reader delivers, pushes them into the graph one at
 * a time, keeps the next offset per partition, and turns the per-partition watermarks
 * ({@link PartitionWatermarks}) into the source node's watermark and idleness.
 */
export class SourceRunner {
  readonly node: RuntimeNode;
  readonly spec: SourceSpec<unknown, unknown>;
  readonly tracker: PartitionWatermarks;
  /** Per partition (in the reader's order), the offset of the next record to read. */
  readonly nextOffsets: number[];
  ended = false;
  /** Whether the last poll left records to read (some partition was not caught up): a backlog. */
  behind = false;
  readonly #graph: SourceGraph;
  readonly #out: Output;
  readonly #invalid: Output<InvalidRecord<unknown>>;

  constructor(node: RuntimeNode, graph: SourceGraph) {
    this.node = node;
    this.#graph = graph;
    this.spec = node.spec.source as SourceSpec<unknown, unknown>;
    const parts = this.spec.reader.partitions;
    this.tracker = new PartitionWatermarks(
      parts,
      this.spec.maxOutOfOrdernessMs ?? DEFAULT_MAX_OUT_OF_ORDERNESS_MS,
      this.spec.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    );
    this.nextOffsets = parts.map(() => 0);
    this.#out = graph.output(node, 'out');
    this.#invalid = graph.output(node, 'invalid') as Output<InvalidRecord<unknown>>;
  }

  get id(): string {
    return this.node.spec.id;
  }

  get reader(): SourceReader<unknown> {
    return this.spec.reader;
  }

  /** Decodes one record and pushes it (or its rejection) into the graph, then advances. */
  ingest(rec: SourceRecord<unknown>): void {
    const i = this.tracker.indexOf(rec.partition);
    this.nextOffsets[i] = rec.offset + 1;
    this.node.recordsIn++;
    const decode = this.spec.decode;
    const value = decode === undefined ? rec.value : decode(rec.value);
    if (value instanceof Rejected) {
      this.#reject(rec, value.reason, value.detail);
      return;
    }
    const ts = this.spec.eventTimeMs(value);
    if (!Number.isFinite(ts)) {
      this.#reject(rec, 'invalid_event_time', `event time ${String(ts)} is not a finite number of ms`);
      return;
    }
    // The record is judged against the watermark of earlier arrivals: push first, then advance.
    this.#out.push(value, ts);
    if (this.tracker.observe(i, ts)) this.#advance();
  }

  #reject(rec: SourceRecord<unknown>, reason: string, detail: string): void {
    this.#invalid.push(
      { source: this.id, partition: rec.partition, offset: rec.offset, raw: rec.value, reason, detail },
      this.node.outWm,
    );
  }

  /**
   * After a poll: partitions that had nothing may turn idle (processing time `nowMs`). A reader
   * that does not say which partitions caught up is behind when its poll came back non-empty;
   * one whose records carry their arrival time is behind only when they waited long.
   */
  afterPoll(res: Pick<PollResult<unknown>, 'records' | 'caughtUp'>, nowMs: number): void {
    const caughtUp = res.caughtUp;
    let behind = caughtUp === undefined ? res.records.length > 0 : caughtUp.length < this.spec.reader.partitions.length;
    // A reader that prefetches (Kafka) is seldom caught up under a steady live stream: records
    // arrive while the last ones are processed. What tells a backlog is how long the records read
    // had waited since they arrived: a live job reads them within a few ms, one that is behind
    // (a drain, a catch-up) reads records that waited longer than this.
    if (behind) {
      let oldest = Number.POSITIVE_INFINITY;
      for (const r of res.records) if (r.timestampMs !== undefined && r.timestampMs < oldest) oldest = r.timestampMs;
      if (oldest !== Number.POSITIVE_INFINITY) behind = nowMs - oldest >= BACKLOG_AGE_MS;
    }
    this.behind = behind;
    if (this.tracker.afterPoll(caughtUp, nowMs)) this.#advance();
  }

  /** The end of every source's input: the watermark goes to +∞, firing everything. */
  finish(): void {
    this.#graph.emitWatermark(this.node, MAX_WATERMARK);
  }

  #advance(): void {
    const node = this.node;
    const w = this.tracker.watermark();
    if (this.tracker.allIdle()) {
      // Progress first, then idleness: an idle source must not hold back the others of a union.
      if (w > node.outWm) this.#graph.emitWatermark(node, w);
      this.#graph.emitIdle(node);
      return;
    }
    if (w > node.outWm || node.idle) this.#graph.emitWatermark(node, Math.max(w, node.outWm));
  }

  /** Partition → next offset: what a checkpoint covers, acknowledged once it is committed. */
  offsets(): Map<number, number> {
    return new Map(this.spec.reader.partitions.map((p, i) => [p, this.nextOffsets[i] as number]));
  }

  /** The source's part of a checkpoint's meta. */
  position(): SourcePosition {
    const offsets: Record<string, number> = {};
    this.spec.reader.partitions.forEach((p, i) => {
      offsets[p] = this.nextOffsets[i] as number;
    });
    return { offsets, maxEventTimeMs: this.tracker.maxEventTimes() };
  }

  /** Resumes at a checkpoint's position and seeks the reader there. */
  async restore(position: SourcePosition): Promise<void> {
    this.spec.reader.partitions.forEach((p, i) => {
      this.nextOffsets[i] = position.offsets[p] ?? 0;
    });
    this.tracker.restoreMaxEventTimes(position.maxEventTimeMs);
    await this.spec.reader.seek(this.offsets());
  }
}
