/**
 * Segment files: naming, listing, sequential buffered reading, and the test that tells a torn
 * tail from corruption.
 *
 * A segment is an append-only file of frames (log-frame.ts) named by the offset of its first
 * record, zero-padded to 20 digits (`00000000000000000000.log`). Within a partition the segments
 * hold consecutive offsets: segment k holds [base_k, base_{k+1}).
 *
 * Guarantees of {@link SegmentCursor}: frames are returned in file order, each checked for length,
 * offset (exactly one more than the previous, starting at the segment's base) and, when asked,
 * CRC; it reads through one reusable buffer (one read system call per buffer-full, never one per
 * record) and never reads past the limit it is given. Bytes that follow a frame it could not
 * accept are dropped from the buffer, so a tail that changes on disk (repaired by a writer,
 * completed by a write in progress) is read again from the file next time.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import {
  checkFrame,
  FRAME_HEADER_BYTES,
  FRAME_LENGTH_OVERHEAD,
  isPlausibleFrame,
  readU64,
  viewU64,
} from './log-frame.ts';

const NAME = /^(\d{20})\.log$/;

/**
 * Decodes UTF-8 bytes `buf[start, end)`. Node's `Buffer#utf8Slice` (what `toString('utf8', …)`
 * calls after checking its arguments) when present: it is measurably faster per short record.
 */
const utf8Slice: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as { utf8Slice?: unknown }).utf8Slice === 'function'
    ? (buf, start, end) => (buf as Buffer & { utf8Slice(start: number, end: number): string }).utf8Slice(start, end)
    : (buf, start, end) => buf.toString('utf8', start, end);

/** `00000000000000000042.log` for base offset 42. */
export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}.log`;
}

/** The base offsets of the segment files in a partition directory, ascending. */
export function listSegmentBases(dir: string): number[] {
  const bases: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = NAME.exec(name);
    if (m !== null) bases.push(Number(m[1]));
  }
  return bases.sort((a, b) => a - b);
}

/** Reads up to `length` bytes at `position` into `buf[0..]`; returns how many were read (fewer only at EOF). */
export function readFully(fd: number, buf: Buffer, position: number, length: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n <= 0) break;
    done += n;
  }
  return done;
}

/** The append time of the first record of a segment file, or undefined when it has none (yet). */
export function readFirstAppendTimeMs(path: string): number | undefined {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(FRAME_HEADER_BYTES);
    if (readFully(fd, head, 0, FRAME_HEADER_BYTES) < FRAME_HEADER_BYTES) return undefined;
    const t = readU64(head, 16);
    return t < 0 ? undefined : t;
  } finally {
    closeSync(fd);
  }
}

const SEARCH_CHUNK_BYTES = 1024 * 1024;

/**
 * Looks for a whole, CRC-valid frame starting anywhere in (from, end) with an offset of at least
 * `expectedOffset`: its existence means the bad bytes at `from` are corruption in the middle of
 * the data, not a torn tail. Returns its position, or -1. Reads the region once, in chunks.
 */
export function findValidFrameAfter(fd: number, from: number, end: number, expectedOffset: number): number {
  const maxOffset = expectedOffset + Math.ceil((end - from) / FRAME_HEADER_BYTES) + 1;
  const chunk = Buffer.allocUnsafe(Math.max(FRAME_HEADER_BYTES, Math.min(SEARCH_CHUNK_BYTES, end - from)));
  let base = from + 1;
  while (base + FRAME_HEADER_BYTES <= end) {
    const n = readFully(fd, chunk, base, Math.min(chunk.length, end - base));
    const lastStart = n - FRAME_HEADER_BYTES;
    if (lastStart < 0) break;
    for (let i = 0; i <= lastStart; i++) {
      const length = chunk.readUInt32BE(i);
      if (length < FRAME_LENGTH_OVERHEAD || base + i + 4 + length > end) continue;
      const offset = readU64(chunk, i + 8);
      if (offset < expectedOffset || offset > maxOffset) continue;
      if (i + 4 + length <= n) {
        if (isPlausibleFrame(chunk, i, n, expectedOffset, maxOffset)) return base + i;
      } else {
        const frame = Buffer.allocUnsafe(4 + length);
        const got = readFully(fd, frame, base + i, frame.length);
        if (isPlausibleFrame(frame, 0, got, expectedOffset, maxOffset)) return base + i;
      }
    }
    base += lastStart + 1;
  }
  return -1;
}

/**
 * Reads the frames of one segment file in order, through one reusable buffer.
 *
 * After `next()` returns a frame size (> 0), `frameOffset`, `appendTimeMs`, `payloadStart` and
 * `payloadEnd` (indexes into `buf`) describe the frame until the next call.
 */
export class SegmentCursor {
  readonly base: number;
  readonly path: string;
  /** The reusable read buffer; grows for a frame larger than it. */
  buf: Buffer;
  /** File position of the next frame. */
  position = 0;
  /** The offset the next frame must have. */
  expectedOffset: number;
  frameOffset = -1;
  payloadStart = 0;
  payloadEnd = 0;
  /** After `next()` returned ≤ 0: bytes present at `position` that did not make a valid frame. */
  trailingBytes = 0;
  readonly #fd: number;
  #view: DataView;
  #bufFilePos = 0;
  #bufLen = 0;

  constructor(path: string, base: number, readBufferBytes: number) {
    this.path = path;
    this.base = base;
    this.expectedOffset = base;
    this.#fd = openSync(path, 'r');
    this.buf = Buffer.allocUnsafe(Math.max(readBufferBytes, FRAME_HEADER_BYTES));
    this.#view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  get fd(): number {
    return this.#fd;
  }

  /** Positions the cursor at a frame boundary `position` whose frame must have `expectedOffset`. */
  moveTo(position: number, expectedOffset: number): void {
    this.position = position;
    this.expectedOffset = expectedOffset;
    this.#bufFilePos = position;
    this.#bufLen = 0;
  }

  /**
   * The next frame before `limit` (a file position; `Infinity` reads what the file holds now).
   * Returns its size (> 0), `FRAME_INCOMPLETE` (0) when no whole frame is there yet — clean end if
   * `trailingBytes` is 0 — or a negative `FRAME_BAD_*` code. Only an accepted frame moves on.
   */
  next(limit: number, verifyCrc: boolean): number {
    let i = this.position - this.#bufFilePos;
    for (;;) {
      const code = checkFrame(this.buf, this.#view, i, this.#bufLen, this.expectedOffset, verifyCrc);
      if (code > 0) {
        this.frameOffset = this.expectedOffset;
        this.payloadStart = i + FRAME_HEADER_BYTES;
        this.payloadEnd = i + code;
        this.position += code;
        this.expectedOffset++;
        return code;
      }
      if (code < 0) return this.#stop(i, code);
      if (!this.#refill(limit)) return this.#stop(this.position - this.#bufFilePos, code);
      i = this.position - this.#bufFilePos;
    }
  }

  /** Steps back over the frame `next()` just returned (of `size` bytes): it will be returned again. */
  unread(size: number): void {
    this.position -= size;
    this.expectedOffset--;
  }

  /** The append time of the last frame returned by `next()`. */
  get appendTimeMs(): number {
    return viewU64(this.#view, this.payloadStart - 8);
  }

  /** The payload of the last frame returned by `next()`. */
  payload(): string {
    return utf8Slice(this.buf, this.payloadStart, this.payloadEnd);
  }

  close(): void {
    closeSync(this.#fd);
  }

  /** Ends a `next()` that found no acceptable frame at buffer index `i`. */
  #stop(i: number, code: number): number {
    this.trailingBytes = this.#bufLen - i;
    // Forget what follows: it may be rewritten (a repaired tail) or completed (a write in progress).
    this.#bufLen = i;
    return code;
  }

  /** Moves the unread bytes to the front of the buffer and reads more; false when nothing more can be read. */
  #refill(limit: number): boolean {
    const i = this.position - this.#bufFilePos;
    const keep = this.#bufLen - i;
    if (i > 0) {
      this.buf.copyWithin(0, i, this.#bufLen);
      this.#bufFilePos = this.position;
      this.#bufLen = keep;
    }
    if (keep >= 4) {
      const size = 4 + this.buf.readUInt32BE(0);
      if (size > this.buf.length) {
        // A frame larger than the buffer: grow, but only if the file really holds that many bytes.
        const fileEnd = Math.min(limit, fstatSync(this.#fd).size);
        if (this.position + size > fileEnd) return false;
        const bigger = Buffer.allocUnsafe(size);
        this.buf.copy(bigger, 0, 0, keep);
        this.buf = bigger;
        this.#view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
      }
    }
    const filePos = this.#bufFilePos + this.#bufLen;
    const want = Math.min(this.buf.length - this.#bufLen, limit - filePos);
    if (want <= 0) return false;
    const n = readSync(this.#fd, this.buf, this.#bufLen, want, filePos);
    if (n <= 0) return false;
    this.#bufLen += n;
    return true;
  }
}
