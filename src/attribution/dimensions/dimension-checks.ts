/**
 * What a looked-up user or product row may bring into the output (ARCHITECTURE §3.4, §3.6): a
 * value the output columns cannot hold (storage-limits.ts) becomes null, and the row's problem
 * is reported (the pipeline makes it a dead letter naming the table and the key). The checkout
 * that looked the row up is never dropped for it.
 *
 * | field                  | stored as                       | rule                                 |
 * |------------------------|---------------------------------|--------------------------------------|
 * | user `name`            | `user_name`                     | text ≤ 1 024 bytes, no U+0000        |
 * | user `gender`          | `user_gender`, analytics label  | text ≤ 256 bytes, no U+0000          |
 * | product `name`         | `product_name`                  | text ≤ 1 024 bytes, no U+0000        |
 * | product `category`     | `product_category`, analytics   | text ≤ 256 bytes, no U+0000          |
 * | product `price`        | `product_price`, order value    | a number from 0 to 10 000 000 000    |
 * | product `commissionRate` | `commission_rate`, profit     | a number from 0 to 1                 |
 *
 * The rows come from files (checked for types when loaded, dimension-tables.ts) or from the
 * shop's database (whose column types are checked before the run, but not its values), so every
 * row is checked here, once per look-up (the look-up's cache keeps the checked row).
 */
import type { LookupFn } from '../../engine/index.ts';
import type { ProductRow, UserRow } from '../event-types.ts';
import { fitsText, MAX_AMOUNT, MAX_LABEL_BYTES, MAX_NAME_BYTES, textProblem } from '../events/storage-limits.ts';

/** One value of one dimension row that could not be stored, and was read as null. */
export interface DimensionProblem {
  table: 'users' | 'products';
  /** The row's key (user_id or product_id). */
  key: string;
  /** The field as named in the output (`price`, `name`, …). */
  field: string;
  /** `products row "p1": price 1e+308 is …`. */
  detail: string;
  /** The row as it was read, as JSON with the table's column names (a number that is not finite as a string). */
  raw: string;
}

/** A row with its unstorable values replaced by null, and what they were. */
export interface CheckedRow<R> {
  row: R;
  problems: readonly DimensionProblem[];
}

const NO_PROBLEMS: readonly DimensionProblem[] = [];

function rawOf(table: string, row: object): string {
  return JSON.stringify({ table, ...row }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

/** A small collector: the fields of one row that do not fit. */
class RowCheck {
  problems: DimensionProblem[] | undefined;
  readonly table: 'users' | 'products';
  readonly key: string;
  readonly row: object;
  constructor(table: 'users' | 'products', key: string, row: object) {
    this.table = table;
    this.key = key;
    this.row = row;
  }

  text(field: string, v: string | null, maxBytes: number, what: string): string | null {
    if (v === null || fitsText(v, maxBytes)) return v;
    this.add(field, `${field} ${shortJson(v)} ${textProblem(v, maxBytes, what)}`);
    return null;
  }

  number(field: string, v: number | null, min: number, max: number, what: string): number | null {
    if (v === null || (v >= min && v <= max)) return v;
    this.add(field, `${field} ${String(v)} is not ${what} flowmark can store (a number from ${min} to ${max})`);
    return null;
  }

  private add(field: string, why: string): void {
    const detail = `${this.table} row ${shortJson(this.key)}: ${why}; it is read as null, and checkouts of this ${this.table === 'users' ? 'user' : 'product'} are output with null in its place: fix the row`;
    (this.problems ??= []).push({
      table: this.table,
      key: this.key,
      field,
      detail,
      raw: rawOf(this.table, this.row),
    });
  }
}

/** JSON of a string, cut at 60 characters (a detail shows the head of a long value). */
function shortJson(s: string): string {
  const text = JSON.stringify(s);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

/**
 * A user row with its unstorable values as null.
 *
 * @example
 * checkUserRow({ userId: 'u1', name: 'x'.repeat(5000), gender: 'F' });
 * // { row: { userId: 'u1', name: null, gender: 'F' }, problems: [{ table: 'users', key: 'u1', field: 'name', … }] }
 */
export function checkUserRow(u: UserRow): CheckedRow<UserRow> {
  const c = new RowCheck('users', u.userId, { user_id: u.userId, name: u.name, gender: u.gender });
  const name = c.text('name', u.name, MAX_NAME_BYTES, 'a name');
  const gender = c.text('gender', u.gender, MAX_LABEL_BYTES, 'a label');
  if (c.problems === undefined) return { row: u, problems: NO_PROBLEMS };
  return { row: { userId: u.userId, name, gender }, problems: c.problems };
}

/**
 * A product row with its unstorable values as null (a price of 1e308 would make the order value
 * Infinity).
 *
 * @example
 * checkProductRow({ productId: 'p1', name: 'lamp', category: null, price: 1e308, commissionRate: 0.1 }).row.price; // null
 */
export function checkProductRow(p: ProductRow): CheckedRow<ProductRow> {
  const c = new RowCheck('products', p.productId, {
    product_id: p.productId,
    name: p.name,
    category: p.category,
    price: p.price,
    commission_rate: p.commissionRate,
  });
  const name = c.text('name', p.name, MAX_NAME_BYTES, 'a name');
  const category = c.text('category', p.category, MAX_LABEL_BYTES, 'a label');
  const price = c.number('price', p.price, 0, MAX_AMOUNT, 'a price');
  const commissionRate = c.number('commission_rate', p.commissionRate, 0, 1, 'a commission rate');
  if (c.problems === undefined) return { row: p, problems: NO_PROBLEMS };
  return { row: { productId: p.productId, name, category, price, commissionRate }, problems: c.problems };
}

/** A look-up whose rows are checked as they arrive (so the look-up join caches checked rows). */
export function checkedLookup<R, C>(lookup: LookupFn<R>, check: (row: R) => C): LookupFn<C> {
  return async (keys) => {
    const found = await lookup(keys);
    const out = new Map<string, C>();
    for (const [k, row] of found) out.set(k, check(row));
    return out;
  };
}
