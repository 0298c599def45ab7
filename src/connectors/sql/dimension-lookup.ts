import { FlowmarkError, type LookupFn } from '../../engine/index.ts';
import { qualified, quoteIdent, type SqlClient } from './sql-client.ts';
import { sqlError } from './sql-errors.ts';

/** A user row as the lookup returns it (the same shape as the application's UserRow). */
export interface UserLookupRow {
  userId: string;
  name: string | null;
  gender: string | null;
}

/** A product row as the lookup returns it (the same shape as the application's ProductRow). */
export interface ProductLookupRow {
  productId: string;
  name: string | null;
  category: string | null;
  price: number | null;
  commissionRate: number | null;
}

/**
 * Where a dimension is read from. Each field of the row maps to a column of the table, or to
 * `null` when the table has no such column (the field is then always null). Only these columns
 * are ever selected — never `SELECT *`, so a password column next to them is never read.
 */
export interface DimensionTableSpec<F extends string> {
  schema?: string;
  table?: string;
  keyColumn?: string;
  columns?: Partial<Record<F, string | null>>;
}

export type UsersTableSpec = DimensionTableSpec<'name' | 'gender'>;
export type ProductsTableSpec = DimensionTableSpec<'name' | 'category' | 'price' | 'commissionRate'>;

/** flowmark's own `users` table; e.g. `commerce.users(id, username, password)` is
 * `{ schema: 'commerce', table: 'users', keyColumn: 'id', columns: { name: 'username', gender: null } }`. */
export const DEFAULT_USERS_TABLE = {
  schema: 'flowmark',
  table: 'users',
  keyColumn: 'user_id',
  columns: { name: 'name', gender: 'gender' },
} as const;

/** flowmark's own `products` table, which is also the layout of `shop.products`. */
export const DEFAULT_PRODUCTS_TABLE = {
  schema: 'flowmark',
  table: 'products',
  keyColumn: 'product_id',
  columns: { name: 'product_name', category: 'category', price: 'price', commissionRate: 'commission_rate' },
} as const;

type FieldKind = 'text' | 'number';

interface Resolved {
  what: string;
  schema: string;
  table: string;
  keyColumn: string;
  /** Field name, its column (null: not in the table) and how to read it. */
  fields: { field: string; column: string | null; kind: FieldKind }[];
}

/** How keys are compared: integer key columns by value (index-friendly), others as text. */
export type KeyMatch = 'integer' | 'text';

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);
/** The decimal string of an integer, as ids are written (no sign +, no leading zeros, no -0). */
const CANONICAL_INTEGER = /^(0|-?[1-9]\d{0,18})$/;
/** Column types a number field (price, commission rate) can be read from exactly. */
const NUMBER_TYPE = /^(smallint|integer|bigint|numeric|real|double precision)\b/;
const INT8_MAX = 9223372036854775807n;

/**
 * The one statement of a look-up: only the key and the configured columns, as text, for a batch
 * of keys in `$1`. Integer key columns are compared as integers (`id = ANY($1::bigint[])`, which
 * can use the index; callers pass only canonical decimal strings), others as text
 * (`key::text = ANY($1::text[])`).
 */
function lookupSql(r: Resolved, match: KeyMatch): string {
  const key = quoteIdent(r.keyColumn);
  const select = [`${key}::text AS k`];
  r.fields.forEach((f, i) => {
    if (f.column !== null) select.push(`${quoteIdent(f.column)}::text AS f${i}`);
  });
  const where = match === 'integer' ? `${key} = ANY($1::bigint[])` : `${key}::text = ANY($1::text[])`;
  return `SELECT ${select.join(', ')} FROM ${qualified(r.schema, r.table)} WHERE ${where}`;
}

function resolve<F extends string>(
  what: string,
  spec: DimensionTableSpec<F>,
  defaults: { schema: string; table: string; keyColumn: string; columns: Record<F, string> },
  kinds: Record<F, FieldKind>,
): Resolved {
  const columns = { ...defaults.columns, ...spec.columns } as Record<F, string | null>;
  return {
    what,
    schema: spec.schema ?? defaults.schema,
    table: spec.table ?? defaults.table,
    keyColumn: spec.keyColumn ?? defaults.keyColumn,
    fields: (Object.keys(kinds) as F[]).map((field) => ({ field, column: columns[field] ?? null, kind: kinds[field] })),
  };
}

/**
 * Checks that the table and every configured column exist, that number fields are numeric
 * columns, and that the database user may read each column; returns how keys are compared.
 * Reads only the catalog, and only for the configured columns.
 */
async function inspect(client: SqlClient, r: Resolved): Promise<KeyMatch> {
  const name = `${r.schema}.${r.table}`;
  const { rows: found } = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [
    qualified(r.schema, r.table),
  ]);
  if (found[0]?.oid == null) {
    throw new FlowmarkError('FM_CONFIG_INVALID', `${r.what} table ${name} does not exist (check its schema and table)`);
  }
  const wanted = [r.keyColumn, ...r.fields.flatMap((f) => (f.column === null ? [] : [f.column]))];
  const { rows } = await client.query<{ name: string; type: string; readable: boolean }>(
    `SELECT attname::text AS name, format_type(atttypid, NULL) AS type,
            has_column_privilege(attrelid, attnum, 'SELECT') AS readable
     FROM pg_catalog.pg_attribute
     WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped AND attname = ANY($2::text[])`,
    [qualified(r.schema, r.table), wanted],
  );
  const columns = new Map(rows.map((c) => [c.name, c]));
  const unreadable: string[] = [];
  for (const f of [{ field: 'key', column: r.keyColumn, kind: 'text' as FieldKind }, ...r.fields]) {
    if (f.column === null) continue;
    const c = columns.get(f.column);
    if (c === undefined) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `${r.what} table ${name} has no column "${f.column}" (configured for ${f.field})` +
          (f.field === 'key' ? '' : `; set ${f.field} to null if the table has no such column`),
      );
    }
    if (f.kind === 'number' && !NUMBER_TYPE.test(c.type)) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `${r.what} column ${name}.${f.column} (configured for ${f.field}) is of type ${c.type}; ` +
          `${f.field} is read as a number: use a numeric column (or a view that casts it)`,
      );
    }
    if (!c.readable) unreadable.push(f.column);
  }
  if (unreadable.length > 0) {
    // Checked here, before anything starts, rather than failing the first look-up.
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `the database user may not read ${unreadable.map((c) => `"${c}"`).join(', ')} of ${r.what} table ${name}: ` +
        `GRANT SELECT (${[...new Set([r.keyColumn, ...r.fields.flatMap((f) => (f.column === null ? [] : [f.column]))])].map(quoteIdent).join(', ')}) ON ${qualified(r.schema, r.table)} TO <flowmark's user>`,
    );
  }
  return INTEGER_TYPES.has(columns.get(r.keyColumn)?.type as string) ? 'integer' : 'text';
}

function isInt8(key: string): boolean {
  if (!CANONICAL_INTEGER.test(key)) return false;
  const n = BigInt(key);
  return n <= INT8_MAX && n >= -INT8_MAX - 1n;
}

/**
 * A numeric column's text as a number, as it is: NaN, ±Infinity and 1e308 included, so that the
 * application's row check reports the row instead of this reader hiding it.
 */
function toNumber(text: string | null): number | null {
  return text === null ? null : Number(text);
}

/** A batched look-up over `r`: one query per call; keys not found are absent from the map. */
function tableLookup<V>(
  client: SqlClient,
  r: Resolved,
  build: (key: string, f: Record<string, unknown>) => V,
): LookupFn<V> {
  let plan: Promise<{ sql: string; match: KeyMatch }> | undefined;
  const planOf = () => {
    plan ??= inspect(client, r).then(
      (match) => ({ sql: lookupSql(r, match), match }),
      (err) => {
        plan = undefined; // a database that was down may be back next time
        throw err;
      },
    );
    return plan;
  };
  return async (keys) => {
    const out = new Map<string, V>();
    try {
      const { sql, match } = await planOf();
      const wanted = match === 'integer' ? keys.filter(isInt8) : [...keys];
      if (wanted.length === 0) return out;
      const { rows } = await client.query<Record<string, string | null>>(sql, [wanted]);
      for (const row of rows) {
        const key = row.k as string;
        const fields: Record<string, unknown> = {};
        r.fields.forEach((f, i) => {
          const text = f.column === null ? null : (row[`f${i}`] ?? null);
          fields[f.field] = f.kind === 'number' ? toNumber(text) : text;
        });
        out.set(key, build(key, fields));
      }
      return out;
    } catch (err) {
      throw sqlError(err, 'FM_LOOKUP_FAILED', `looking up ${r.what} in ${r.schema}.${r.table} failed`);
    }
  };
}

/**
 * Looks users up by id in a users table (flowmark's own by default, or the shop's).
 *
 * @example
 * const users = usersLookup(client, { schema: 'commerce', table: 'users', keyColumn: 'id', columns: { name: 'username', gender: null } });
 * await users(['1', '7', 'x']); // Map { '1' => { userId: '1', name: 'alice', gender: null } } — 7 unknown, x not an id
 * // the query: SELECT "id"::text AS k, "username"::text AS f0 FROM "commerce"."users" WHERE "id" = ANY($1::bigint[])
 */
export function usersLookup(client: SqlClient, spec: UsersTableSpec = {}): LookupFn<UserLookupRow> {
  const r = resolve('users', spec, DEFAULT_USERS_TABLE, { name: 'text', gender: 'text' });
  return tableLookup(client, r, (userId, f) => ({
    userId,
    name: f.name as string | null,
    gender: f.gender as string | null,
  }));
}

/** Looks products up by id in a products table (flowmark's own by default, or the shop's). */
export function productsLookup(client: SqlClient, spec: ProductsTableSpec = {}): LookupFn<ProductLookupRow> {
  const r = resolve('products', spec, DEFAULT_PRODUCTS_TABLE, {
    name: 'text',
    category: 'text',
    price: 'number',
    commissionRate: 'number',
  });
  return tableLookup(client, r, (productId, f) => ({
    productId,
    name: f.name as string | null,
    category: f.category as string | null,
    price: f.price as number | null,
    commissionRate: f.commissionRate as number | null,
  }));
}

/**
 * Checks a users/products configuration against the database before anything starts: the table
 * and each configured column must exist, be of a usable type and be readable. Throws
 * FM_CONFIG_INVALID naming what is wrong. Checks the dimensions given (both when both are).
 */
export async function checkDimensionTables(
  client: SqlClient,
  specs: { users?: UsersTableSpec; products?: ProductsTableSpec },
): Promise<void> {
  const checks: Resolved[] = [];
  if (specs.users !== undefined) {
    checks.push(resolve('users', specs.users, DEFAULT_USERS_TABLE, { name: 'text', gender: 'text' }));
  }
  if (specs.products !== undefined) {
    checks.push(
      resolve('products', specs.products, DEFAULT_PRODUCTS_TABLE, {
        name: 'text',
        category: 'text',
        price: 'number',
        commissionRate: 'number',
      }),
    );
  }
  for (const r of checks) {
    try {
      await inspect(client, r);
    } catch (err) {
      throw sqlError(err, 'FM_LOOKUP_FAILED', `checking the ${r.what} table failed`);
    }
  }
}
