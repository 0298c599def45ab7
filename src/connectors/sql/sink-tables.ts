import { FlowmarkError } from '../../engine/index.ts';

/** The column types a sink table may use; each is also the element type of its `unnest` array. */
export type SqlColumnType =
  | 'text'
  | 'integer'
  | 'bigint'
  | 'numeric'
  | 'double precision'
  | 'boolean'
  | 'timestamptz'
  | 'timestamp'
  | 'json';

export const SQL_COLUMN_TYPES: readonly SqlColumnType[] = [
  'text',
  'integer',
  'bigint',
  'numeric',
  'double precision',
  'boolean',
  'timestamptz',
  'timestamp',
  'json',
];

export interface SinkColumn {
  /** The column name, which is also the key of the field in the sink's row objects. */
  name: string;
  type: SqlColumnType;
}

/**
 * Where one sink of a pipeline is written. `upsert`: one row per primary key, updated in place
 * (`INSERT … ON CONFLICT (pk) DO UPDATE`); `append`: every row is inserted.
 */
export interface SinkTable {
  /**
   * The schema of a table outside the committer's schema (a shop's own table, written in the same
   * transaction); default the committer's.
   */
  schema?: string;
  table: string;
  /** The columns written, in the order of the statement; a row's missing field is NULL. */
  columns: readonly SinkColumn[];
  /** Required for `upsert`. */
  primaryKey: readonly string[];
  mode: 'upsert' | 'append';
  /** A column (not in `columns`) set to `now()` by every write of a row, e.g. `updated_at`. */
  updatedAtColumn?: string;
  /**
   * Declares this table the one that receives the rows the database refuses at a checkpoint
   * (a dead-letter table): builds this table's row for one refused row of any sink. At most one
   * table declares it. Without one, a refused row fails the checkpoint (`FM_SINK_FAILED`).
   */
  fromRefusedRow?: (refused: RefusedRow) => unknown;
}

/**
 * A sink row the database refused at a checkpoint (SQLSTATE class 22 data_exception or 54
 * program_limit_exceeded), isolated from the rest of its batch; the checkpoint commits without it.
 */
export interface RefusedRow {
  /** The sink id the row was emitted to. */
  sink: string;
  /** The table it was written to. */
  table: string;
  /** The row object as the sink emitted it. */
  row: unknown;
  /** The SQLSTATE, e.g. `22003`. */
  sqlstate: string;
  /** The database's message, with its detail and hint. */
  message: string;
  /** When the committer set it aside (processing time, ms since the epoch). */
  refusedAtMs: number;
}

/** Sink id (as given to `Stream.sink`) → its table. */
export type SinkTables = Readonly<Record<string, SinkTable>>;

/** The table that receives refused rows (see {@link SinkTable.fromRefusedRow}), if any. */
export function refusedRowsTable(sinks: SinkTables): SinkTable | undefined {
  return Object.values(sinks).find((t) => t.fromRefusedRow !== undefined);
}

/** Checks a sink description; throws FM_CONFIG_INVALID naming the sink and what is wrong. */
export function validateSinkTables(sinks: SinkTables): void {
  const receivers = Object.entries(sinks).filter(([, t]) => t.fromRefusedRow !== undefined);
  if (receivers.length > 1) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `sinks ${receivers.map(([id]) => `"${id}"`).join(' and ')} both declare fromRefusedRow: ` +
        'refused rows go to one table; keep it on one of them',
    );
  }
  for (const [id, t] of Object.entries(sinks)) {
    const bad = (what: string) => new FlowmarkError('FM_CONFIG_INVALID', `sink "${id}" (table ${t.table}): ${what}`);
    if (t.columns.length === 0) throw bad('has no columns');
    const names = new Set<string>();
    for (const c of t.columns) {
      if (names.has(c.name)) throw bad(`column "${c.name}" is listed twice`);
      if (!SQL_COLUMN_TYPES.includes(c.type)) {
        throw bad(`column "${c.name}" has type "${c.type}"; use one of ${SQL_COLUMN_TYPES.join(', ')}`);
      }
      names.add(c.name);
    }
    if (t.mode !== 'upsert' && t.mode !== 'append') throw bad(`mode must be "upsert" or "append", not "${t.mode}"`);
    if (t.mode === 'upsert' && t.primaryKey.length === 0) throw bad('an upsert table needs a primary key');
    for (const k of t.primaryKey) if (!names.has(k)) throw bad(`primary key column "${k}" is not among its columns`);
    if (t.updatedAtColumn !== undefined && names.has(t.updatedAtColumn)) {
      throw bad(`updatedAtColumn "${t.updatedAtColumn}" is set by the database and must not be a written column`);
    }
  }
}
