/**
 * A whole users or products table from a stream of records (a file read by a connector, or any
 * iterable), checked row by row. A bad row is a configuration error, not a dead letter: the
 * table is input that the user controls, so loading stops with every problem found (up to ten),
 * each with its line and column, rather than running with a silently shorter table.
 */
import { FlowmarkError, Rejected } from '../../engine/index.ts';
import type { ProductRow, UserRow } from '../event-types.ts';
import {
  type ProductColumns,
  parseProductRecord,
  parseUserRecord,
  productColumnsOf,
  type UserColumns,
  userColumnsOf,
} from './dimension-records.ts';

/** One row of a dimension file: its line (1-based, where the row starts) and its named values. */
export interface DimensionRecord {
  line: number;
  values: Readonly<Record<string, unknown>>;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isBatch(item: DimensionRecord | readonly DimensionRecord[]): item is readonly DimensionRecord[] {
  return Array.isArray(item);
}

/** Problems listed in one error before the rest are only counted. */
const MAX_LISTED_PROBLEMS = 10;

/** Records one by one, or in batches (a connector's `readDimensionBatches`), sync or async. */
export type DimensionRecords =
  | AsyncIterable<DimensionRecord | readonly DimensionRecord[]>
  | Iterable<DimensionRecord | readonly DimensionRecord[]>;

async function collect<R, C extends object>(
  records: DimensionRecords,
  source: string,
  what: string,
  columnsOf: (names: Iterable<string>) => C,
  idColumn: (c: C) => string | undefined,
  parse: (values: Readonly<Record<string, unknown>>, columns: C) => R | Rejected,
  idOf: (row: R) => string,
): Promise<Map<string, R>> {
  const rows = new Map<string, R>();
  const problems: string[] = [];
  let bad = 0;
  let columns = columnsOf([]);
  let keys: string[] = [];
  const add = ({ line, values }: DimensionRecord) => {
    // Columns are worked out again only when the keys change (JSON lines may differ line by line).
    const k = Object.keys(values);
    if (!sameKeys(k, keys)) {
      columns = columnsOf(k);
      keys = k;
    }
    const row = parse(values, columns);
    if (row instanceof Rejected) {
      if (idColumn(columns) === undefined) {
        throw new FlowmarkError('FM_CONFIG_INVALID', `${source} line ${line}: ${row.detail}`);
      }
      if (++bad <= MAX_LISTED_PROBLEMS) problems.push(`  line ${line}: ${row.detail}`);
      return;
    }
    rows.set(idOf(row), row); // Of several rows with one id, the last wins (as an upsert would).
  };
  for await (const item of records) {
    if (isBatch(item)) for (const r of item) add(r);
    else add(item);
  }
  if (bad > 0) {
    const more = bad > MAX_LISTED_PROBLEMS ? `\n  … and ${bad - MAX_LISTED_PROBLEMS} more` : '';
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `${source}: ${bad} bad ${what} row${bad === 1 ? '' : 's'}; fix or remove ${bad === 1 ? 'it' : 'them'}:\n${problems.join('\n')}${more}`,
    );
  }
  return rows;
}

/**
 * Every user of `records`, by id. Throws FM_CONFIG_INVALID naming `source`, the line and the
 * column of each bad row.
 *
 * @example
 * const users = await collectUsers(readDimensionBatches('users.csv', { columns: USER_COLUMN_NAMES }), 'users.csv');
 * users.get('42'); // { userId: '42', name: 'ada', gender: null }
 */
export function collectUsers(records: DimensionRecords, source: string): Promise<Map<string, UserRow>> {
  return collect<UserRow, UserColumns>(
    records,
    source,
    'user',
    userColumnsOf,
    (c) => c.userId,
    parseUserRecord,
    (u) => u.userId,
  );
}

/** Every product of `records`, by id; see {@link collectUsers}. */
export function collectProducts(records: DimensionRecords, source: string): Promise<Map<string, ProductRow>> {
  return collect<ProductRow, ProductColumns>(
    records,
    source,
    'product',
    productColumnsOf,
    (c) => c.productId,
    parseProductRecord,
    (p) => p.productId,
  );
}
