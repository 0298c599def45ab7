/**
 * Users and products from records whose columns follow either reference schema
 * (../shared/seed-formats/*.sql) or flowmark's own tables — a CSV row, a JSON line or a database
 * row, already split into named values. Pure mapping: the file reading is in
 * `src/connectors/files/dimension-file-reader.ts`.
 *
 * | field            | columns, first found wins (names compared case-insensitively) |
 * |------------------|----------------------------------------------------------------|
 * | `userId`         | `user_id`, `id`                                                |
 * | `name` (user)    | `name`, `username`                                             |
 * | `gender`         | `gender`                                                       |
 * | `productId`      | `product_id`, `id`                                             |
 * | `name` (product) | `product_name`, `name`, `product`                              |
 * | `category`       | `category`                                                     |
 * | `price`          | `price`                                                        |
 * | `commissionRate` | `commission_rate`                                              |
 *
 * No other column is ever read (a users table's `password` is not even looked at). Ids follow
 * the events' rule: a string as written, an integer as its decimal string. Numbers may be JSON
 * numbers or decimal strings (CSV, and Postgres `numeric` as text). An empty value is null.
 */
import { Rejected } from '../../engine/index.ts';
import type { ProductRow, UserRow } from '../event-types.ts';
import { fitsText, MAX_ID_BYTES, textProblem } from '../events/storage-limits.ts';

/** The candidate columns of each field, in order of preference. */
export const USER_COLUMN_CANDIDATES = {
  userId: ['user_id', 'id'],
  name: ['name', 'username'],
  gender: ['gender'],
} as const;

export const PRODUCT_COLUMN_CANDIDATES = {
  productId: ['product_id', 'id'],
  name: ['product_name', 'name', 'product'],
  category: ['category'],
  price: ['price'],
  commissionRate: ['commission_rate'],
} as const;

/** Every column the user mapping may read: what a reader needs to keep (its allow-list). */
export const USER_COLUMN_NAMES: readonly string[] = Object.values(USER_COLUMN_CANDIDATES).flat();
export const PRODUCT_COLUMN_NAMES: readonly string[] = Object.values(PRODUCT_COLUMN_CANDIDATES).flat();

/** For each field, the column of the records that holds it (as spelled there), if any. */
export type UserColumns = { [F in keyof typeof USER_COLUMN_CANDIDATES]?: string };
export type ProductColumns = { [F in keyof typeof PRODUCT_COLUMN_CANDIDATES]?: string };

function resolveColumns<C extends Record<string, readonly string[]>>(
  candidates: C,
  names: Iterable<string>,
): { [F in keyof C]?: string } {
  const byLowerName = new Map<string, string>();
  for (const n of names) {
    const key = n.trim().toLowerCase();
    if (!byLowerName.has(key)) byLowerName.set(key, n);
  }
  const out: { [F in keyof C]?: string } = {};
  for (const field of Object.keys(candidates) as (keyof C)[]) {
    for (const c of candidates[field] as readonly string[]) {
      const actual = byLowerName.get(c);
      if (actual !== undefined) {
        out[field] = actual;
        break;
      }
    }
  }
  return out;
}

/**
 * Which column holds each user field, from the column names of a file or table.
 *
 * @example
 * userColumnsOf(['ID', 'USERNAME', 'PASSWORD']); // { userId: 'ID', name: 'USERNAME' }
 */
export function userColumnsOf(names: Iterable<string>): UserColumns {
  return resolveColumns(USER_COLUMN_CANDIDATES, names);
}

/** Which column holds each product field; see {@link userColumnsOf}. */
export function productColumnsOf(names: Iterable<string>): ProductColumns {
  return resolveColumns(PRODUCT_COLUMN_CANDIDATES, names);
}

/**
 * One user. `columns` (from {@link userColumnsOf}, computed once per file) is worked out from the
 * record's own keys when not given.
 *
 * @example
 * parseUserRecord({ id: '42', username: 'ada', password: 'x' }); // { userId: '42', name: 'ada', gender: null }
 */
export function parseUserRecord(
  record: Readonly<Record<string, unknown>>,
  columns: UserColumns = userColumnsOf(Object.keys(record)),
): UserRow | Rejected {
  const userId = readId(record, columns.userId, USER_COLUMN_CANDIDATES.userId, 'user');
  if (userId instanceof Rejected) return userId;
  const name = readText(record, columns.name);
  if (name instanceof Rejected) return name;
  const gender = readText(record, columns.gender);
  if (gender instanceof Rejected) return gender;
  return { userId, name, gender };
}

/**
 * One product; see {@link parseUserRecord}. `price` must be ≥ 0 and `commission_rate` in [0, 1].
 *
 * @example
 * parseProductRecord({ id: 7, name: 'lamp', description: '…', price: '37.12' });
 * // { productId: '7', name: 'lamp', category: null, price: 37.12, commissionRate: null }
 */
export function parseProductRecord(
  record: Readonly<Record<string, unknown>>,
  columns: ProductColumns = productColumnsOf(Object.keys(record)),
): ProductRow | Rejected {
  const productId = readId(record, columns.productId, PRODUCT_COLUMN_CANDIDATES.productId, 'product');
  if (productId instanceof Rejected) return productId;
  const name = readText(record, columns.name);
  if (name instanceof Rejected) return name;
  const category = readText(record, columns.category);
  if (category instanceof Rejected) return category;
  const price = readDecimal(record, columns.price, 0, Infinity, '');
  if (price instanceof Rejected) return price;
  const commissionRate = readDecimal(record, columns.commissionRate, 0, 1, ' (a rate: 12 % is 0.12)');
  if (commissionRate instanceof Rejected) return commissionRate;
  return { productId, name, category, price, commissionRate };
}

/** A value as it appears in a detail: JSON for scalars (strings quoted), cut at 60 characters. */
function show(value: unknown): string {
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

function readId(
  record: Readonly<Record<string, unknown>>,
  column: string | undefined,
  candidates: readonly string[],
  what: string,
): string | Rejected {
  if (column === undefined) {
    const found = Object.keys(record).join(', ') || 'none';
    return new Rejected(
      'missing_field',
      `no ${what} id column: a ${what}s file or table needs a column named ${candidates.join(' or ')} (found: ${found})`,
    );
  }
  const v = record[column];
  if (typeof v === 'string' && v !== '') {
    if (fitsText(v, MAX_ID_BYTES)) return v;
    // No event can name it (events' ids have the same limit), and no table can key it: the row
    // is unusable, not a row with a null, so it is refused like any other bad row of the file.
    return new Rejected('invalid_field', `${column} ${show(v)} ${textProblem(v, MAX_ID_BYTES, 'an id')}`);
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'bigint' && v >= 0n) return v.toString();
  if (v === undefined || v === null || v === '') {
    return new Rejected('missing_field', `${column} is empty: every ${what} needs an id`);
  }
  return new Rejected(
    'invalid_field',
    `${column} must be a non-empty string or a non-negative integer, got ${show(v)}`,
  );
}

/** Text; numbers are taken as written; empty (after trimming) is null. */
function readText(record: Readonly<Record<string, unknown>>, column: string | undefined): string | null | Rejected {
  if (column === undefined) return null;
  const v = record[column];
  if (typeof v === 'string') {
    const s = v.trim();
    if (s === '') return null;
    // Text no table can hold, at any length: `import` writes these rows to the database as read,
    // so it is a bad row of the file (a length over the limit is not: see dimension-checks.ts).
    if (s.indexOf('\u0000') !== -1 || !s.isWellFormed())
      return new Rejected('invalid_field', `${column} ${show(s)} ${textProblem(s, Number.POSITIVE_INFINITY, 'text')}`);
    return s;
  }
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return new Rejected('invalid_field', `${column} must be text, got ${show(v)}`);
}

/** A plain decimal: optional sign, digits with an optional dot, optional exponent. No `0x`, no `1,5`. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function readDecimal(
  record: Readonly<Record<string, unknown>>,
  column: string | undefined,
  min: number,
  max: number,
  hint: string,
): number | null | Rejected {
  if (column === undefined) return null;
  const v = record[column];
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') {
    const s = v.trim();
    if (s === '') return null;
    if (!DECIMAL.test(s)) {
      const why = /^[+-]?\d+,\d+$/.test(s)
        ? ' (write the decimal separator as a dot)'
        : /^[^\d+\-.]/.test(s) && /\d/.test(s)
          ? ' (write the number alone, without a currency sign or unit)'
          : '';
      return new Rejected('invalid_field', `${column} must be a number, got ${show(v)}${why}`);
    }
    n = Number(s);
  } else if (v === undefined || v === null) return null;
  else return new Rejected('invalid_field', `${column} must be a number, got ${show(v)}`);
  if (!Number.isFinite(n) || n < min || n > max) {
    const range = max === Infinity ? `≥ ${min}` : `in [${min}, ${max}]`;
    return new Rejected('invalid_field', `${column} must be a number ${range}, got ${show(v)}${hint}`);
  }
  return n;
}
