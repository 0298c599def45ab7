/**
 * Reads every record of a partition, checking each CRC, and lists what is wrong: damaged regions
 * (log-damage.ts), regions already quarantined, a torn tail at the end (cut by the next writable
 * open), records missing between two segments.
 */
import { fstatSync } from 'node:fs';
import { type LogDamage, locateDamage, offsetsOf, quarantinedAt } from './log-damage.ts';
import type { LogPartition } from './log-partition.ts';
import { SegmentCursor } from './log-segment.ts';

/** One finding of a check. */
export interface LogFinding {
  kind: 'damaged' | 'quarantined' | 'torn_tail' | 'missing';
  topic: string;
  partition: number;
  file: string;
  position: number;
  /** The offsets affected: [firstOffset, endOffset). */
  firstOffset: number;
  endOffset: number;
  /** Every consumer of the topic has committed a position past these offsets: history. */
  consumed: boolean;
  /** For a damaged region: where it is, for `quarantine`. */
  damage?: LogDamage;
  /** One line for people. */
  detail: string;
}

const READ_BYTES = 1024 * 1024;

/** Checks every segment of a partition; `committedNext` is the slowest consumer's position, if any. */
export function checkPartition(p: LogPartition, committedNext: number | undefined): LogFinding[] {
  const findings: LogFinding[] = [];
  const bases = [...p.segmentBases()];
  const consumed = (end: number) => committedNext !== undefined && end <= committedNext;
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i] as number;
    const nextBase = bases[i + 1];
    const file = p.segmentPath(base);
    const cursor = new SegmentCursor(file, base, READ_BYTES);
    try {
      const limit = p.readLimit(base);
      for (;;) {
        let code = cursor.next(limit, true);
        while (code > 0) code = cursor.next(limit, true);
        if (code === 0 && cursor.trailingBytes === 0) break;
        const size = Math.min(limit, fstatSync(cursor.fd).size);
        const q = quarantinedAt(p.dir, base, cursor.position);
        if (q !== undefined) {
          findings.push({
            kind: 'quarantined',
            topic: p.topic,
            partition: p.id,
            file,
            position: cursor.position,
            firstOffset: q.firstOffset,
            endOffset: q.endOffset,
            consumed: consumed(q.endOffset),
            detail: `${offsetsOf(q)}: quarantined (copy in ${q.copy}); readers skip them`,
          });
          cursor.moveTo(q.resumePosition ?? size, q.endOffset);
          continue;
        }
        const where = { topic: p.topic, partition: p.id, file, base };
        const d = locateDamage(cursor.fd, where, cursor.position, cursor.expectedOffset, code, size, nextBase);
        if (d === undefined) {
          findings.push({
            kind: 'torn_tail',
            topic: p.topic,
            partition: p.id,
            file,
            position: cursor.position,
            firstOffset: cursor.expectedOffset,
            endOffset: cursor.expectedOffset,
            consumed: true,
            detail: `${size - cursor.position} bytes after the last whole record: a write cut short (or in progress); the next writable open cuts them`,
          });
          break;
        }
        findings.push({
          kind: 'damaged',
          topic: p.topic,
          partition: p.id,
          file,
          position: d.position,
          firstOffset: d.firstOffset,
          endOffset: d.endOffset,
          consumed: consumed(d.endOffset),
          damage: d,
          detail: `${offsetsOf(d)}: ${d.problem} at byte ${d.position}`,
        });
        cursor.moveTo(d.resumePosition ?? size, d.endOffset);
      }
      if (nextBase !== undefined && cursor.expectedOffset < nextBase) {
        findings.push({
          kind: 'missing',
          topic: p.topic,
          partition: p.id,
          file,
          position: cursor.position,
          firstOffset: cursor.expectedOffset,
          endOffset: nextBase,
          consumed: consumed(nextBase),
          detail: `${offsetsOf({ firstOffset: cursor.expectedOffset, endOffset: nextBase })}: missing (the segment ends before the next one starts); restore the partition from a backup`,
        });
      }
    } finally {
      cursor.close();
    }
  }
  return findings;
}
