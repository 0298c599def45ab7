/**
 * The errors the embedded log raises, with messages that say where the damage is and what to do.
 *
 * (Damaged records have their error in log-damage.ts.)
 */
import { FlowmarkError } from '../../engine/index.ts';

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
