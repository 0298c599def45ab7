/** What a job wrote into flowmark's output tables: the embedded and kafka suites count it and compare runs. */
import type { SqlClient } from '../../src/connectors/sql/index.ts';

/** The output tables whose rows count as rows written. */
export const COUNTED_TABLES = [
  'attributed_checkouts',
  'attribution_credits',
  'dead_letters',
  'analytics_minute',
] as const;

/** Rows in each of {@link COUNTED_TABLES}, and in `state` (what the job still holds). */
export async function countRows(db: Pick<SqlClient, 'query'>, schema: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of [...COUNTED_TABLES, 'state']) {
    const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${schema}"."${table}"`);
    counts[table] = Number(rows[0]?.n ?? 0);
  }
  return counts;
}

/** The sum of the {@link COUNTED_TABLES} rows of `counts`. */
export function rowsWritten(counts: Record<string, number>): number {
  return COUNTED_TABLES.reduce((n, t) => n + (counts[t] ?? 0), 0);
}

/** What a job wrote, to compare runs: rows per counted table, and the attributed checkouts. */
export interface Written {
  rows: Record<string, number>;
  checkouts: number;
  /** Attributed checkouts whose row is not final yet. */
  notFinal: number;
  /** md5 over (checkout_id, click_id, is_final) of every attributed checkout, in checkout_id order. */
  checksum: string;
}

/** {@link Written} of the job in `schema`. */
export async function writtenBy(db: Pick<SqlClient, 'query'>, schema: string): Promise<Written> {
  const counts = await countRows(db, schema);
  const rows = Object.fromEntries(COUNTED_TABLES.map((t) => [t, counts[t] ?? 0]));
  const { rows: c } = await db.query<{ n: string; not_final: string; checksum: string }>(
    `SELECT count(*)::text AS n, count(*) FILTER (WHERE NOT is_final)::text AS not_final,
            md5(coalesce(string_agg(checkout_id || '|' || coalesce(click_id, '-') || '|' || is_final::text, ','
                ORDER BY checkout_id), '')) AS checksum
       FROM "${schema}".attributed_checkouts`,
  );
  return {
    rows,
    checkouts: Number(c[0]?.n ?? 0),
    notFinal: Number(c[0]?.not_final ?? 0),
    checksum: c[0]?.checksum ?? '',
  };
}
