import type { SinkColumn, SinkTable, SqlColumnType } from './sink-tables.ts';
import { qualified, quoteIdent, type SqlClient } from './sql-client.ts';

/** Most rows per statement; a checkpoint's rows of one table are usually one statement. */
export const DEFAULT_BATCH_ROWS = 50_000;

type Convert = (value: unknown) => unknown;

/** PostgreSQL text cannot hold U+0000; it is replaced by U+FFFD (the replacement character). */
function noNul(s: string): string {
  return s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s;
}

const asNumber: Convert = (v) => (v == null ? null : typeof v === 'bigint' ? String(v) : v);

/** How a row's field becomes an element of the column's parameter array. */
const CONVERT: Record<SqlColumnType, Convert> = {
  text: (v) =>
    v == null ? null : typeof v === 'string' ? noNul(v) : noNul(typeof v === 'object' ? JSON.stringify(v) : String(v)),
  integer: asNumber,
  bigint: asNumber,
  numeric: asNumber,
  'double precision': asNumber,
  boolean: (v) => (v == null ? null : v),
  timestamptz: timeValue,
  // An ISO-8601 instant with Z read as `timestamp`: PostgreSQL drops the zone, leaving UTC wall time.
  timestamp: timeValue,
  // JSON text escapes U+0000 as \u0000, which the json type accepts (jsonb would not).
  json: (v) => (v == null ? null : JSON.stringify(v)),
};

/** A time as the parameter arrays carry it: ISO-8601 text, or ±infinity. */
function timeValue(v: unknown): unknown {
  if (v == null) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number') {
    if (Number.isFinite(v)) return new Date(v).toISOString();
    if (v === Number.POSITIVE_INFINITY) return 'infinity';
    if (v === Number.NEGATIVE_INFINITY) return '-infinity';
  }
  return v;
}

/**
 * The one statement that writes a batch of rows into `table` (in `t.schema`, else `schema`): every
 * column is a parameter array, expanded by `unnest` (one statement per batch, never one per row).
 *
 * @example
 * unnestStatement('flowmark', { table: 't', columns: [{ name: 'id', type: 'text' }, { name: 'n', type: 'numeric' }],
 *   primaryKey: ['id'], mode: 'upsert' })
 * // INSERT INTO "flowmark"."t" ("id", "n") SELECT * FROM unnest($1::text[], $2::numeric[])
 * //   ON CONFLICT ("id") DO UPDATE SET "n" = EXCLUDED."n"
 */
export function unnestStatement(schema: string, t: SinkTable): string {
  const cols = t.columns.map((c) => quoteIdent(c.name)).join(', ');
  const arrays = t.columns.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ');
  let sql = `INSERT INTO ${qualified(t.schema ?? schema, t.table)} (${cols}) SELECT * FROM unnest(${arrays})`;
  if (t.mode === 'upsert') {
    const pk = new Set(t.primaryKey);
    const sets = t.columns
      .filter((c) => !pk.has(c.name))
      .map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`);
    if (t.updatedAtColumn !== undefined) sets.push(`${quoteIdent(t.updatedAtColumn)} = now()`);
    const target = t.primaryKey.map(quoteIdent).join(', ');
    sql +=
      sets.length === 0
        ? ` ON CONFLICT (${target}) DO NOTHING`
        : ` ON CONFLICT (${target}) DO UPDATE SET ${sets.join(', ')}`;
  }
  return sql;
}

/**
 * For an upsert table, the rows that survive de-duplication: of several rows with one primary
 * key, the last (a statement may not update the same row twice, and the last is the newest).
 */
export function lastPerKey(t: SinkTable, rows: readonly unknown[]): unknown[] {
  if (t.mode !== 'upsert' || rows.length < 2) return rows as unknown[];
  const pk = t.primaryKey.map((name) => {
    const col = t.columns.find((c) => c.name === name) as SinkColumn;
    return { name, convert: CONVERT[col.type] };
  });
  const single = pk.length === 1 ? pk[0] : undefined;
  const keyOf = (row: unknown): string => {
    const r = row as Record<string, unknown>;
    if (single !== undefined) return String(single.convert(r[single.name]));
    return JSON.stringify(pk.map((k) => k.convert(r[k.name])));
  };
  const keys = rows.map(keyOf);
  const last = new Map<string, number>();
  for (let i = 0; i < keys.length; i++) last.set(keys[i] as string, i);
  if (last.size === rows.length) return rows as unknown[];
  return rows.filter((_row, i) => last.get(keys[i] as string) === i);
}

/** The parameter arrays of a batch: one array per column, in column order. */
export function columnArrays(t: SinkTable, rows: readonly unknown[], from = 0, to = rows.length): unknown[][] {
  return t.columns.map((c) => {
    const convert = CONVERT[c.type];
    const out = new Array<unknown>(to - from);
    for (let i = from; i < to; i++) out[i - from] = convert((rows[i] as Record<string, unknown>)[c.name]);
    return out;
  });
}

/**
 * Writes `rows` (objects keyed by column name) into `t` with one `unnest` statement per
 * `batchRows` rows. Upsert tables keep the last row per primary key. Returns the rows written.
 * Run it inside a transaction when it must be atomic with other writes.
 */
export async function writeRows(
  client: SqlClient,
  schema: string,
  t: SinkTable,
  rows: readonly unknown[],
  batchRows = DEFAULT_BATCH_ROWS,
): Promise<number> {
  const kept = lastPerKey(t, rows);
  if (kept.length === 0) return 0;
  const sql = unnestStatement(schema, t);
  for (let from = 0; from < kept.length; from += batchRows) {
    await client.query(sql, columnArrays(t, kept, from, Math.min(kept.length, from + batchRows)));
  }
  return kept.length;
}
