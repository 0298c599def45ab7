/**
 * Reads one partition of an internal repartition topic (written by {@link KafkaRepartitioner}) as
 * if it were the SOURCE topic's partitions: each record is delivered with the source partition
 * and offset of its envelope, so that
 *
 * - the engine's positions in a checkpoint are, per source partition, the next source offset this
 *   job has processed — the high-water mark that drops duplicates. A record whose source offset is
 *   below it (a repartitioner re-sent what it had written before it crashed, or a zombie wrote it
 *   twice) is dropped here, before the engine sees it. The idempotent producer keeps each
 *   repartitioner's records in order per internal partition, so what passes is each source
 *   partition's records in offset order, each once.
 * - watermarks are per source partition (ARCHITECTURE §3.2): a source partition whose
 *   repartitioner lags holds this job's watermark back instead of seeing its records judged late
 *   against another source partition's progress.
 *
 * Where to read the internal partition from after a restore: the group's committed offset of the
 * internal partition, written by `commit` only after a checkpoint covering it is durable (so it is
 * never ahead of the restored checkpoint; behind only means re-reading what the dedupe drops);
 * none: from its first retained record.
 *
 * Drain: the input ends once every source partition has been repartitioned up to its end (the
 * repartitioners' committed offsets, `drain.repartitioned`) and this partition has been read up
 * to its end offset taken after that.
 */
import type { PollResult, SourceReader, SourceRecord } from '../../engine/index.ts';
import type { KafkaSource } from './kafka-source.ts';
import { decodeEnvelope } from './repartition-envelope.ts';

export interface RepartitionedSourceOptions {
  /** A reader of the internal topic over exactly one partition. */
  inner: KafkaSource;
  /** The source topic's partition count: the partitions this reader presents. */
  sourcePartitions: number;
  /** The group's committed offset of the internal partition (undefined: none). */
  committedOffset: () => Promise<number | undefined>;
  /** Drain: whether every source partition was repartitioned to its end, and the internal partition's end now. */
  drain?: { repartitioned: () => Promise<boolean>; endOffset: () => Promise<number> };
  /**
   * A record from a source partition past `sourcePartitions` (partitions were added to the source
   * topic): this reader stops before it and delivers nothing more; the caller restarts the job
   * with the new count (the record is read again from the committed internal offset).
   */
  onSourceGrown?: (sourcePartition: number) => void;
  /**
   * The source partitions that hold records not repartitioned yet (their repartitioner is slow,
   * or dead and not yet replaced). They are never reported caught up, so they never turn idle
   * while behind — the rule of every source (semantics.md "Idleness"), which an internal
   * partition that is merely caught up would otherwise break. Asked at most once a second.
   */
  behind?: () => Promise<ReadonlySet<number>>;
  onWarning?: (message: string) => void;
}

/** How long the answer of `behind` is used before asking again (ms). */
const BEHIND_CHECK_MS = 1000;

/** The internal position after a poll and the source positions then. */
interface Mark {
  internalNext: number;
  next: number[];
}

export class RepartitionedSource implements SourceReader<string> {
  readonly partitions: readonly number[];
  readonly #inner: KafkaSource;
  readonly #internal: number;
  readonly #o: RepartitionedSourceOptions;
  /** Per source partition, the next source offset to deliver (below it: a duplicate). */
  readonly #next: number[];
  /** After each poll that read something: the internal position and the source positions then. */
  #marks: Mark[] = [];
  #endAt: number | undefined;
  #foreignWarned = false;
  /** Stopped before a record of a source partition it does not present (see `onSourceGrown`). */
  #heldAt: number | undefined;
  #behind: { set: ReadonlySet<number>; atMs: number } | undefined;
  /** Duplicates dropped so far (tests and the report read it). */
  duplicatesDropped = 0;

  constructor(o: RepartitionedSourceOptions) {
    if (o.inner.partitions.length !== 1) throw new RangeError('a repartitioned source reads one internal partition');
    this.#o = o;
    this.#inner = o.inner;
    this.#internal = o.inner.partitions[0] as number;
    this.partitions = Array.from({ length: o.sourcePartitions }, (_, i) => i);
    this.#next = this.partitions.map(() => 0);
  }

  /** The internal topic's partition this reader reads. */
  get internalPartition(): number {
    return this.#internal;
  }

  async seek(nextOffsets: ReadonlyMap<number, number>): Promise<void> {
    for (const p of this.partitions) this.#next[p] = nextOffsets.get(p) ?? 0;
    this.#marks = [];
    this.#endAt = undefined;
    this.#heldAt = undefined;
    const committed = await this.#o.committedOffset();
    await this.#inner.seek(committed === undefined ? new Map() : new Map([[this.#internal, committed]]));
  }

  async poll(maxRecords: number, maxWaitMs?: number): Promise<PollResult<string>> {
    const all = this.partitions;
    if (this.#ended()) return { records: [], caughtUp: all, ended: true };
    if (this.#heldAt !== undefined) return { records: [], caughtUp: [] };
    const r = await this.#inner.poll(maxRecords, maxWaitMs);
    const records: SourceRecord<string>[] = [];
    for (const rec of r.records) {
      const env = decodeEnvelope(rec.value);
      if (env !== undefined && env.partition >= this.#next.length && this.#o.onSourceGrown !== undefined) {
        // Nothing at or after this record counts as read: the mark stops before it.
        this.#heldAt = rec.offset;
        this.#marks.push({ internalNext: rec.offset, next: [...this.#next] });
        this.#o.onSourceGrown(env.partition);
        return { records, caughtUp: [] };
      }
      if (env === undefined || env.partition >= this.#next.length) {
        if (!this.#foreignWarned) {
          this.#foreignWarned = true;
          (this.#o.onWarning ?? ((m) => process.stderr.write(`flowmark: ${m}\n`)))(
            `kafka: ${this.#inner.topic} partition ${this.#internal} offset ${rec.offset} was not written by a flowmark repartitioner (or names a source partition past ${this.#next.length - 1}): skipped. Write to the source topics, never to the internal ones.`,
          );
        }
        continue;
      }
      if (env.offset < (this.#next[env.partition] as number)) {
        this.duplicatesDropped++;
        continue;
      }
      this.#next[env.partition] = env.offset + 1;
      records.push({ partition: env.partition, offset: env.offset, value: env.value, timestampMs: env.timestampMs });
    }
    if (r.records.length > 0) {
      this.#marks.push({ internalNext: this.#innerNext(), next: [...this.#next] });
    }
    const innerCaughtUp = r.caughtUp?.includes(this.#internal) === true;
    if (this.#o.drain !== undefined && innerCaughtUp && this.#endAt === undefined) {
      if (await this.#o.drain.repartitioned()) this.#endAt = await this.#o.drain.endOffset();
    }
    return { records, caughtUp: innerCaughtUp ? await this.#caughtUp() : [], ended: this.#ended() };
  }

  /** The internal partition is caught up: the source partitions that are too (not `behind`). */
  async #caughtUp(): Promise<readonly number[]> {
    const behind = this.#o.behind;
    if (behind === undefined) return this.partitions;
    const now = Date.now();
    if (this.#behind === undefined || now - this.#behind.atMs >= BEHIND_CHECK_MS) {
      // Unknown (the broker away): nobody is caught up, so nothing turns idle on a guess.
      const set = await behind().catch(() => new Set(this.partitions));
      this.#behind = { set, atMs: now };
    }
    const set = this.#behind.set;
    return this.partitions.filter((p) => !set.has(p));
  }

  readRound(): number {
    return this.#inner.readRound();
  }

  lag(): number {
    return this.#inner.lag();
  }

  /**
   * The checkpoint covering `nextOffsets` (source positions) is durable: mirror, as the group's
   * offset of the internal partition, the furthest internal position all of whose records it
   * covers.
   */
  async commit(nextOffsets: ReadonlyMap<number, number>): Promise<void> {
    let covered: number | undefined;
    let drop = 0;
    for (let i = 0; i < this.#marks.length; i++) {
      const m = this.#marks[i] as Mark;
      if (!m.next.every((n, p) => n <= (nextOffsets.get(p) ?? 0))) break;
      covered = m.internalNext;
      drop = i + 1;
    }
    if (covered === undefined) return;
    this.#marks.splice(0, drop);
    await this.#inner.commit(new Map([[this.#internal, covered]]));
  }

  interrupt(): void {
    this.#inner.interrupt();
  }

  async close(): Promise<void> {
    await this.#inner.close();
  }

  #innerNext(): number {
    return this.#inner.positions().get(this.#internal) ?? 0;
  }

  #ended(): boolean {
    return this.#endAt !== undefined && this.#innerNext() >= this.#endAt;
  }
}
