import {
  FlowmarkError,
  type NodeChunk,
  type SnapshotMeta,
  STATE_CHUNK_FORMAT_VERSION,
  type StoredChunk,
} from '../../engine/index.ts';
import type { SqlClient } from './sql-client.ts';

/**
 * The SQL of the time-bucketed tables' chunks in `<schema>.state_chunks(job, node, tbl, seq,
 * min_time_ms, max_time_ms, expires_at_ms, format, bytes)` (migration 4; primary key (job, node,
 * tbl, seq), index (job, node, expires_at_ms)). A chunk is one row: written once by the
 * checkpoint that took it, deleted whole once expired, never updated per key.
 *
 * `job` is also the shard: a Kafka partition's job has a name of its own (`kafka:<group>:p<N>`),
 * so moving a partition moves its rows and a worker reads only its own.
 */

/** A stored chunk with its compaction level (0: as a checkpoint wrote it) and its expiry. */
export type LeveledChunk = StoredChunk & { level: number; expiresAtMs: number };

/** One statement with its parameters. */
export interface SqlStatement {
  sql: string;
  params: unknown[];
}

/**
 * Chunk bytes sent in one statement at most (one parameter holds them all): a checkpoint's chunks
 * are usually far smaller, and one statement writes them; the one-time upgrade of a large state
 * may take a few.
 */
export const CHUNK_STATEMENT_BYTES = 64 * 1024 * 1024;

/**
 * The statements that add a checkpoint's chunks: one multi-row insert (`unnest` of the chunks'
 * columns) per {@link CHUNK_STATEMENT_BYTES} of bytes — usually one. The bytes of every chunk
 * of a statement travel as ONE `bytea` parameter, cut with `substring` by offset and length: a
 * `bytea` parameter is sent in binary by `pg` (a `bytea[]` array goes as text, each element as
 * hex, doubling the bytes and building a string of them). A chunk written again under its number
 * (the same table and sequence) replaces the row, as the in-memory committer does.
 */
export function chunkInserts(
  table: string,
  job: string,
  chunks: readonly NodeChunk[],
  statementBytes = CHUNK_STATEMENT_BYTES,
): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let from = 0;
  while (from < chunks.length) {
    let to = from;
    let total = 0;
    // At least one chunk per statement, however large (a single chunk cannot be cut).
    while (
      to < chunks.length &&
      (to === from || total + (chunks[to] as NodeChunk).chunk.bytes.length <= statementBytes)
    ) {
      total += (chunks[to] as NodeChunk).chunk.bytes.length;
      to++;
    }
    statements.push(insertOf(table, job, chunks.slice(from, to), total));
    from = to;
  }
  return statements;
}

function insertOf(table: string, job: string, chunks: readonly NodeChunk[], total: number): SqlStatement {
  const bytes = Buffer.allocUnsafe(total);
  const nodes: string[] = [];
  const tbls: string[] = [];
  const seqs: number[] = [];
  const mins: number[] = [];
  const maxs: number[] = [];
  const expiries: number[] = [];
  const offsets: number[] = [];
  const lengths: number[] = [];
  let at = 0;
  for (const { node, chunk } of chunks) {
    bytes.set(chunk.bytes, at);
    nodes.push(node);
    tbls.push(chunk.table);
    seqs.push(chunk.seq);
    mins.push(chunk.minTimeMs);
    maxs.push(chunk.maxTimeMs);
    expiries.push(chunk.expiresAtMs);
    offsets.push(at);
    lengths.push(chunk.bytes.length);
    at += chunk.bytes.length;
  }
  return {
    sql: `INSERT INTO ${table} (job, node, tbl, seq, min_time_ms, max_time_ms, expires_at_ms, format, bytes)
      SELECT $1, u.node, u.tbl, u.seq, u.min_t, u.max_t, u.exp, $2, substring($3::bytea FROM u.off + 1 FOR u.len)
      FROM unnest($4::text[], $5::text[], $6::bigint[], $7::double precision[], $8::double precision[],
                  $9::double precision[], $10::int[], $11::int[]) AS u(node, tbl, seq, min_t, max_t, exp, off, len)
      ON CONFLICT (job, node, tbl, seq) DO UPDATE SET min_time_ms = EXCLUDED.min_time_ms,
        max_time_ms = EXCLUDED.max_time_ms, expires_at_ms = EXCLUDED.expires_at_ms, format = EXCLUDED.format,
        bytes = EXCLUDED.bytes`,
    params: [job, STATE_CHUNK_FORMAT_VERSION, bytes, nodes, tbls, seqs, mins, maxs, expiries, offsets, lengths],
  };
}

/**
 * The one statement that deletes the job's chunks every entry of which has expired by the
 * checkpoint's committed watermarks (`isChunkExpired`: the step's watermark > the chunk's
 * `expires_at_ms`), for the steps `nodes` that have chunks: `DELETE … WHERE job = $1 AND ((node =
 * $2 AND expires_at_ms < $3) OR …)`, one range of the index (job, node, expires_at_ms) per step —
 * no join, so no plan that depends on statistics. Undefined when no step's watermark can expire
 * anything yet (−∞, or absent from the meta).
 */
export function expiredChunksDelete(
  table: string,
  job: string,
  nodes: Iterable<string>,
  meta: SnapshotMeta,
): SqlStatement | undefined {
  const params: unknown[] = [job];
  const ranges: string[] = [];
  for (const node of [...nodes].sort()) {
    const wm = meta.nodes[node]?.watermarkMs;
    if (wm === undefined || wm === Number.NEGATIVE_INFINITY) continue;
    params.push(node, wm);
    ranges.push(`(node = $${params.length - 1} AND expires_at_ms < $${params.length}::double precision)`);
  }
  if (ranges.length === 0) return undefined;
  return { sql: `DELETE FROM ${table} WHERE job = $1 AND (${ranges.join(' OR ')})`, params };
}

interface ChunkRow {
  node: string;
  tbl: string;
  seq: string;
  format: number;
  level: number;
  expires_at_ms: number;
  size: number;
  /** Null when the chunk is larger than a slice: read in slices then. */
  bytes: Uint8Array | null;
}

/**
 * Reads every stored chunk of `job`, in primary-key order, named `job/node/tbl/seq` (the name
 * errors use). The scan's plan does not depend on table statistics (issue 15: `state`'s keyset
 * pages were planned as a bitmap scan and a sort until the table was analyzed, 20× slower): the
 * transaction turns off sequential scans, bitmap scans and sorts, which leaves the primary key's
 * index scan, already in order, as the only plan without a disabled node.
 *
 * Bytes arrive as `Uint8Array` (PGlite) or `Buffer` (`pg`, which decodes the hex text with
 * `Buffer.from(hex, 'hex')`). A chunk larger than `sliceBytes` is read in slices of that size,
 * each its own primary-key lookup, so that no hex string of a whole large chunk is ever built.
 *
 * A row whose `format` is newer than this flowmark reads fails with `FM_SNAPSHOT_VERSION` naming
 * the chunk, before any chunk is restored (the bytes are checked again, with their CRC, by the
 * table that restores them).
 */
export async function readChunks(
  client: SqlClient,
  table: string,
  job: string,
  sliceBytes: number,
): Promise<LeveledChunk[]> {
  return client.transaction(async (tx) => {
    await tx.query(
      `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
              set_config('enable_sort', 'off', true)`,
    );
    const { rows } = await tx.query<ChunkRow>(chunkScan(table), [job, sliceBytes]);
    const out: LeveledChunk[] = [];
    for (const r of rows) {
      const name = `${job}/${r.node}/${r.tbl}/${r.seq}`;
      const format = Number(r.format);
      if (format > STATE_CHUNK_FORMAT_VERSION) {
        throw new FlowmarkError(
          'FM_SNAPSHOT_VERSION',
          `state chunk ${name} has format version ${format}; this flowmark reads version ` +
            `${STATE_CHUNK_FORMAT_VERSION}: it was written by a newer flowmark, run that one (or a newer one) on this state`,
        );
      }
      const bytes = r.bytes ?? (await readSlices(tx, table, job, r, sliceBytes));
      out.push({
        node: r.node,
        table: r.tbl,
        seq: Number(r.seq),
        bytes,
        name,
        level: Number(r.level),
        expiresAtMs: Number(r.expires_at_ms),
      });
    }
    return out;
  });
}

/** The load's scan of a job's chunks ($1 job, $2 the largest chunk read whole); for tests' EXPLAIN too. */
export function chunkScan(table: string): string {
  // Qualified columns in ORDER BY: a bare `seq` would be the text output column (a sort).
  return `SELECT c.node, c.tbl, c.seq::text AS seq, c.format, c.level, c.expires_at_ms, octet_length(c.bytes) AS size,
            CASE WHEN octet_length(c.bytes) <= $2 THEN c.bytes END AS bytes
          FROM ${table} AS c WHERE c.job = $1 ORDER BY c.node, c.tbl, c.seq`;
}

async function readSlices(
  tx: SqlClient,
  table: string,
  job: string,
  r: ChunkRow,
  sliceBytes: number,
): Promise<Uint8Array> {
  const size = Number(r.size);
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += sliceBytes) {
    const { rows } = await tx.query<{ part: Uint8Array }>(
      `SELECT substring(bytes FROM $5 FOR $6) AS part FROM ${table}
       WHERE job = $1 AND node = $2 AND tbl = $3 AND seq = $4::bigint`,
      [job, r.node, r.tbl, r.seq, at + 1, sliceBytes],
    );
    const part = rows[0]?.part;
    if (part === undefined) {
      throw new FlowmarkError(
        'FM_SINK_FAILED',
        `state chunk ${job}/${r.node}/${r.tbl}/${r.seq} was deleted while it was read: another instance of the ` +
          'job took it over (check that only one runs it)',
      );
    }
    bytes.set(part, at);
  }
  return bytes;
}
