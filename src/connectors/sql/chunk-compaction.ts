import {
  type Checkpoint,
  isChunkExpired,
  type SnapshotMeta,
  STATE_CHUNK_FORMAT_VERSION,
  TimeBucketedTable,
} from '../../engine/index.ts';
import type { SqlClient } from './sql-client.ts';
import type { LeveledChunk } from './state-chunks.ts';

/**
 * Background compaction of `state_chunks` (issue 15): a live job writes one chunk per table per
 * checkpoint — about 14 000 an hour at 4 checkpoints/s, 345 000 a day for a 24 h de-duplication
 * set — and a restore would read every one. Tiered, as an LSM tree's size-tiered compaction:
 * once {@link FANOUT} consecutive chunks of one table have the same level L, they are merged
 * (`TimeBucketedTable.merge`) into one chunk of level L + 1 numbered as the last of them. A table
 * then holds at most about FANOUT chunks per level (log_FANOUT of its checkpoints levels), and
 * an entry is rewritten once per level.
 *
 * A merged run is contiguous in sequence (a chunk in between could delete an entry of the run),
 * which runs of one level are by construction: new chunks (level 0) come last, and a merge puts
 * its level-L + 1 chunk where its run of level L was. Runs are looked for among consecutive
 * chunks anyway, so a large chunk that is never merged ({@link SEALED_BYTES}) cannot break this.
 *
 * Never on the commit path: it runs after a commit, in a transaction of its own, one at a time;
 * a failure (the database away, the job taken over) only leaves the chunks as they were, to be
 * merged later. It merges only while this instance holds the job's epoch: chunks are the same
 * state merged or not, so a race with a new owner is harmless, but a fenced instance stops work.
 */
export const FANOUT = 16;
/** A chunk this large is final: merging it would rewrite much for little (its run stays as is). */
export const SEALED_BYTES = 8 * 1024 * 1024;

interface Held {
  seq: number;
  level: number;
  bytes: number;
  expiresAtMs: number;
}

/** A run to merge: consecutive chunks of one table, of one level. */
interface Run {
  node: string;
  tbl: string;
  level: number;
  seqs: number[];
}

export class ChunkCompactor {
  readonly #client: SqlClient;
  readonly #table: string;
  readonly #job: string;
  readonly #checkpoints: string;
  /** Per table (node \0 tbl): its chunks in sequence order, as the store holds them. */
  readonly #tables = new Map<string, Held[]>();
  #epoch: number | undefined;
  #watermarks: SnapshotMeta['nodes'] = {};
  #running: Promise<void> | undefined;
  /** Runs merged by this instance (for tests and the dashboard). */
  merged = 0;
  /** The last compaction's failure, if the last one failed (it is retried after the next commit). */
  lastError: unknown;

  constructor(client: SqlClient, options: { table: string; checkpoints: string; job: string }) {
    this.#client = client;
    this.#table = options.table;
    this.#checkpoints = options.checkpoints;
    this.#job = options.job;
  }

  /** The chunks `load()` read, and the epoch it took. */
  loaded(chunks: readonly LeveledChunk[], epoch: number, meta: SnapshotMeta | undefined): void {
    this.#tables.clear();
    this.#epoch = epoch;
    this.#watermarks = meta?.nodes ?? {};
    for (const c of chunks) {
      this.#held(c.node, c.table).push({
        seq: c.seq,
        level: c.level,
        bytes: c.bytes.length,
        expiresAtMs: c.expiresAtMs,
      });
    }
    for (const list of this.#tables.values()) list.sort((a, b) => a.seq - b.seq);
  }

  /** A checkpoint committed: its chunks are held, the expired ones gone; merges what is due, in the background. */
  committed(checkpoint: Checkpoint): void {
    if (checkpoint.id === 1) this.#tables.clear();
    const meta = checkpoint.snapshot.meta;
    this.#watermarks = meta.nodes;
    for (const { node, chunk } of checkpoint.chunks ?? []) {
      this.#held(node, chunk.table).push({
        seq: chunk.seq,
        level: 0,
        bytes: chunk.bytes.length,
        expiresAtMs: chunk.expiresAtMs,
      });
    }
    for (const [key, list] of this.#tables) {
      const node = key.slice(0, key.indexOf('\u0000'));
      const kept = list.filter((c) => !isChunkExpired(node, c.expiresAtMs, meta));
      if (kept.length !== list.length) this.#tables.set(key, kept);
    }
    if (this.#running === undefined && this.#nextRun() !== undefined) {
      this.#running = this.#compactAll().finally(() => {
        this.#running = undefined;
      });
    }
  }

  /** Waits for the compaction in flight, if any (tests; a clean shutdown). */
  async idle(): Promise<void> {
    await this.#running;
  }

  /** Chunks held per table (node/tbl → count), for tests. */
  counts(): Map<string, number> {
    return new Map([...this.#tables].map(([k, list]) => [k.replace('\u0000', '/'), list.length]));
  }

  #held(node: string, tbl: string): Held[] {
    const key = `${node}\u0000${tbl}`;
    let list = this.#tables.get(key);
    if (list === undefined) this.#tables.set(key, (list = []));
    return list;
  }

  /** The first run of FANOUT consecutive unsealed chunks of one level, oldest first. */
  #nextRun(): Run | undefined {
    for (const [key, list] of this.#tables) {
      let start = 0;
      for (let i = 0; i <= list.length; i++) {
        const c = list[i];
        const s = list[start] as Held;
        if (c !== undefined && c.level === s.level && c.bytes < SEALED_BYTES && s.bytes < SEALED_BYTES) {
          if (i - start + 1 === FANOUT) {
            const cut = key.indexOf('\u0000');
            return {
              node: key.slice(0, cut),
              tbl: key.slice(cut + 1),
              level: s.level,
              seqs: list.slice(start, i + 1).map((h) => h.seq),
            };
          }
          continue;
        }
        start = i;
      }
    }
    return undefined;
  }

  async #compactAll(): Promise<void> {
    try {
      for (let run = this.#nextRun(); run !== undefined; run = this.#nextRun()) {
        if (!(await this.#merge(run))) return;
        this.merged++;
      }
      this.lastError = undefined;
    } catch (err) {
      this.lastError = err;
    }
  }

  /** Merges one run in its own transaction; false when this instance no longer holds the job. */
  async #merge(run: Run): Promise<boolean> {
    const { node, tbl, level, seqs } = run;
    const watermarkMs = this.#watermarks[node]?.watermarkMs ?? Number.NEGATIVE_INFINITY;
    const result = await this.#client.transaction(async (tx) => {
      const { rows: head } = await tx.query<{ epoch: string }>(
        `SELECT epoch::text AS epoch FROM ${this.#checkpoints} WHERE job = $1`,
        [this.#job],
      );
      if (Number(head[0]?.epoch) !== this.#epoch) return undefined;
      const where = `job = $1 AND node = $2 AND tbl = $3 AND seq = ANY($4::bigint[])`;
      const params = [this.#job, node, tbl, seqs];
      const { rows } = await tx.query<{ seq: string; bytes: Uint8Array }>(
        `SELECT seq::text AS seq, bytes FROM ${this.#table} WHERE ${where} ORDER BY seq`,
        params,
      );
      // Some may have expired and been deleted by a commit meanwhile: merge the rest.
      const merged =
        rows.length === 0
          ? undefined
          : TimeBucketedTable.merge(
              rows.map((r) => ({ bytes: r.bytes, name: `${this.#job}/${node}/${tbl}/${r.seq}` })),
              watermarkMs,
            );
      await tx.query(`DELETE FROM ${this.#table} WHERE ${where}`, params);
      if (merged !== undefined) {
        await tx.query(
          `INSERT INTO ${this.#table} (job, node, tbl, seq, min_time_ms, max_time_ms, expires_at_ms, format, level, bytes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
            this.#job,
            node,
            tbl,
            merged.seq,
            merged.minTimeMs,
            merged.maxTimeMs,
            merged.expiresAtMs,
            STATE_CHUNK_FORMAT_VERSION,
            level + 1,
            Buffer.from(merged.bytes.buffer, merged.bytes.byteOffset, merged.bytes.byteLength),
          ],
        );
      }
      return { merged };
    });
    if (result === undefined) return false;
    // The bookkeeping follows the store: the run's chunks go, the merged one takes the last's place.
    const list = this.#held(node, tbl);
    const first = list.findIndex((h) => h.seq === seqs[0]);
    const last = list.findIndex((h) => h.seq === seqs.at(-1));
    if (first >= 0 && last >= first) {
      const m = result.merged;
      list.splice(
        first,
        last - first + 1,
        ...(m === undefined
          ? []
          : [{ seq: m.seq, level: level + 1, bytes: m.bytes.length, expiresAtMs: m.expiresAtMs }]),
      );
    }
    return true;
  }
}
