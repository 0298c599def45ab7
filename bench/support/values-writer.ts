/**
 * The postgres suite's reference sink writer: a plain multi-row `INSERT … VALUES ($1, …), (…)`
 * with the same conflict clause as flowmark's `unnest` statement (taken from the shipped
 * `unnestStatement`), as many rows per statement as 65 535 parameters allow, the same value
 * conversions and the same de-duplication (last row per key; the shipped `columnArrays` and
 * `lastPerKey`). Only the statement's shape differs from what flowmark ships.
 */
import { type SinkTable, type SqlClient, unnestStatement } from '../../src/connectors/sql/index.ts';
import { columnArrays, lastPerKey } from '../../src/connectors/sql/unnest-writer.ts';

/** Most parameters of one statement in the PostgreSQL protocol (a 16-bit count). */
export const MAX_PARAMS = 65_535;

export async function writeRowsValues(
  client: SqlClient,
  schema: string,
  t: SinkTable,
  rows: readonly unknown[],
): Promise<number> {
  const kept = lastPerKey(t, rows);
  const ncols = t.columns.length;
  const perStatement = Math.floor(MAX_PARAMS / ncols);
  const unnest = unnestStatement(schema, t);
  const head = unnest.slice(0, unnest.indexOf(' SELECT * FROM unnest('));
  const conflict = unnest.includes(' ON CONFLICT') ? unnest.slice(unnest.indexOf(' ON CONFLICT')) : '';
  const texts = new Map<number, string>();
  const textFor = (n: number): string => {
    let s = texts.get(n);
    if (s === undefined) {
      const tuples: string[] = [];
      for (let r = 0; r < n; r++) {
        const ps: string[] = [];
        for (let c = 0; c < ncols; c++) ps.push(`$${r * ncols + c + 1}`);
        tuples.push(`(${ps.join(', ')})`);
      }
      s = `${head} VALUES ${tuples.join(', ')}${conflict}`;
      texts.set(n, s);
    }
    return s;
  };
  for (let from = 0; from < kept.length; from += perStatement) {
    const to = Math.min(kept.length, from + perStatement);
    const arrays = columnArrays(t, kept, from, to);
    const params = new Array<unknown>((to - from) * ncols);
    for (let c = 0; c < ncols; c++) {
      const col = arrays[c] as unknown[];
      for (let r = 0; r < to - from; r++) params[r * ncols + c] = col[r];
    }
    await client.query(textFor(to - from), params);
  }
  return kept.length;
}
