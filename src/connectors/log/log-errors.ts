/**
 * The errors the embedded log raises, with messages that say where the damage is and what to do.
 *
 * Guarantees: damage in the middle of the data is always reported as `FM_LOG_CORRUPT` naming the
 * file, the byte position and the first offset affected; it is never skipped silently.
 */
import { FlowmarkError } from '../../engine/index.ts';
import { describeFrameFailure } from './log-frame.ts';

/** Corruption at `position` of a segment file, with valid records after it (or in a sealed segment). */
export function corruptSegmentError(
  path: string,
  position: number,
  code: number,
  expectedOffset: number,
  validAfter: number | undefined,
): FlowmarkError {
  const where =
    validAfter === undefined ? 'in a segment that is no longer written' : `before valid records at byte ${validAfter}`;
  return new FlowmarkError(
    'FM_LOG_CORRUPT',
    `log segment ${path} is corrupt at byte ${position}: ${describeFrameFailure(code)} where offset ${expectedOffset} ` +
      `should be, ${where}. This is damage in the middle of the log, not a torn tail, so flowmark will not skip it. ` +
      `Restore the partition's directory from a backup; or, to give up offset ${expectedOffset} and every later record ` +
      `of this partition, cut the file to ${position} bytes (truncate -s ${position} '${path}'), move every later ` +
      `segment file of this partition away, reopen the log, and reset the consumers of this topic.`,
  );
}

/** A reader was positioned past the end of the log: the log lost records a consumer already processed. */
export function behindCheckpointError(topic: string, partition: number, wanted: number, end: number): FlowmarkError {
  return new FlowmarkError(
    'FM_LOG_CORRUPT',
    `log topic ${topic} partition ${partition}: asked to resume at offset ${wanted}, but the log ends at offset ${end}. ` +
      'The log has lost records that were already processed (e.g. records read before a power loss made them ' +
      'durable), or the data directory holds a different log than the checkpoint. Restore the log directory that ' +
      'belongs to this checkpoint, or start over with an empty checkpoint.',
  );
}

/** A write or fsync failed: the partition refuses further appends until the log is reopened. */
export function writeFailedError(topic: string, partition: number, cause: unknown): FlowmarkError {
  return new FlowmarkError(
    'FM_SINK_FAILED',
    `writing to log topic ${topic} partition ${partition} failed (${cause instanceof Error ? cause.message : String(cause)}). ` +
      'Records not yet acknowledged by flush() may be lost; close and reopen the log (recovery repairs the tail), ' +
      'then append them again.',
    { cause },
  );
}
