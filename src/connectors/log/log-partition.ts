/**
 * One partition of a topic: a directory of segment files holding consecutive offsets, the last
 * of which (the active segment) is the only one ever written.
 *
 * Guarantees (writer):
 * - offsets are assigned at append, consecutively from 0, and never change; append times never
 *   decrease within a partition (a clock that steps back is clamped to the last append time);
 * - records are buffered in memory and written in batches; a record is durable once a sync that
 *   began after it was appended completed (see `prepareSync`/`completeSync`, driven by the log's
 *   `flush()`); a rolled segment is synced before the next one is created, so only the last
 *   segment can ever have a torn tail;
 * - on open, the last segment is scanned: a torn tail (an incomplete record, or bad bytes with no
 *   valid record after them) is cut away; bad bytes followed by a valid record are damage
 *   (log-damage.ts): kept, listed, and read past (a quarantined region is jumped over);
 * - retention deletes whole segments from the oldest on, never the active one: by size, by age,
 *   and (`deleteConsumed`) once every consumer has committed past them.
 *
 * Readers see, in a process that writes the partition, only durable records; in a read-only
 * process, whatever the file holds up to the last whole valid record.
 */
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { type LogDamage, locateDamage, quarantinedAt } from './log-damage.ts';
import { writeFailedError } from './log-errors.ts';
import { encodeFrame, FRAME_HEADER_BYTES, readU64 } from './log-frame.ts';
import type { ResolvedLogOptions } from './log-options.ts';
import {
  findValidFrameAfter,
  listSegmentBases,
  readFirstAppendTimeMs,
  readFully,
  SegmentCursor,
  segmentFileName,
} from './log-segment.ts';

/** A torn tail cut away when the log was opened. */
export interface LogRepair {
  topic: string;
  partition: number;
  file: string;
  /** Where the file now ends (the end of the last whole valid record). */
  position: number;
  removedBytes: number;
  /** The first offset that the next append will get. */
  nextOffset: number;
}

/** A segment deleted by retention. */
export interface RetentionDeletion {
  topic: string;
  partition: number;
  baseOffset: number;
  /** The first offset of the following segment: everything below it in this file is gone. */
  endOffset: number;
  file: string;
  bytes: number;
  reason: 'size' | 'age' | 'consumed';
}

/** What one `fdatasync` of a partition covers; handed back to `completeSync`. */
export interface SyncTarget {
  fd: number;
  base: number;
  bytes: number;
  nextOffset: number;
}

const INITIAL_PENDING_BYTES = 64 * 1024;
const RECOVERY_READ_BYTES = 1024 * 1024;
const SCAN_READ_BYTES = 64 * 1024;

/** fsync of a directory, so that a created or deleted file name is durable (a no-op where unsupported). */
export function syncDirectory(dir: string, enabled: boolean): void {
  if (!enabled) return;
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    closeSync(fd);
  }
}

export class LogPartition {
  readonly topic: string;
  readonly id: number;
  readonly dir: string;
  /** Called after the active segment was rolled (the directory enforces retention there). */
  onRoll: (() => void) | undefined;
  readonly #opts: ResolvedLogOptions;
  readonly #writable: boolean;
  #bases: number[] = [];
  /** Sizes of segments that are no longer written (cached). */
  readonly #sealedBytes = new Map<number, number>();
  /** Append time of the first record of each segment (cached). */
  readonly #firstTimes = new Map<number, number>();

  // Writer state.
  #fd = -1;
  #activeBase = 0;
  #written = 0;
  #synced = 0;
  #pending: Buffer = Buffer.alloc(0);
  #view = new DataView(new ArrayBuffer(0));
  #pendingLen = 0;
  #nextOffset = 0;
  #durableOffset = 0;
  #lastAppendTimeMs = 0;
  #syncsInFlight = 0;
  readonly #toClose: number[] = [];
  #failure: Error | undefined;

  // Read-only state: how far the last segment has been scanned for `endOffset()`.
  #scan: { base: number; position: number; nextOffset: number } | undefined;

  constructor(topic: string, id: number, dir: string, opts: ResolvedLogOptions) {
    this.topic = topic;
    this.id = id;
    this.dir = dir;
    this.#opts = opts;
    this.#writable = !opts.readOnly;
  }

  /** Creates the partition directory with an empty first segment (used when a topic is created). */
  static createFiles(dir: string, fsync: boolean): void {
    mkdirSync(dir);
    const fd = openSync(join(dir, segmentFileName(0)), 'wx');
    closeSync(fd);
    syncDirectory(dir, fsync);
  }

  /** Opens the partition: a writer repairs the tail of the last segment and appends after it. */
  open(repairs: LogRepair[], damages: LogDamage[] = []): void {
    this.#bases = listSegmentBases(this.dir);
    if (!this.#writable) return;
    if (this.#bases.length === 0) {
      closeSync(openSync(this.#path(0), 'wx'));
      syncDirectory(this.dir, this.#opts.fsync);
      this.#bases = [0];
    }
    const base = this.#bases.at(-1) as number;
    const path = this.#path(base);
    const end = this.#recover(path, base, repairs, damages);
    this.#fd = openSync(path, 'r+');
    // What a killed writer left in the page cache is durable from here on, so readers may see it.
    if (this.#opts.fsync) fdatasyncSync(this.#fd);
    this.#activeBase = base;
    this.#written = end.position;
    this.#synced = end.position;
    this.#nextOffset = end.nextOffset;
    this.#durableOffset = end.nextOffset;
    this.#lastAppendTimeMs = end.lastAppendTimeMs;
    this.#grow(INITIAL_PENDING_BYTES);
  }

  get writable(): boolean {
    return this.#writable;
  }

  /** The base offsets of the segments, oldest first (a read-only partition re-reads its directory). */
  segmentBases(): readonly number[] {
    if (!this.#writable) this.#bases = listSegmentBases(this.dir);
    return this.#bases;
  }

  segmentPath(base: number): string {
    return this.#path(base);
  }

  /**
   * The file position up to which a reader may read segment `base` now: in the writing process,
   * the durable bytes of the active segment; otherwise the whole file (`Infinity`).
   */
  readLimit(base: number): number {
    if (this.#writable && base === this.#activeBase) return this.#synced;
    return Number.POSITIVE_INFINITY;
  }

  /** True when segment `base` will never grow again (a later segment exists). */
  isSealed(base: number): boolean {
    const bases = this.#bases;
    return bases.length > 0 && base < (bases.at(-1) as number);
  }

  /** The first offset still in the log (retention deletes below it). */
  startOffset(): number {
    const bases = this.segmentBases();
    return bases[0] ?? 0;
  }

  /**
   * The offset after the last record a reader can see now: durable records in the writing
   * process; in a read-only process, the last whole valid record (an unrepaired torn tail is not
   * counted; a record still bad when read again with valid records after it throws
   * `FM_LOG_CORRUPT` — read once, it may have been a write in progress).
   */
  endOffset(): number {
    if (this.#writable) return this.#durableOffset;
    const bases = this.segmentBases();
    const last = bases.at(-1);
    if (last === undefined) return 0;
    if (this.#scan === undefined || this.#scan.base !== last)
      this.#scan = { base: last, position: 0, nextOffset: last };
    const cursor = new SegmentCursor(this.#path(last), last, SCAN_READ_BYTES);
    try {
      cursor.moveTo(this.#scan.position, this.#scan.nextOffset);
      for (;;) {
        let code = cursor.next(Number.POSITIVE_INFINITY, true);
        while (code > 0) code = cursor.next(Number.POSITIVE_INFINITY, true);
        if (code === 0 && cursor.trailingBytes === 0) break;
        const size = fstatSync(cursor.fd).size;
        const found = findValidFrameAfter(cursor.fd, cursor.position, size, cursor.expectedOffset);
        if (found < 0) break;
        // Valid records in a file that grew since the read: the bad bytes may be a record the
        // writer has completed since. Only a record still bad when read again is corruption
        // (`next()` reads from the file what it could not accept).
        code = cursor.next(Number.POSITIVE_INFINITY, true);
        if (code > 0) {
          cursor.unread(code);
          continue;
        }
        // Damage with valid records after it: the end lies beyond (readers of the damaged
        // records report it).
        const q = quarantinedAt(this.dir, last, cursor.position);
        if (q !== undefined) cursor.moveTo(q.resumePosition ?? size, q.endOffset);
        else {
          const head = Buffer.alloc(FRAME_HEADER_BYTES);
          readFully(cursor.fd, head, found, FRAME_HEADER_BYTES);
          cursor.moveTo(found, readU64(head, 8));
        }
      }
      this.#scan.position = cursor.position;
      this.#scan.nextOffset = cursor.expectedOffset;
      return cursor.expectedOffset;
    } finally {
      cursor.close();
    }
  }

  /** The offset the next append gets (in the writing process; includes records not yet durable). */
  get nextOffset(): number {
    return this.#nextOffset;
  }

  /**
   * Buffers one record; returns its offset. It is written in a batch and is durable (and visible
   * to readers) once a later `flush()` of the log resolved.
   */
  append(payload: string, appendTimeMs: number): number {
    if (this.#failure !== undefined || !this.#writable) this.#checkWritable();
    const mostBytes = 3 * payload.length; // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (mostBytes > this.#opts.maxRecordBytes) this.#checkSize(payload);
    const start = this.#pendingLen;
    if (start + FRAME_HEADER_BYTES + mostBytes > this.#pending.length)
      this.#grow(start + FRAME_HEADER_BYTES + mostBytes);
    const t = Math.max(appendTimeMs, this.#lastAppendTimeMs);
    this.#lastAppendTimeMs = t;
    const end = encodeFrame(this.#pending, this.#view, start, this.#nextOffset, t, payload);
    const used = this.#written + start;
    if (used > 0 && used + (end - start) > this.#opts.segmentBytes) {
      // The record belongs in a new segment: write out what precedes it, roll, keep it in front.
      this.#pendingLen = start;
      this.#roll();
      this.#pending.copyWithin(0, start, end);
      this.#pendingLen = end - start;
    } else {
      this.#pendingLen = end;
    }
    if (this.#written + this.#pendingLen === end - start) this.#firstTimes.set(this.#activeBase, t);
    if (this.#pendingLen >= this.#opts.writeBufferBytes) this.#writeOut();
    return this.#nextOffset++;
  }

  /**
   * First half of a flush: writes out the buffered records and says what an `fdatasync` of the
   * active segment will make durable, or undefined when everything is durable already.
   */
  prepareSync(): SyncTarget | undefined {
    this.#checkWritable();
    this.#writeOut();
    if (this.#written === this.#synced) return undefined;
    this.#syncsInFlight++;
    return { fd: this.#fd, base: this.#activeBase, bytes: this.#written, nextOffset: this.#nextOffset };
  }

  /** Runs the `fdatasync` of a target from `prepareSync`, then records what it made durable. */
  async sync(target: SyncTarget): Promise<void> {
    try {
      if (this.#opts.fsync) {
        await new Promise<void>((resolve, reject) => fdatasync(target.fd, (err) => (err ? reject(err) : resolve())));
      }
    } catch (err) {
      // After a failed fsync the kernel may have dropped the dirty pages: nothing can be trusted.
      this.#failure = writeFailedError(this.topic, this.id, err);
      throw this.#failure;
    } finally {
      this.#syncsInFlight--;
      this.#closeSealedIfIdle();
    }
    if (target.base === this.#activeBase && target.bytes > this.#synced) this.#synced = target.bytes;
    if (target.nextOffset > this.#durableOffset) this.#durableOffset = target.nextOffset;
  }

  /**
   * Retention of this partition: deletes the oldest segments (never the active one, and, when
   * `committedNext` is given and `retainUnconsumed` is on, never one holding offsets ≥ it) while
   * the partition is larger than `retentionBytes`, the segment's records are all older than
   * `retentionMs`, or (`deleteConsumed`) all of them are before `committedNext` — every consumer
   * has read past them. Deletes a prefix only, so the offsets still held stay consecutive.
   */
  enforceRetention(committedNext: number | undefined, nowMs: number): RetentionDeletion[] {
    this.#checkWritable();
    const { retentionBytes, retentionMs, retainUnconsumed, deleteConsumed } = this.#opts;
    if (retentionBytes === undefined && retentionMs === undefined && !deleteConsumed) return [];
    const bases = this.#bases;
    let total = this.#written + this.#pendingLen;
    for (let i = 0; i < bases.length - 1; i++) total += this.#segmentBytes(bases[i] as number);
    const deleted: RetentionDeletion[] = [];
    let i = 0;
    for (; i < bases.length - 1; i++) {
      const base = bases[i] as number;
      const nextBase = bases[i + 1] as number;
      if (retainUnconsumed && committedNext !== undefined && nextBase > committedNext) break;
      const bytes = this.#segmentBytes(base);
      let reason: RetentionDeletion['reason'] | undefined;
      if (deleteConsumed && committedNext !== undefined && nextBase <= committedNext) reason = 'consumed';
      else if (retentionBytes !== undefined && total > retentionBytes) reason = 'size';
      else if (retentionMs !== undefined) {
        // Append times never decrease, so every record of this segment is at most as recent as
        // the first record of the next one.
        const nextFirst = this.#firstAppendTimeMs(nextBase);
        if (nextFirst !== undefined && nextFirst < nowMs - retentionMs) reason = 'age';
      }
      if (reason === undefined) break;
      const file = this.#path(base);
      unlinkSync(file);
      total -= bytes;
      this.#sealedBytes.delete(base);
      this.#firstTimes.delete(base);
      deleted.push({
        topic: this.topic,
        partition: this.id,
        baseOffset: base,
        endOffset: nextBase,
        file,
        bytes,
        reason,
      });
    }
    if (i > 0) {
      this.#bases = bases.slice(i);
      syncDirectory(this.dir, this.#opts.fsync);
    }
    return deleted;
  }

  /** Writes out what is buffered and closes the files (the log flushes before calling this). */
  close(): void {
    if (this.#writable && this.#fd >= 0) {
      if (this.#failure === undefined) this.#writeOut();
      this.#toClose.push(this.#fd);
      this.#fd = -1;
    }
    this.#failure ??= new Error(`log topic ${this.topic} partition ${this.id} is closed`);
    this.#closeSealedIfIdle();
  }

  #path(base: number): string {
    return join(this.dir, segmentFileName(base));
  }

  #checkWritable(): void {
    if (!this.#writable) {
      throw new Error(`log topic ${this.topic} partition ${this.id} was opened read-only`);
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  #grow(needed: number): void {
    let size = Math.max(this.#pending.length * 2, INITIAL_PENDING_BYTES);
    while (size < needed) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.#pending.copy(bigger, 0, 0, this.#pendingLen);
    this.#pending = bigger;
    this.#view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
  }

  #checkSize(payload: string): void {
    const bytes = Buffer.byteLength(payload, 'utf8');
    if (bytes > this.#opts.maxRecordBytes) {
      throw new RangeError(
        `log topic ${this.topic}: a payload of ${bytes} bytes is larger than maxRecordBytes (${this.#opts.maxRecordBytes})`,
      );
    }
  }

  /** Writes the buffered records at the end of the active segment (no fsync). */
  #writeOut(): void {
    if (this.#pendingLen === 0) return;
    try {
      let done = 0;
      while (done < this.#pendingLen) {
        done += writeSync(this.#fd, this.#pending, done, this.#pendingLen - done, this.#written + done);
      }
    } catch (err) {
      this.#failure = writeFailedError(this.topic, this.id, err);
      throw this.#failure;
    }
    this.#written += this.#pendingLen;
    this.#pendingLen = 0;
  }

  /** Seals the active segment (written and synced) and starts a new one at the next offset. */
  #roll(): void {
    this.#writeOut();
    try {
      if (this.#opts.fsync) fdatasyncSync(this.#fd);
    } catch (err) {
      this.#failure = writeFailedError(this.topic, this.id, err);
      throw this.#failure;
    }
    this.#sealedBytes.set(this.#activeBase, this.#written);
    this.#toClose.push(this.#fd);
    this.#closeSealedIfIdle();
    const base = this.#nextOffset;
    this.#fd = openSync(this.#path(base), 'wx');
    syncDirectory(this.dir, this.#opts.fsync);
    this.#bases.push(base);
    this.#activeBase = base;
    this.#written = 0;
    this.#synced = 0;
    this.#durableOffset = base;
    this.onRoll?.();
  }

  #closeSealedIfIdle(): void {
    if (this.#syncsInFlight > 0) return;
    for (const fd of this.#toClose.splice(0)) closeSync(fd);
  }

  #segmentBytes(base: number): number {
    let bytes = this.#sealedBytes.get(base);
    if (bytes === undefined) {
      bytes = statSync(this.#path(base)).size;
      this.#sealedBytes.set(base, bytes);
    }
    return bytes;
  }

  #firstAppendTimeMs(base: number): number | undefined {
    let t = this.#firstTimes.get(base);
    if (t === undefined) {
      if (base === this.#activeBase && this.#written === 0) return undefined;
      t = readFirstAppendTimeMs(this.#path(base));
      if (t !== undefined) this.#firstTimes.set(base, t);
    }
    return t;
  }

  /** Scans the last segment; cuts a torn tail away; lists damage followed by valid records in `damages`. */
  #recover(
    path: string,
    base: number,
    repairs: LogRepair[],
    damages: LogDamage[],
  ): { position: number; nextOffset: number; lastAppendTimeMs: number } {
    const cursor = new SegmentCursor(path, base, RECOVERY_READ_BYTES);
    let lastAppendTimeMs = 0;
    let code: number;
    try {
      code = cursor.next(Number.POSITIVE_INFINITY, true);
      if (code > 0) this.#firstTimes.set(base, cursor.appendTimeMs);
      let position: number;
      let nextOffset: number;
      let size: number;
      for (;;) {
        while (code > 0) {
          lastAppendTimeMs = cursor.appendTimeMs;
          code = cursor.next(Number.POSITIVE_INFINITY, true);
        }
        position = cursor.position;
        nextOffset = cursor.expectedOffset;
        if (code === 0 && cursor.trailingBytes === 0) return { position, nextOffset, lastAppendTimeMs };
        size = fstatSync(cursor.fd).size;
        // Damage in the middle (valid records after it) is not a torn tail: it is kept, listed in
        // `damages`, and read past; readers decide whether its records were still needed.
        const q = quarantinedAt(this.dir, base, position);
        const d =
          q === undefined
            ? locateDamage(
                cursor.fd,
                { topic: this.topic, partition: this.id, file: path, base },
                position,
                nextOffset,
                code,
                size,
                undefined,
              )
            : undefined;
        if (q === undefined && d === undefined) break;
        if (d !== undefined) damages.push(d);
        const resume = (q ?? d) as { resumePosition: number | undefined; endOffset: number };
        cursor.moveTo(resume.resumePosition ?? size, resume.endOffset);
        code = cursor.next(Number.POSITIVE_INFINITY, true);
      }
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, position);
        if (this.#opts.fsync) fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
      repairs.push({
        topic: this.topic,
        partition: this.id,
        file: path,
        position,
        removedBytes: size - position,
        nextOffset,
      });
      return { position, nextOffset, lastAppendTimeMs };
    } finally {
      cursor.close();
    }
  }
}
