import { reviveInfinity, type SnapshotMeta } from '../../engine/index.ts';
import { qualified, type SqlClient } from './sql-client.ts';
import { sqlError } from './sql-errors.ts';

/** The last checkpoint a job committed, as {@link SqlCommitter} wrote it into `checkpoints`. */
export interface CommittedCheckpoint {
  job: string;
  checkpointId: number;
  /** The epoch of the instance that holds the job now (it may not have committed yet). */
  epoch: number;
  /** Source offsets (the next offset per partition) and the steps' watermarks; ±∞ restored. */
  meta: SnapshotMeta;
  /** When the committing transaction began, on the database's clock (ms since 1970). */
  committedAtMs: number;
  /** How long ago that was, on the database's clock alone (no skew with this host's clock). */
  ageMs: number;
}

/**
 * Reads the last committed checkpoint of each job in `jobs` from the committer's `checkpoints`
 * table, in one statement. A job with no row, or whose row holds no checkpoint yet (an instance
 * took an epoch and committed nothing), is absent from the map. Only this module and the
 * committer know the table's layout: other layers ask here.
 *
 * @example
 * const last = await readLastCheckpoints(db, ['attribution'], { schema: 'flowmark' });
 * last.get('attribution')?.meta.sources.clicks?.offsets['0'] // → 1042 (the next offset of partition 0)
 */
export async function readLastCheckpoints(
  client: SqlClient,
  jobs: readonly string[],
  options: { schema?: string } = {},
): Promise<Map<string, CommittedCheckpoint>> {
  const table = qualified(options.schema ?? 'flowmark', 'checkpoints');
  let rows: CheckpointRow[];
  try {
    // Times as float8 milliseconds: the drivers differ in how they return timestamptz.
    ({ rows } = await client.query<CheckpointRow>(
      `SELECT job, checkpoint_id::text AS checkpoint_id, epoch::text AS epoch, meta::text AS meta,
              (extract(epoch FROM committed_at) * 1000)::float8 AS committed_at_ms,
              (extract(epoch FROM now() - committed_at) * 1000)::float8 AS age_ms
         FROM ${table} WHERE job = ANY($1::text[]) AND checkpoint_id > 0 AND meta IS NOT NULL`,
      [[...jobs]],
    ));
  } catch (err) {
    throw sqlError(
      err,
      'FM_SINK_FAILED',
      `reading the last checkpoints of ${jobs.map((j) => `"${j}"`).join(', ')} failed`,
    );
  }
  const out = new Map<string, CommittedCheckpoint>();
  for (const r of rows) {
    out.set(r.job, {
      job: r.job,
      checkpointId: Number(r.checkpoint_id),
      epoch: Number(r.epoch),
      meta: JSON.parse(r.meta, reviveInfinity) as SnapshotMeta,
      committedAtMs: Number(r.committed_at_ms),
      ageMs: Number(r.age_ms),
    });
  }
  return out;
}

/** {@link readLastCheckpoints} for one job: its last committed checkpoint, or undefined. */
export async function readLastCheckpoint(
  client: SqlClient,
  job: string,
  options: { schema?: string } = {},
): Promise<CommittedCheckpoint | undefined> {
  return (await readLastCheckpoints(client, [job], options)).get(job);
}

/** The next offset per partition of source `source` in a checkpoint (empty when it has none). */
export function nextOffsets(meta: SnapshotMeta, source: string): Map<number, number> {
  const offsets = meta.sources[source]?.offsets ?? {};
  return new Map(Object.entries(offsets).map(([p, o]) => [Number(p), o]));
}

interface CheckpointRow {
  job: string;
  checkpoint_id: string;
  epoch: string;
  meta: string;
  committed_at_ms: number | string;
  age_ms: number | string;
}
