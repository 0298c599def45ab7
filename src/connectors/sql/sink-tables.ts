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
  | 'json';

export const SQL_COLUMN_TYPES: readonly SqlColumnType[] = [
  'text',
  'integer',
  'bigint',
  'numeric',
  'double precision',
  'boolean',
  'timestamptz',
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
  table: string;
  /** The columns written, in the order of the statement; a row's missing field is NULL. */
  columns: readonly SinkColumn[];
  /** Required for `upsert`. */
  primaryKey: readonly string[];
  mode: 'upsert' | 'append';
  /** A column (not in `columns`) set to `now()` by every write of a row, e.g. `updated_at`. */
  updatedAtColumn?: string;
}

/** Sink id (as given to `Stream.sink`) → its table. */
export type SinkTables = Readonly<Record<string, SinkTable>>;

/** Checks a sink description; throws FM_CONFIG_INVALID naming the sink and what is wrong. */
export function validateSinkTables(sinks: SinkTables): void {
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
