/**
 * The byte format of one record in a segment file (all integers big-endian):
 *
 * ```
 * length        u32   bytes that follow this field: 20 + payload bytes
 * crc           u32   CRC-32 (IEEE) of everything after this field: offset, append time, payload
 * offset        u64   the record's offset in its partition
 * appendTimeMs  u64   when the producer appended it (ms since the epoch)
 * payload       bytes the raw line, UTF-8
 * ```
 *
 * Guarantees: a frame is accepted only if its length is at least 20, it lies entirely before the
 * end of the readable bytes, its offset is the one expected at that place, and (when checked) its
 * CRC matches. Offsets and times are integers below 2^53 (written as two u32 halves).
 */
import { crc32 } from './crc32.ts';

/** Bytes before the payload: length, crc, offset, append time. */
export const FRAME_HEADER_BYTES = 24;
/** What `length` counts besides the payload: crc, offset, append time. */
export const FRAME_LENGTH_OVERHEAD = 20;

/** `checkFrame` results other than a frame size (> 0). */
export const FRAME_INCOMPLETE = 0;
export const FRAME_BAD_LENGTH = -1;
export const FRAME_BAD_OFFSET = -2;
export const FRAME_BAD_CRC = -3;

const TWO_32 = 4294967296;

export function describeFrameFailure(code: number): string {
  switch (code) {
    case FRAME_INCOMPLETE:
      return 'an incomplete record (its length runs past the end of the file)';
    case FRAME_BAD_LENGTH:
      return 'an impossible record length';
    case FRAME_BAD_OFFSET:
      return 'a record whose offset is not the next one';
    case FRAME_BAD_CRC:
      return 'a record whose CRC-32 does not match its contents';
    default:
      return `record check result ${code}`;
  }
}

/** Reads a big-endian u64; returns -1 when it is 2^53 or more (not a valid offset or time). */
export function readU64(buf: Buffer, pos: number): number {
  const hi = buf.readUInt32BE(pos);
  if (hi >= 0x200000) return -1;
  return hi * TWO_32 + buf.readUInt32BE(pos + 4);
}

/**
 * Encodes one record at `buf[pos]` (`view` is a DataView over the same bytes). The caller made
 * room for `FRAME_HEADER_BYTES + 3 × payload.length` bytes (the most UTF-8 can take). Returns the
 * position after the frame.
 */
export function encodeFrame(
  buf: Buffer,
  view: DataView,
  pos: number,
  offset: number,
  appendTimeMs: number,
  payload: string,
): number {
  const payloadBytes = payload.length === 0 ? 0 : buf.write(payload, pos + FRAME_HEADER_BYTES, 'utf8');
  const end = pos + FRAME_HEADER_BYTES + payloadBytes;
  view.setUint32(pos, FRAME_LENGTH_OVERHEAD + payloadBytes);
  view.setUint32(pos + 8, Math.floor(offset / TWO_32));
  view.setUint32(pos + 12, offset >>> 0);
  view.setUint32(pos + 16, Math.floor(appendTimeMs / TWO_32));
  view.setUint32(pos + 20, appendTimeMs >>> 0);
  view.setUint32(pos + 4, crc32(buf, pos + 8, end));
  return end;
}

/** Reads a big-endian u64 through a DataView; -1 when it is 2^53 or more. */
export function viewU64(view: DataView, pos: number): number {
  const hi = view.getUint32(pos);
  if (hi >= 0x200000) return -1;
  return hi * TWO_32 + view.getUint32(pos + 4);
}

/**
 * Checks the frame starting at `buf[pos]` (`view` is a DataView over the same bytes), given that
 * the readable bytes end at `buf[end]`. Returns the frame's total size (> 0) when it is whole and
 * valid, `FRAME_INCOMPLETE` when more bytes are needed to tell, or a negative `FRAME_BAD_*` code.
 */
export function checkFrame(
  buf: Buffer,
  view: DataView,
  pos: number,
  end: number,
  expectedOffset: number,
  verifyCrc: boolean,
): number {
  if (end - pos < 4) return FRAME_INCOMPLETE;
  const length = view.getUint32(pos);
  if (length < FRAME_LENGTH_OVERHEAD) return FRAME_BAD_LENGTH;
  const size = 4 + length;
  if (end - pos < size) return FRAME_INCOMPLETE;
  if (viewU64(view, pos + 8) !== expectedOffset) return FRAME_BAD_OFFSET;
  if (verifyCrc && crc32(buf, pos + 8, pos + size) !== view.getUint32(pos + 4)) return FRAME_BAD_CRC;
  return size;
}

/**
 * True when a whole, CRC-valid frame whose offset lies in [minOffset, maxOffset] starts at
 * `buf[pos]` (readable bytes end at `end`). Used to tell a torn tail from corruption.
 */
export function isPlausibleFrame(buf: Buffer, pos: number, end: number, minOffset: number, maxOffset: number): boolean {
  if (end - pos < FRAME_HEADER_BYTES) return false;
  const length = buf.readUInt32BE(pos);
  if (length < FRAME_LENGTH_OVERHEAD || end - pos < 4 + length) return false;
  const offset = readU64(buf, pos + 8);
  if (offset < minOffset || offset > maxOffset) return false;
  return crc32(buf, pos + 8, pos + 4 + length) === buf.readUInt32BE(pos + 4);
}
