/**
 * Reads one topic of a {@link LogDirectory} as an engine `SourceReader<string>`: each record's
 * value is its payload (the raw line), parsed later by the pipeline, as with Kafka.
 *
 * Guarantees:
 * - per partition, records come in offset order, each exactly once from the position the reader
 *   starts at (the first retained offset, or where `seek` put it); every record's CRC is checked
 *   (unless `verifyChecksums: false`); damage in a record the reader must deliver throws
 *   `FM_LOG_CORRUPT` naming `flowmark log repair`, never skipped; damage in records before its
 *   position (processed already) is skipped and told to `onDamage`; a quarantined region
 *   (log-damage.ts) is jumped over, its offsets missing like offsets deleted by retention;
 * - a poll shares `maxRecords` fairly among the partitions that have records (each gets an equal
 *   quota, and what one cannot use goes to the others; the first partition served rotates);
 * - `caughtUp` lists the partitions with nothing more to read right now; records appended later
 *   are seen by later polls (a live tail: file sizes and new segments are checked on each poll);
 * - with `endAtOpen: true` (drain mode, `flowmark run --drain`) the end offsets when the reader
 *   was opened are the end of input: records appended later are not delivered, and `ended` is
 *   true once every partition reached its end offset (at once for an empty topic); without it,
 *   `ended` is never true;
 * - a reader in the process that writes the log sees only durable (flushed) records; a reader in
 *   another process sees what the writer wrote, up to the last whole valid record;
 * - positions below the first retained offset (deleted by retention) start at the first retained
 *   one: the offsets in between are gone, and the next record delivered says so by its offset;
 *   `seek` past the end of the log throws `FM_LOG_CORRUPT` (the log lost processed records).
 *
 * Reading is buffered: one read system call fills a buffer of `readBufferBytes` (256 KiB) with
 * many records.
 */

import { fstatSync } from 'node:fs';
import { FlowmarkError, type PollResult, type SourceReader, type SourceRecord } from '../../engine/index.ts';
import { damagedRecordError, type LogDamage, locateDamage, quarantinedAt } from './log-damage.ts';
import type { LogDirectory } from './log-directory.ts';
import { behindCheckpointError } from './log-errors.ts';
import { checkName } from './log-options.ts';
import type { LogPartition } from './log-partition.ts';
import { findValidFrameAfter, SegmentCursor } from './log-segment.ts';
import type { LogTopic } from './log-topic.ts';

export interface LogSourceOptions {
  /** The partitions to read (default: all of the topic). */
  partitions?: readonly number[];
  /** Drain mode: the end offsets at open are the end of input (default false: a live tail). */
  endAtOpen?: boolean;
  /** The name under which `commit` records positions in the log directory (default `default`). */
  consumer?: string;
  /**
   * Record the start position as the consumer's committed one when it has none, so that
   * retention keeps what it is about to read (default true). A reader that only looks (a tool,
   * a resumed import checking what is there) passes false: it must not hold retention back.
   */
  register?: boolean;
  /** Bytes read per system call, per partition (default 256 KiB). */
  readBufferBytes?: number;
  /** Check every record's CRC-32 (default true). */
  verifyChecksums?: boolean;
  /**
   * Told of each damaged region the reader skipped because its records are all before the
   * reader's position (processed already: history). Damage in records it must deliver throws
   * `FM_LOG_CORRUPT` instead. Default: nothing is told.
   */
  onDamage?: (damage: LogDamage) => void;
}

const DEFAULT_READ_BUFFER_BYTES = 256 * 1024;

/** The reading state of one partition. */
interface PartitionState {
  readonly id: number;
  readonly log: LogPartition;
  /** The next offset to deliver. */
  next: number;
  /** Drain mode: the end of input for this partition. */
  readonly end: number | undefined;
  cursor: SegmentCursor | undefined;
  /** Base of the segment whose end was read again after a newer segment appeared. */
  recheckedBase: number;
}

/**
 * Offsets per partition per round of the read schedule (see `LogSource.poll`). Smaller keeps the
 * partitions closer together in event time (fewer records behind the minimum watermark); larger
 * means fewer polls.
 */
export const READ_CHUNK = 256;

export class LogSource implements SourceReader<string> {
  readonly partitions: readonly number[];
  readonly topic: string;
  readonly #log: LogDirectory;
  readonly #topic: LogTopic;
  readonly #states: PartitionState[];
  readonly #consumer: string;
  readonly #readBufferBytes: number;
  readonly #verify: boolean;
  readonly #drain: boolean;
  readonly #onDamage: ((damage: LogDamage) => void) | undefined;
  /** Damaged regions already told to `onDamage` (file:position). */
  readonly #toldDamage = new Set<string>();
  /** The read schedule (see `poll`): the current round and the partition whose turn it is. */
  #round = 0;
  #turn = 0;
  #closed = false;

  /**
   * @example
   * const reader = new LogSource(log, 'clicks', { endAtOpen: true, consumer: 'pipeline' });
   * reader.poll(1024); // { records: [{ partition: 0, offset: 0, value: '{"click_id":…}' }, …], caughtUp: [], ended: false }
   */
  constructor(log: LogDirectory, topic: string, options: LogSourceOptions = {}) {
    this.#log = log;
    this.topic = topic;
    this.#topic = log.topic(topic);
    this.#consumer = options.consumer ?? 'default';
    checkName('consumer', this.#consumer);
    this.#readBufferBytes = options.readBufferBytes ?? DEFAULT_READ_BUFFER_BYTES;
    if (!Number.isSafeInteger(this.#readBufferBytes) || this.#readBufferBytes < 64) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `log source readBufferBytes must be an integer ≥ 64, got ${this.#readBufferBytes}`,
      );
    }
    this.#verify = options.verifyChecksums ?? true;
    this.#drain = options.endAtOpen ?? false;
    this.#onDamage = options.onDamage;
    const ids = options.partitions ?? this.#topic.partitions.map((p) => p.id);
    if (new Set(ids).size !== ids.length)
      throw new FlowmarkError('FM_CONFIG_INVALID', `log source ${topic}: partitions repeat: ${ids.join(', ')}`);
    this.partitions = [...ids];
    this.#states = this.partitions.map((id) => {
      const p = this.#topic.partition(id);
      return {
        id,
        log: p,
        next: p.startOffset(),
        end: this.#drain ? p.endOffset() : undefined,
        cursor: undefined,
        recheckedBase: -1,
      };
    });
    if (options.register !== false && this.#topic.readCommitted(this.#consumer) === undefined) {
      this.commit(this.#positions());
    }
  }

  /** The next offset this reader will deliver, per partition. */
  positions(): Map<number, number> {
    return this.#positions();
  }

  /**
   * Resumes at `nextOffsets` (a partition not named starts at its first retained offset).
   * Throws `FM_LOG_CORRUPT` for a position past the end of the log.
   */
  seek(nextOffsets: ReadonlyMap<number, number>): void {
    this.#checkOpen();
    // Check every position before moving any partition.
    const nexts = this.#states.map((s) => {
      const wanted = nextOffsets.get(s.id);
      const start = s.log.startOffset();
      if (wanted === undefined) return start;
      if (!Number.isSafeInteger(wanted) || wanted < 0) {
        throw new RangeError(`log source ${this.topic}: bad offset ${wanted} for partition ${s.id}`);
      }
      const end = s.log.endOffset();
      if (wanted > end) throw behindCheckpointError(this.topic, s.id, wanted, end);
      return Math.max(wanted, start);
    });
    this.#states.forEach((s, i) => {
      s.cursor?.close();
      s.cursor = undefined;
      s.recheckedBase = -1;
      s.next = nexts[i] as number;
    });
    // Replay the schedule from its start: rounds the positions are already past read nothing.
    this.#round = 0;
    this.#turn = 0;
  }

  lag(): number {
    let n = 0;
    for (const s of this.#states) n += Math.max(0, s.log.endOffset() - s.next);
    return n;
  }

  /**
   * Reads in a fixed schedule: rounds of {@link READ_CHUNK} offsets — round k reads every partition,
   * in order, up to offset (k + 1) × READ_CHUNK — and a poll never goes past the end of the
   * current round. The order of records (and so the watermark, the minimum over partitions, at
   * every record) depends only on the log's contents, never on poll sizes or on where a run was
   * restarted; with several sources, the runtime reads the source with the lowest `readRound()`
   * first, so the order over all sources is fixed too. A run resumed from any checkpoint thus
   * judges exactly the same records late as a run that never stopped (ARCHITECTURE §3.7).
   * Resuming needs no saved schedule: from the positions of a checkpoint, the rounds already
   * done are skipped. (Live input: a partition with nothing to read at its turn is read at its
   * next turn, so there the order also depends on when records arrive.)
   */
  poll(maxRecords: number): PollResult<string> {
    this.#checkOpen();
    const states = this.#states;
    const n = states.length;
    const records: SourceRecord<string>[] = [];
    const exhausted = new Array<boolean>(n).fill(false);
    this.#normalize();
    const boundary = (this.#round + 1) * READ_CHUNK;
    while (records.length < maxRecords && this.#turn < n) {
      const i = this.#turn;
      const s = states[i] as PartitionState;
      if (s.next < boundary) {
        const want = Math.min(boundary - s.next, maxRecords - records.length);
        if (this.#read(s, want, records)) exhausted[i] = true;
        // The poll is full in the middle of this partition's chunk: continue it at the next poll.
        if (!exhausted[i] && s.next < boundary) break;
      }
      this.#turn++;
    }
    if (this.#turn === n) this.#normalize();
    const caughtUp: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = states[i] as PartitionState;
      // Also a partition this poll did not reach, when it has nothing to read.
      if (exhausted[i] || !this.#hasData(s)) caughtUp.push(s.id);
    }
    const ended = this.#drain && states.every((s) => s.next >= (s.end as number));
    return { records, caughtUp, ended };
  }

  /**
   * The round of the read schedule this source reads next (see `poll`); +∞ when no partition
   * has anything to read now. The runtime reads the source with the lowest round first.
   */
  readRound(): number {
    this.#checkOpen();
    this.#normalize();
    return this.#states.some((s) => this.#hasData(s)) ? this.#round : Number.POSITIVE_INFINITY;
  }

  #hasData(s: PartitionState): boolean {
    return s.next < (s.end ?? s.log.endOffset());
  }

  /**
   * Moves the schedule to the next round that has something to read, when the current one has
   * nothing left: every partition is past its boundary or has nothing to read now.
   */
  #normalize(): void {
    const states = this.#states;
    for (;;) {
      const boundary = (this.#round + 1) * READ_CHUNK;
      let left = false;
      for (let i = this.#turn; i < states.length && !left; i++) {
        const s = states[i] as PartitionState;
        if (s.next < boundary && this.#hasData(s)) left = true;
      }
      if (left) return;
      let next = Number.POSITIVE_INFINITY;
      for (const s of states) if (this.#hasData(s)) next = Math.min(next, s.next);
      if (next === Number.POSITIVE_INFINITY) {
        // Nothing to read anywhere: wait at the start of the next round for new records.
        if (this.#turn > 0) {
          this.#round++;
          this.#turn = 0;
        }
        return;
      }
      this.#round = Math.max(this.#round + 1, Math.floor(next / READ_CHUNK));
      this.#turn = 0;
    }
  }

  /**
   * Records the consumer's position in the log directory (`<topic>/consumers/<name>.json`), for
   * retention (segments at or after it are kept) and inspection. The exactly-once position of a
   * pipeline is its checkpoint, not this.
   */
  commit(nextOffsets: ReadonlyMap<number, number>): void {
    this.#topic.writeCommitted(this.#consumer, nextOffsets, this.#log.options.nowMs());
    // Segments every consumer has read past are deleted now, not at the next roll: a `run` does
    // not append, so it never rolls.
    if (!this.#log.readOnly && this.#log.options.deleteConsumed && this.#passedASegment(nextOffsets)) {
      this.#log.enforceRetention(this.topic);
    }
  }

  /** True when a position is past the first segment of its partition (cheap: no file is read). */
  #passedASegment(nextOffsets: ReadonlyMap<number, number>): boolean {
    for (const [p, next] of nextOffsets) {
      const second = this.#topic.partitions[p]?.segmentBases()[1];
      if (second !== undefined && next >= second) return true;
    }
    return false;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#states) {
      s.cursor?.close();
      s.cursor = undefined;
    }
  }

  #positions(): Map<number, number> {
    return new Map(this.#states.map((s) => [s.id, s.next]));
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`log source ${this.topic} is closed`);
  }

  /**
   * Delivers up to `quota` records of one partition into `out`. Returns true when the partition
   * has nothing more to read now (caught up, or at its drain end), false when the quota ran out
   * with records left.
   */
  #read(s: PartitionState, quota: number, out: SourceRecord<string>[]): boolean {
    let delivered = 0;
    for (;;) {
      if (s.end !== undefined && s.next >= s.end) return true;
      if (s.cursor === undefined && !this.#openSegment(s)) return true;
      const c = s.cursor as SegmentCursor;
      const skipping = c.expectedOffset < s.next;
      const verify = this.#verify && !skipping;
      const code = c.next(s.log.readLimit(c.base), verify);
      if (code > 0) {
        if (skipping) continue;
        if (delivered === quota) {
          c.unread(code);
          return false;
        }
        out.push({ partition: s.id, offset: c.frameOffset, value: c.payload(), timestampMs: c.appendTimeMs });
        s.next = c.frameOffset + 1;
        delivered++;
        continue;
      }
      if (code < 0 || c.trailingBytes > 0) {
        if (this.#checkTail(s, c, code, verify)) continue;
        return true;
      }
      if (!this.#nextSegment(s, c)) return true;
    }
  }

  /** Opens the segment holding `s.next` (or the first retained one); false if there is none. */
  #openSegment(s: PartitionState): boolean {
    for (let attempt = 0; ; attempt++) {
      const bases = s.log.segmentBases();
      if (bases.length === 0) return false;
      const first = bases[0] as number;
      if (s.next < first) s.next = first;
      let lo = 0;
      let hi = bases.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if ((bases[mid] as number) <= s.next) lo = mid;
        else hi = mid - 1;
      }
      const base = bases[lo] as number;
      try {
        s.cursor = new SegmentCursor(s.log.segmentPath(base), base, this.#readBufferBytes);
        return true;
      } catch (err) {
        // Deleted by retention between listing and opening: list again.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw err;
      }
    }
  }

  /** At the clean end of the current segment: moves to the next one if it exists; false if none. */
  #nextSegment(s: PartitionState, c: SegmentCursor): boolean {
    const bases = s.log.segmentBases();
    const nextBase = bases.find((b) => b > c.base);
    if (nextBase === undefined) return false;
    if (s.recheckedBase !== c.base) {
      // The writer finishes a segment before it creates the next: read this one's end once more.
      s.recheckedBase = c.base;
      return true;
    }
    // A segment deleted by retention while it was being read leaves a gap: go on at the first retained offset.
    const deleted = !bases.includes(c.base);
    if (!deleted && nextBase !== c.expectedOffset) {
      throw new FlowmarkError(
        'FM_LOG_CORRUPT',
        `log topic ${this.topic} partition ${s.id}: segment ${c.path} ends before offset ${c.expectedOffset}, ` +
          `but the next segment starts at offset ${nextBase}: records are missing. Restore the partition's directory from a backup.`,
      );
    }
    c.close();
    s.cursor = undefined;
    return this.#openSegment(s);
  }

  /**
   * Bytes that are not a valid record where one should be. In a segment no longer written, or
   * followed by a valid record, that is corruption (`FM_LOG_CORRUPT`); at the end of the last
   * segment it is a write in progress or a torn tail the writer will cut away: wait (false).
   * Returns true when the cursor must read on: the segment was just found sealed (its end must be
   * read once more), or the record was completed by the writer after it was read.
   */
  #checkTail(s: PartitionState, c: SegmentCursor, code: number, verify: boolean): boolean {
    const bases = s.log.segmentBases();
    if (s.log.isSealed(c.base)) {
      if (s.recheckedBase !== c.base) {
        s.recheckedBase = c.base;
        return true;
      }
      const nextBase = bases.find((b) => b > c.base) as number;
      return this.#damaged(s, c, code, fstatSync(c.fd).size, nextBase);
    }
    const end = Math.min(s.log.readLimit(c.base), fstatSync(c.fd).size);
    const found = findValidFrameAfter(c.fd, c.position, end, c.expectedOffset);
    if (found < 0) return false;
    // The file grew since the read: the bad bytes may be a record the writer has completed since.
    // Only a record still bad when read again is damage (`next()` reads it from the file).
    const again = c.next(s.log.readLimit(c.base), verify);
    if (again > 0) {
      c.unread(again);
      return true;
    }
    return this.#damaged(s, c, again, end, undefined);
  }

  /**
   * Damage at the cursor: a quarantined region, or one whose records this reader has processed
   * already, is jumped over (true); one it must deliver throws `FM_LOG_CORRUPT` naming
   * `flowmark log repair`. False: no valid record follows in the last segment (wait).
   */
  #damaged(s: PartitionState, c: SegmentCursor, code: number, fileEnd: number, nextBase: number | undefined): boolean {
    const q = quarantinedAt(s.log.dir, c.base, c.position);
    if (q !== undefined) {
      c.moveTo(q.resumePosition ?? fileEnd, q.endOffset);
      return true;
    }
    const where = { topic: this.topic, partition: s.id, file: c.path, base: c.base };
    const d = locateDamage(c.fd, where, c.position, c.expectedOffset, code, fileEnd, nextBase);
    // (Only in the last segment: nothing valid follows, a write in progress or a torn tail.)
    if (d === undefined) return false;
    if (d.endOffset > s.next) throw damagedRecordError(d);
    const id = `${d.file}:${d.position}`;
    if (!this.#toldDamage.has(id)) {
      this.#toldDamage.add(id);
      this.#onDamage?.(d);
    }
    c.moveTo(d.resumePosition ?? fileEnd, d.endOffset);
    return true;
  }
}
