import { createHash } from 'node:crypto';
import {
  type Checkpoint,
  type CheckpointCommitter,
  type Clock,
  FlowmarkError,
  type RestorePoint,
  replaceInfinity,
  reviveInfinity,
  type SnapshotEntry,
  type SnapshotMeta,
  stateValueJson,
  systemClock,
} from '../../engine/index.ts';
import { ChunkCompactor } from './chunk-compaction.ts';
import {
  type RefusedRow,
  refusedRowsTable,
  type SinkTable,
  type SinkTables,
  validateSinkTables,
} from './sink-tables.ts';
import { qualified, type SqlClient } from './sql-client.ts';
import { isDataSqlError, sqlError, sqlMessage, sqlState } from './sql-errors.ts';
import { chunkInserts, expiredChunksDelete, type LeveledChunk, readChunks, type SqlStatement } from './state-chunks.ts';
import { columnArrays, DEFAULT_BATCH_ROWS, lastPerKey, unnestStatement, writeRows } from './unnest-writer.ts';

export interface SqlCommitterOptions {
  /** The schema holding `checkpoints`, `state` and the sink tables (default `flowmark`). */
  schema?: string;
  /** The job's name: its row in `checkpoints` and its rows in `state` (several jobs may share a schema). */
  job: string;
  /** Where each sink of the pipeline is written. Every sink id of the pipeline must be here. */
  sinks: SinkTables;
  /** Most rows per statement (default 50 000). */
  batchRows?: number;
  /** State entries read per query when loading (default 10 000). */
  loadPageSize?: number;
  /**
   * A state chunk larger than this (bytes) is read back in slices of this size, each its own
   * query (default 64 MiB): the drivers carry bytea as hex text, and one string of a chunk's hex
   * must stay well below V8's largest string (~512 Mi characters).
   */
  chunkSliceBytes?: number;
  /** The time stamped on refused rows (default: the system clock). */
  clock?: Pick<Clock, 'nowMs'>;
}

/** The sink rows of a checkpoint, table by table. */
interface SinkBatch {
  sink: string;
  table: SinkTable;
  rows: readonly unknown[];
}

interface StateRow {
  node: string;
  tbl: string;
  key: string;
  value: string;
  expires_at_ms: number | null;
}

/**
 * Makes checkpoints durable in PostgreSQL (a server, or PGlite): each checkpoint is ONE
 * transaction that
 * 1. fences: `UPDATE checkpoints … WHERE job = $job AND epoch = $myEpoch` — no row means another
 *    instance of the job has loaded since (it took a newer epoch): `FM_FENCED`, nothing written;
 *    the same statement stores the checkpoint id and the metadata (source offsets, watermarks);
 * 2. writes the sink rows, one `unnest` statement per table (upsert tables keep the last row
 *    per primary key; append tables insert every row);
 * 3. applies the state delta to `state` (upserts and deletions, also with `unnest`);
 * 4. adds the time-bucketed tables' chunks to `state_chunks` (one insert) and deletes the chunks
 *    that have expired by the committed watermarks (one delete); checkpoint 1 first deletes the
 *    job's chunks (state-chunks.ts).
 *
 * Either all of it is committed or none, so a restart resumes exactly where the rows end.
 *
 * **Refused rows.** When the transaction fails because the database refuses the values of some
 * sink rows (SQLSTATE class 22 data_exception, 54 program_limit_exceeded: an id too long for its
 * index, a time out of range, money beyond its column) and one sink table declares
 * `fromRefusedRow` (the dead letters), the checkpoint is written again in a second transaction in
 * which each sink statement runs in a savepoint; a statement that is refused is split in halves,
 * recursively, until the refused rows stand alone. Those become rows of the declaring table (with
 * the database's message), everything else is written, and the offsets and state commit with them
 * — still one transaction. Nothing changes while nothing is refused: the first transaction has no
 * savepoint. Connection failures, serialization failures and fencing are never isolated: they
 * fail the commit as before (retriable or not). A data error in the state or the metadata is a
 * bug, not bad input: it fails the commit. (A state key too long for an index entry is stored
 * hashed, so that an input's long id cannot fail the state write: see `LONG_KEY_BYTES`.)
 *
 * `load()` takes the job's next epoch (fencing out any older instance) and returns the last
 * checkpoint. Committing a checkpoint id that is already committed under the same epoch (a retry
 * after the acknowledgement of COMMIT was lost) writes nothing and succeeds.
 *
 * Needs the tables of the output schema's migrations: `checkpoints(job, checkpoint_id, epoch,
 * meta, committed_at)`, `state(job, node, tbl, key, value, expires_at_ms)` and `state_chunks` (migration 4).
 *
 * @example
 * const committer = new SqlCommitter(client, { schema: 'flowmark', job: 'attribution', sinks });
 * const runtime = new Runtime(pipeline, { committer, clock: systemClock });
 * await runtime.run(); // load() restores the last checkpoint; every checkpoint is one transaction
 */
export class SqlCommitter implements CheckpointCommitter {
  readonly #client: SqlClient;
  readonly #schema: string;
  readonly #job: string;
  readonly #sinks: SinkTables;
  readonly #batchRows: number;
  readonly #pageSize: number;
  readonly #chunkSliceBytes: number;
  readonly #t: { checkpoints: string; state: string; chunks: string };
  /**
   * The steps that have time-bucketed tables (from the chunks loaded and committed): each
   * checkpoint deletes their expired chunks, one indexed range per step.
   */
  readonly #chunkNodes = new Set<string>();
  readonly #refusedTo: SinkTable | undefined;
  readonly #clock: Pick<Clock, 'nowMs'>;
  /** Merges the chunks in the background, after commits (chunk-compaction.ts). */
  readonly compaction: ChunkCompactor;
  #epoch: number | undefined;

  constructor(client: SqlClient, options: SqlCommitterOptions) {
    validateSinkTables(options.sinks);
    this.#client = client;
    this.#schema = options.schema ?? 'flowmark';
    this.#job = options.job;
    this.#sinks = options.sinks;
    this.#batchRows = positive(options.batchRows ?? DEFAULT_BATCH_ROWS, 'batchRows');
    this.#pageSize = positive(options.loadPageSize ?? 10_000, 'loadPageSize');
    this.#chunkSliceBytes = positive(options.chunkSliceBytes ?? 64 * 1024 * 1024, 'chunkSliceBytes');
    this.#t = {
      checkpoints: qualified(this.#schema, 'checkpoints'),
      state: qualified(this.#schema, 'state'),
      chunks: qualified(this.#schema, 'state_chunks'),
    };
    this.#refusedTo = refusedRowsTable(options.sinks);
    this.#clock = options.clock ?? systemClock;
    this.compaction = new ChunkCompactor(client, {
      table: this.#t.chunks,
      checkpoints: this.#t.checkpoints,
      job: this.#job,
    });
  }

  /** Waits for a compaction in flight (the client stays open: it is not the committer's). */
  async idle(): Promise<void> {
    await this.compaction.idle();
  }

  /** The epoch taken by the last `load()` (undefined before). */
  get epoch(): number | undefined {
    return this.#epoch;
  }

  async load(): Promise<RestorePoint | undefined> {
    await this.#checkTables();
    const { checkpoints } = this.#t;
    let epoch: number;
    try {
      // Its own transaction: the new epoch must be visible (and fence) before anything is read.
      const { rows } = await this.#client.query<{ epoch: string }>(
        `INSERT INTO ${checkpoints} AS c (job, checkpoint_id, epoch) VALUES ($1, 0, 1)
         ON CONFLICT (job) DO UPDATE SET epoch = c.epoch + 1 RETURNING c.epoch::text AS epoch`,
        [this.#job],
      );
      epoch = Number((rows[0] as { epoch: string }).epoch);
    } catch (err) {
      throw sqlError(err, 'FM_SINK_FAILED', `taking the epoch of job "${this.#job}" failed`);
    }
    this.#epoch = epoch;
    let head: { checkpoint_id: string; epoch: string; meta: string | null } | undefined;
    try {
      const { rows } = await this.#client.query<{ checkpoint_id: string; epoch: string; meta: string | null }>(
        `SELECT checkpoint_id::text AS checkpoint_id, epoch::text AS epoch, meta::text AS meta
         FROM ${checkpoints} WHERE job = $1`,
        [this.#job],
      );
      head = rows[0];
    } catch (err) {
      throw sqlError(err, 'FM_SINK_FAILED', `loading the last checkpoint of job "${this.#job}" failed`);
    }
    if (head === undefined || Number(head.epoch) !== epoch) throw this.#fenced(Number(head?.epoch));
    const checkpointId = Number(head.checkpoint_id);
    this.#chunkNodes.clear();
    if (checkpointId === 0 || head.meta === null) {
      this.compaction.loaded([], epoch, undefined);
      return undefined;
    }
    const meta = JSON.parse(head.meta, reviveInfinity) as SnapshotMeta;
    // The chunks are read here, whole: the runtime restores a time-bucketed table from all of its
    // chunks at once (it checks every one before applying any), before the JSON entries.
    let chunks: LeveledChunk[];
    try {
      chunks = await readChunks(this.#client, this.#t.chunks, this.#job, this.#chunkSliceBytes);
    } catch (err) {
      throw sqlError(err, 'FM_SINK_FAILED', `loading the state chunks of job "${this.#job}" failed`);
    }
    for (const c of chunks) this.#chunkNodes.add(c.node);
    this.compaction.loaded(chunks, epoch, meta);
    // State is paged in while the runtime restores it, not gathered first. No snapshot across the
    // pages is needed: with the epoch taken above, no other instance can commit any more (its
    // commit would be fenced), so the pages cannot change under us.
    return { checkpointId, meta, entries: this.#readState(), chunks };
  }

  /** Reads the job's state in pages (keyset pagination on the primary key). */
  async *#readState(): AsyncIterable<SnapshotEntry> {
    const cols = `node, tbl, key, value::text AS value, expires_at_ms`;
    const order = 'ORDER BY node, tbl, key';
    const first = `SELECT ${cols} FROM ${this.#t.state} WHERE job = $1 ${order} LIMIT $2`;
    const next = `SELECT ${cols} FROM ${this.#t.state} WHERE job = $1 AND (node, tbl, key) > ($3, $4, $5) ${order} LIMIT $2`;
    let last: StateRow | undefined;
    for (;;) {
      const params =
        last === undefined ? [this.#job, this.#pageSize] : [this.#job, this.#pageSize, last.node, last.tbl, last.key];
      let rows: StateRow[];
      try {
        ({ rows } = await this.#client.query<StateRow>(last === undefined ? first : next, params));
      } catch (err) {
        throw sqlError(err, 'FM_SINK_FAILED', `loading the state of job "${this.#job}" failed`);
      }
      for (const r of rows) {
        const e: SnapshotEntry = isHashedKey(r.key)
          ? hashedEntry(r.node, r.tbl, r.value)
          : { node: r.node, table: r.tbl, key: decodeStateKey(r.key), value: JSON.parse(r.value) };
        if (r.expires_at_ms !== null) e.expiresAtMs = Number(r.expires_at_ms);
        yield e;
      }
      if (rows.length < this.#pageSize) return;
      last = rows.at(-1);
    }
  }

  async commit(checkpoint: Checkpoint): Promise<void> {
    const epoch = this.#epoch;
    if (epoch === undefined) {
      throw new FlowmarkError('FM_RUNTIME_STATE', `job "${this.#job}": commit() before load(): load() takes the epoch`);
    }
    // Everything that can fail without the database fails here, before the transaction.
    const sinks = [...checkpoint.outputs].map(([sink, rows]): SinkBatch => {
      const table = this.#sinks[sink];
      if (table === undefined) {
        throw new FlowmarkError(
          'FM_CONFIG_INVALID',
          `the pipeline has a sink "${sink}" that has no table: describe it in the sink tables given to the committer`,
        );
      }
      return { sink, table, rows };
    });
    const state = stateBatches(checkpoint.snapshot.entries, this.#batchRows);
    const meta = JSON.stringify(checkpoint.snapshot.meta, replaceInfinity);
    // Checkpoint 1 starts the job's chunks afresh: only this checkpoint's steps have any then.
    if (checkpoint.id === 1) this.#chunkNodes.clear();
    for (const c of checkpoint.chunks ?? []) this.#chunkNodes.add(c.node);
    const writes: ChunkWrites = {
      inserts: chunkInserts(this.#t.chunks, this.#job, checkpoint.chunks ?? []),
      expiry: expiredChunksDelete(this.#t.chunks, this.#job, this.#chunkNodes, checkpoint.snapshot.meta),
    };
    const what = `checkpoint ${checkpoint.id} of job "${this.#job}" was not committed`;
    try {
      await this.#client.transaction((tx) => this.#write(tx, epoch, checkpoint, meta, state, writes, sinks, undefined));
      this.compaction.committed(checkpoint);
      return;
    } catch (err) {
      if (this.#refusedTo === undefined || !isDataSqlError(err)) throw sqlError(err, 'FM_SINK_FAILED', what);
    }
    // The database refused a value; the transaction was rolled back. Write the checkpoint again,
    // setting aside the rows it refuses.
    try {
      await this.#client.transaction((tx) => this.#write(tx, epoch, checkpoint, meta, state, writes, sinks, []));
    } catch (err) {
      throw sqlError(err, 'FM_SINK_FAILED', what);
    }
    this.compaction.committed(checkpoint);
  }

  /**
   * The checkpoint's transaction. With `refused` (an empty list), sink statements run in
   * savepoints and the rows the database refuses are isolated, collected there and written to
   * the refused-rows table; without it, any failure fails the transaction.
   */
  async #write(
    tx: SqlClient,
    epoch: number,
    checkpoint: Checkpoint,
    meta: string,
    state: { upserts: StateBatch[]; deletes: StateBatch[] },
    writes: ChunkWrites,
    sinks: readonly SinkBatch[],
    refused: RefusedRow[] | undefined,
  ): Promise<void> {
    const { checkpoints, state: stateTable } = this.#t;
    const fence = await tx.query(
      `UPDATE ${checkpoints} SET checkpoint_id = $3, meta = $4::jsonb, committed_at = now()
       WHERE job = $1 AND epoch = $2 AND checkpoint_id < $3 RETURNING job`,
      [this.#job, epoch, checkpoint.id, meta],
    );
    if (fence.rows.length === 0) {
      const { rows } = await tx.query<{ epoch: string; checkpoint_id: string }>(
        `SELECT epoch::text AS epoch, checkpoint_id::text AS checkpoint_id FROM ${checkpoints} WHERE job = $1`,
        [this.#job],
      );
      const now = rows[0];
      if (now === undefined || Number(now.epoch) !== epoch) throw this.#fenced(Number(now?.epoch));
      return; // Already committed by this instance: a retry after a lost acknowledgement.
    }
    if (refused === undefined) {
      for (const { table, rows } of sinks) await writeRows(tx, this.#schema, table, rows, this.#batchRows);
    } else {
      await this.#writeSettingAside(tx, sinks, refused);
    }
    if (checkpoint.snapshot.kind === 'full') {
      await tx.query(`DELETE FROM ${stateTable} WHERE job = $1`, [this.#job]);
    }
    // Both statements have plans that do not depend on table statistics (PGlite never
    // analyzes; a server may not have yet): the upsert goes through its arbiter index, the
    // delete through the primary key with `key = ANY (…)`. A join with the state table (MERGE,
    // DELETE … USING) was planned as a hash join over every row of the job's table when the
    // statistics were missing: a cost that grows with the state.
    for (const b of state.upserts) {
      // Keys, values and expiries in three documents zipped by position; node and table are
      // the same for the whole batch.
      await tx.query(
        `INSERT INTO ${stateTable} (job, node, tbl, key, value, expires_at_ms)
         SELECT $1, $2, $3, u.k, u.v, u.e::double precision
         FROM ROWS FROM (json_array_elements_text($4::json), json_array_elements($5::json),
                         json_array_elements_text($6::json)) AS u(k, v, e)
         ON CONFLICT (job, node, tbl, key) DO UPDATE SET value = EXCLUDED.value, expires_at_ms = EXCLUDED.expires_at_ms`,
        [this.#job, b.node, b.table, b.keys, b.values, b.expiries],
      );
    }
    for (const b of state.deletes) {
      await tx.query(
        `DELETE FROM ${stateTable} WHERE job = $1 AND node = $2 AND tbl = $3
         AND key = ANY (ARRAY(SELECT json_array_elements_text($4::json)))`,
        [this.#job, b.node, b.table, b.keys],
      );
    }
    // The time-bucketed tables' chunks: one insert for all of them, one delete of the expired
    // ones (see state-chunks.ts). Also on the path that sets refused rows aside: they are state,
    // not input data.
    if (checkpoint.id === 1) await tx.query(`DELETE FROM ${this.#t.chunks} WHERE job = $1`, [this.#job]);
    for (const { sql, params } of writes.inserts) await tx.query(sql, params);
    if (writes.expiry !== undefined) await tx.query(writes.expiry.sql, writes.expiry.params);
  }

  /**
   * Writes the sink rows with every statement in a savepoint, isolating the rows the database
   * refuses (collected in `refused`), then writes those as rows of the refused-rows table. A row
   * of that table that is refused in turn fails the checkpoint: it has nowhere else to go.
   */
  async #writeSettingAside(tx: SqlClient, sinks: readonly SinkBatch[], refused: RefusedRow[]): Promise<void> {
    const to = this.#refusedTo as SinkTable;
    const fromRefused = to.fromRefusedRow as (r: RefusedRow) => unknown;
    for (const { sink, table, rows } of sinks) await this.#isolate(tx, sink, table, rows, refused);
    if (refused.length === 0) return;
    const letters = refused.map(fromRefused);
    const again: RefusedRow[] = [];
    await this.#isolate(tx, '(refused rows)', to, letters, again);
    const first = again[0];
    if (first !== undefined) {
      const original = refused[letters.indexOf(first.row)] as RefusedRow;
      throw new FlowmarkError(
        'FM_SINK_FAILED',
        `the database refused a row of ${original.table} (${original.message}), then the row recording it in ` +
          `${to.table} (${first.message}): the checkpoint was not committed; check table ${to.table} against ` +
          "flowmark's migrations",
      );
    }
  }

  /**
   * Writes `rows` of one table, one statement per batch, each in a savepoint. A batch refused
   * for its data is split in halves, recursively, until the refused rows stand alone; they are
   * appended to `refused`. Any other error is thrown (and fails the transaction).
   */
  async #isolate(
    tx: SqlClient,
    sink: string,
    table: SinkTable,
    rows: readonly unknown[],
    refused: RefusedRow[],
  ): Promise<void> {
    const kept = lastPerKey(table, rows);
    const sql = unnestStatement(this.#schema, table);
    const attempt = async (part: readonly unknown[]): Promise<void> => {
      try {
        await tx.transaction((sp) => sp.query(sql, columnArrays(table, part)));
      } catch (err) {
        if (!isDataSqlError(err)) throw err;
        if (part.length === 1) {
          refused.push({
            sink,
            table: table.table,
            row: part[0],
            sqlstate: sqlState(err) as string,
            message: sqlMessage(err),
            refusedAtMs: this.#clock.nowMs(),
          });
          return;
        }
        const half = Math.ceil(part.length / 2);
        await attempt(part.slice(0, half));
        await attempt(part.slice(half));
      }
    };
    for (let from = 0; from < kept.length; from += this.#batchRows) {
      await attempt(kept.slice(from, from + this.#batchRows));
    }
  }

  #fenced(current: number): FlowmarkError {
    return new FlowmarkError(
      'FM_FENCED',
      `job "${this.#job}" was taken over by another instance (epoch ${Number.isNaN(current) ? 'gone' : current}, ` +
        `this instance holds ${this.#epoch}): this instance must stop; nothing of its checkpoint was written`,
    );
  }

  /** Fails with one clear message when a table or column the committer writes is missing. */
  async #checkTables(): Promise<void> {
    // Keyed by schema and table: a sink may live outside the committer's schema (SinkTable.schema).
    const want = new Map<string, { schema: string; table: string; cols: string[] }>();
    const add = (schema: string, table: string, cols: readonly string[]) => {
      const key = `${schema}.${table}`;
      want.set(key, { schema, table, cols: [...(want.get(key)?.cols ?? []), ...cols] });
    };
    add(this.#schema, 'checkpoints', ['job', 'checkpoint_id', 'epoch', 'meta', 'committed_at']);
    add(this.#schema, 'state', ['job', 'node', 'tbl', 'key', 'value', 'expires_at_ms']);
    const chunkColumns = [
      'job',
      'node',
      'tbl',
      'seq',
      'min_time_ms',
      'max_time_ms',
      'expires_at_ms',
      'format',
      'bytes',
    ];
    add(this.#schema, 'state_chunks', chunkColumns);
    for (const t of Object.values(this.#sinks)) {
      const cols = t.columns.map((c) => c.name);
      if (t.updatedAtColumn !== undefined) cols.push(t.updatedAtColumn);
      add(t.schema ?? this.#schema, t.table, cols);
    }
    const targets = [...want.values()];
    let rows: { table_schema: string; table_name: string; column_name: string }[];
    try {
      ({ rows } = await this.#client.query<{ table_schema: string; table_name: string; column_name: string }>(
        `SELECT table_schema::text AS table_schema, table_name::text AS table_name, column_name::text AS column_name
         FROM information_schema.columns
         WHERE (table_schema, table_name) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
        [targets.map((t) => t.schema), targets.map((t) => t.table)],
      ));
    } catch (err) {
      throw sqlError(err, 'FM_SINK_FAILED', `reading the tables of schema "${this.#schema}" failed`);
    }
    const have = new Set(rows.map((r) => `${r.table_schema}.${r.table_name}.${r.column_name}`));
    const tables = new Set(rows.map((r) => `${r.table_schema}.${r.table_name}`));
    const missing: string[] = [];
    for (const [key, { cols }] of want) {
      if (!tables.has(key)) missing.push(`table ${key}`);
      else for (const c of cols) if (!have.has(`${key}.${c}`)) missing.push(`column ${key}.${c}`);
    }
    if (missing.length > 0) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `the database lacks ${missing.join(', ')}: run flowmark's migrations on schema "${this.#schema}" ` +
          '(they create the tables), or fix the sink table description',
      );
    }
  }
}

/** The statements of a checkpoint's chunks, made before its transaction (either may be absent). */
interface ChunkWrites {
  inserts: SqlStatement[];
  expiry: SqlStatement | undefined;
}

/** One statement's worth of state changes of one (node, table), as JSON text documents. */
interface StateBatch {
  node: string;
  table: string;
  /** `["key", …]` */
  keys: string;
  /** Upserts only: `[value, …]` — each value the JSON text frozen at the cut. */
  values: string;
  /** Upserts only: `[expiresAtMs | null, …]` */
  expiries: string;
}

/** The changes of one (node, table) being gathered. */
class TableDelta {
  readonly node: string;
  readonly table: string;
  /** Key → index of its last change in `entries` (the last change wins). */
  readonly last = new Map<string, number>();
  constructor(node: string, table: string) {
    this.node = node;
    this.table = table;
  }
}

/**
 * The delta as statements' worth of JSON documents, per (node, table) and at most `batchRows`
 * keys each — the last change per (node, table, key) winning. JSON text costs far less than text
 * arrays: no per-element escaping in the driver, the values are spliced in as the JSON the
 * runtime froze at the cut, and PostgreSQL parses each document once. Values have their own
 * document and are read with `json_array_elements` (not de-escaped: a value may hold `\u0000`,
 * which text cannot). Keys are made well-formed (a lone surrogate becomes U+FFFD, as the driver's
 * UTF-8 encoding did): de-escaping refuses a lone surrogate escape.
 */
function stateBatches(
  entries: readonly SnapshotEntry[],
  batchRows: number,
): { upserts: StateBatch[]; deletes: StateBatch[] } {
  const tables = new Map<string, TableDelta>();
  let current: TableDelta | undefined;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as SnapshotEntry;
    // Entries of one table come together: look the table up only when it changes.
    if (current === undefined || current.node !== e.node || current.table !== e.table) {
      const id = `${e.node}\u0000${e.table}`;
      current = tables.get(id);
      if (current === undefined) tables.set(id, (current = new TableDelta(e.node, e.table)));
    }
    current.last.set(e.key, i);
  }
  const upserts: StateBatch[] = [];
  const deletes: StateBatch[] = [];
  for (const t of tables.values()) {
    let upKeys: string[] = [];
    let values: string[] = [];
    let expiries: (number | null)[] = [];
    let delKeys: string[] = [];
    const flushUpserts = () => {
      if (upKeys.length === 0) return;
      upserts.push({
        node: t.node,
        table: t.table,
        keys: JSON.stringify(upKeys),
        values: `[${values.join(',')}]`,
        expiries: JSON.stringify(expiries),
      });
      upKeys = [];
      values = [];
      expiries = [];
    };
    const flushDeletes = () => {
      if (delKeys.length === 0) return;
      deletes.push({ node: t.node, table: t.table, keys: JSON.stringify(delKeys), values: '[]', expiries: '[]' });
      delKeys = [];
    };
    for (const i of t.last.values()) {
      const e = entries[i] as SnapshotEntry;
      const encoded = wellFormed(encodeStateKey(e.key));
      const long = isLongKey(encoded);
      const key = long ? hashKey(encoded) : encoded;
      // `json` first: reading `value` of a frozen entry parses it back.
      const json = e.json ?? (e.value === undefined ? undefined : stateValueJson(e.node, e.table, e.key, e.value));
      if (json === undefined) {
        delKeys.push(key);
        if (delKeys.length >= batchRows) flushDeletes();
      } else {
        upKeys.push(key);
        values.push(long ? `[${JSON.stringify(e.key)},${json}]` : json);
        expiries.push(e.expiresAtMs ?? null);
        if (upKeys.length >= batchRows) flushUpserts();
      }
    }
    flushUpserts();
    flushDeletes();
  }
  return { upserts, deletes };
}

/**
 * Stored keys longer than this (UTF-8 bytes) are stored hashed: an entry of the state table's
 * primary-key index holds at most about 2.7 kB (`index row size … exceeds btree version 4
 * maximum 2704`), and a key made from an input's id (a 3 kB checkout id that validation missed)
 * must not make every checkpoint fail.
 */
const LONG_KEY_BYTES = 1024;
/** The prefix of a hashed key: `encodeStateKey` never writes `\h` (its `\` is followed by `\` or `0`). */
const HASHED_KEY = '\\h';

function isLongKey(encoded: string): boolean {
  return encoded.length > LONG_KEY_BYTES / 3 && Buffer.byteLength(encoded, 'utf8') > LONG_KEY_BYTES;
}

/** `\h` and the SHA-256 of the encoded key; the entry's value is then `[key, value]`. */
function hashKey(encoded: string): string {
  return HASHED_KEY + createHash('sha256').update(encoded, 'utf8').digest('hex');
}

function isHashedKey(stored: string): boolean {
  return stored.startsWith(HASHED_KEY);
}

/** The entry of a hashed key: its value holds the key and the value. */
function hashedEntry(node: string, table: string, stored: string): SnapshotEntry {
  const [key, value] = JSON.parse(stored) as [string, unknown];
  return { node, table, key, value };
}

function wellFormed(s: string): string {
  return s.isWellFormed() ? s : s.toWellFormed();
}

/**
 * State keys are stored as text, which cannot hold U+0000 (flowmark's own keys contain it, e.g.
 * `user\0product`): `\` becomes `\\` and U+0000 becomes `\0`. Values are JSON text in a `json`
 * column, where U+0000 is the escape `\u0000` (which `jsonb` would refuse).
 */
export function encodeStateKey(key: string): string {
  if (!key.includes('\\') && !key.includes('\u0000')) return key;
  return key.replaceAll('\\', '\\\\').replaceAll('\u0000', '\\0');
}

export function decodeStateKey(stored: string): string {
  if (!stored.includes('\\')) return stored;
  // Every attribution key holds a U+0000 (user\0product); keys with an escaped backslash are
  // rare: skip the regex for the others (it was 8 % of a 10 M-key restore).
  if (!stored.includes('\\\\')) return stored.replaceAll('\\0', '\u0000');
  return stored.replace(/\\(\\|0)/g, (_m, c: string) => (c === '0' ? '\u0000' : '\\'));
}

function positive(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new FlowmarkError('FM_CONFIG_INVALID', `${name} must be a positive integer, got ${n}`);
  }
  return n;
}
