/**
 * Damage in the middle of a segment (a flipped bit, a bad sector) and its quarantine.
 *
 * A damaged region is a run of bytes where a record should start that is not a valid record,
 * followed by a valid one (or by the end of a segment that is no longer written): offsets
 * [firstOffset, endOffset) are unreadable. What happens to it depends on who still needs it:
 * - a reader whose position is past endOffset has processed those records: the region is history,
 *   skipped and reported (`onDamage`); records already covered by every consumer's committed
 *   position are history for everyone;
 * - a reader that must deliver them throws `FM_LOG_CORRUPT` naming the segment, byte and offsets,
 *   and `flowmark log repair`;
 * - `quarantine` (what `flowmark log repair` calls) copies the region's bytes to
 *   `quarantine/<topic>-<partition>-<first>-<end>.bin` in the log directory and records it in the
 *   partition's `quarantine.json`; from then on every reader jumps over it, and every later record
 *   keeps its offset and is read as before. Segment files are never rewritten.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { FlowmarkError } from '../../engine/index.ts';
import { describeFrameFailure, FRAME_HEADER_BYTES, readU64 } from './log-frame.ts';
import { findValidFrameAfter, readFully } from './log-segment.ts';

const MANIFEST = 'quarantine.json';

/** A damaged region of a segment. */
export interface LogDamage {
  topic: string;
  partition: number;
  /** The segment file and its base offset. */
  file: string;
  base: number;
  /** Where the damage starts in the file. */
  position: number;
  /** Where the next valid record starts; undefined: the damage runs to the end of the file. */
  resumePosition: number | undefined;
  /** The unreadable offsets: [firstOffset, endOffset). */
  firstOffset: number;
  endOffset: number;
  /** What is wrong with the bytes at `position`. */
  problem: string;
}

/** A region recorded in `quarantine.json`: readers jump from `position` to `resumePosition`. */
export interface QuarantinedRegion {
  base: number;
  position: number;
  resumePosition: number | undefined;
  firstOffset: number;
  endOffset: number;
  /** The copy of the damaged bytes. */
  copy: string;
  quarantinedAtMs: number;
}

/** The regions quarantined in a partition directory (none when it has no manifest). */
export function readQuarantine(partitionDir: string): QuarantinedRegion[] {
  const file = join(partitionDir, MANIFEST);
  if (!existsSync(file)) return [];
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { regions?: QuarantinedRegion[] };
    return Array.isArray(parsed.regions) ? parsed.regions : [];
  } catch (err) {
    throw new FlowmarkError(
      'FM_LOG_CORRUPT',
      `${file} cannot be read (${(err as Error).message}): it lists the quarantined regions of the partition; restore it from a backup, or delete it and run \`flowmark log repair\` again`,
      { cause: err },
    );
  }
}

/** The quarantined region starting at `position` of segment `base`, if any. */
export function quarantinedAt(partitionDir: string, base: number, position: number): QuarantinedRegion | undefined {
  return readQuarantine(partitionDir).find((r) => r.base === base && r.position === position);
}

/**
 * Finds the extent of the damage at `position` of an open segment (`fd`, readable up to
 * `fileEnd`) where offset `expectedOffset` should be: up to the next valid record, or, in a
 * segment no longer written (`nextBase` given), to its end. Undefined when no valid record
 * follows in the last segment: a torn tail or a write in progress, not damage.
 */
export function locateDamage(
  fd: number,
  where: { topic: string; partition: number; file: string; base: number },
  position: number,
  expectedOffset: number,
  code: number,
  fileEnd: number,
  nextBase: number | undefined,
): LogDamage | undefined {
  const found = findValidFrameAfter(fd, position, fileEnd, expectedOffset);
  const problem = describeFrameFailure(code);
  if (found >= 0) {
    const head = Buffer.alloc(FRAME_HEADER_BYTES);
    readFully(fd, head, found, FRAME_HEADER_BYTES);
    const endOffset = readU64(head, 8);
    return { ...where, position, resumePosition: found, firstOffset: expectedOffset, endOffset, problem };
  }
  if (nextBase === undefined) return undefined;
  return { ...where, position, resumePosition: undefined, firstOffset: expectedOffset, endOffset: nextBase, problem };
}

/** "offset 5" or "offsets 5–7". */
export function offsetsOf(d: { firstOffset: number; endOffset: number }): string {
  return d.endOffset - d.firstOffset <= 1 ? `offset ${d.firstOffset}` : `offsets ${d.firstOffset}–${d.endOffset - 1}`;
}

/** A reader must deliver damaged records: what is wrong, where, and what to do. */
export function damagedRecordError(d: LogDamage): FlowmarkError {
  return new FlowmarkError(
    'FM_LOG_CORRUPT',
    `log topic ${d.topic} partition ${d.partition}: ${offsetsOf(d)} cannot be read — segment ${d.file} holds ${d.problem} at byte ${d.position}` +
      `${d.resumePosition === undefined ? ' up to its end' : `, and valid records again from byte ${d.resumePosition} (offset ${d.endOffset})`}. ` +
      'They have not been processed yet, so flowmark stops rather than skip them. Run `flowmark log repair` (same --data-dir): ' +
      'it copies the damaged bytes to a quarantine file and a dead letter and keeps every later record; then run again. ' +
      `(\`flowmark log check\` lists all damage.)`,
  );
}

/** Writes `data` to `file` durably (temporary file, fsync, rename). */
function writeDurably(file: string, data: string | Buffer, fsync: boolean): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  if (fsync) {
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  renameSync(tmp, file);
}

/**
 * Quarantines a damaged region: its bytes are copied to `<logDir>/quarantine/…` and the region is
 * added to the partition's `quarantine.json`, so readers jump over it. Returns the region and the
 * bytes. The caller holds the log's writer lock.
 */
export function quarantine(
  logDir: string,
  partitionDir: string,
  d: LogDamage,
  fileEnd: number,
  nowMs: number,
  fsync: boolean,
): { region: QuarantinedRegion; bytes: Buffer } {
  const end = d.resumePosition ?? fileEnd;
  const bytes = Buffer.alloc(Math.max(0, end - d.position));
  const fd = openSync(d.file, 'r');
  try {
    readFully(fd, bytes, d.position, bytes.length);
  } finally {
    closeSync(fd);
  }
  const dir = join(logDir, 'quarantine');
  mkdirSync(dir, { recursive: true });
  const copy = join(dir, `${d.topic}-${d.partition}-${d.firstOffset}-${d.endOffset}.bin`);
  writeDurably(copy, bytes, fsync);
  const region: QuarantinedRegion = {
    base: d.base,
    position: d.position,
    resumePosition: d.resumePosition,
    firstOffset: d.firstOffset,
    endOffset: d.endOffset,
    copy,
    quarantinedAtMs: nowMs,
  };
  const regions = [
    ...readQuarantine(partitionDir).filter((r) => !(r.base === d.base && r.position === d.position)),
    region,
  ];
  writeDurably(join(partitionDir, MANIFEST), `${JSON.stringify({ regions }, null, 1)}\n`, fsync);
  return { region, bytes };
}
