/**
 * Users and products looked up in the shop's own tables, created by the reference schemas
 * ../shared/seed-formats/*.sql executed unchanged: `shop.users(user_id, name, gender, …)`,
 * `shop.products(product_id, …)` and `commerce.users(id, username, password)`. The files are
 * copied byte for byte into fixtures/ (so the tests need nothing outside the repository); a test
 * checks the copies against the originals when they are on the machine.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { ProductRow, UserRow } from '../../../src/attribution/event-types.ts';
import {
  checkDimensionTables,
  type ProductsTableSpec,
  productsLookup,
  type UsersTableSpec,
  usersLookup,
} from '../../../src/connectors/sql/dimension-lookup.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import type { LookupFn } from '../../../src/engine/lookup-types.ts';
import { requirePath } from '../../support/services.ts';
import { sharedPglite } from '../pglite/pglite-fixtures.ts';
import { recording } from './sql-fixtures.ts';

const SEEDS = new URL('./fixtures/', import.meta.url);
const SHARED_SEEDS = new URL('../../../../shared/seed-formats/', import.meta.url);
const SEED_FILES = ['tutorial-schema.sql', 'insights-schema.sql'];

const SHOP_USERS: UsersTableSpec = {
  schema: 'shop',
  table: 'users',
  keyColumn: 'user_id',
  columns: { name: 'name', gender: 'gender' },
};
const SHOP_PRODUCTS: ProductsTableSpec = { schema: 'shop', table: 'products' }; // flowmark's column names
const COMMERCE_USERS: UsersTableSpec = {
  schema: 'commerce',
  table: 'users',
  keyColumn: 'id',
  columns: { name: 'username', gender: null },
};
const COMMERCE_PRODUCTS: ProductsTableSpec = {
  schema: 'commerce',
  table: 'products',
  keyColumn: 'id',
  columns: { name: 'name', category: null, price: 'price', commissionRate: null },
};

const seeded = sharedPglite().then(async (client) => {
  for (const file of SEED_FILES) {
    await client.exec(readFileSync(new URL(file, SEEDS), 'utf8')); // as they are
  }
  await client.exec(`
    INSERT INTO shop.users (user_id, name, email, gender) VALUES ('u1', 'Ada', 'ada@example.com', 'F'), ('u2', 'Bo', NULL, NULL), ('42', 'Numeric', NULL, 'M');
    INSERT INTO shop.products (product_id, product_name, category, brand, price, commission_rate)
      VALUES ('p1', 'Lamp', 'home', 'Lux', 19.99, 0.15), ('p2', 'Mug', NULL, NULL, NULL, NULL);
    INSERT INTO commerce.users (id, username, password) VALUES (1, 'alice', 'secret-1'), (2, 'bob', 'secret-2'), (42, 'zed', 'secret-42');
    INSERT INTO commerce.products (id, name, description, price) VALUES (7, 'Kettle', 'boils', 19.99), (8, 'Cup', NULL, 2.5);
    CREATE SCHEMA secrets;
    CREATE TABLE secrets.users (id text PRIMARY KEY, password text NOT NULL);
    INSERT INTO secrets.users VALUES ('s1', 'hunter2');
  `);
  return client;
});

test('the copies in fixtures/ are the seed schemas of ../shared/seed-formats, byte for byte', (t) => {
  if (!requirePath(t, SHARED_SEEDS.pathname)) return;
  for (const file of SEED_FILES) {
    assert.equal(readFileSync(new URL(file, SEEDS), 'utf8'), readFileSync(new URL(file, SHARED_SEEDS), 'utf8'), file);
  }
});

test('both seed schemas run unchanged on PGlite (tutorial-schema.sql, insights-schema.sql)', async () => {
  const client = await seeded;
  const { rows } = await client.query<{ t: string }>(
    `SELECT table_schema || '.' || table_name AS t FROM information_schema.tables
     WHERE table_schema IN ('shop', 'commerce') ORDER BY 1`,
  );
  assert.deepEqual(
    rows.map((r) => r.t),
    [
      'commerce.attributed_checkouts',
      'commerce.products',
      'commerce.users',
      'shop.checkout_attribution',
      'shop.products',
      'shop.users',
    ],
  );
});

test('shop.users and shop.products: found keys mapped to rows, unknown keys absent', async () => {
  const client = await seeded;
  const users: LookupFn<UserRow> = usersLookup(client, SHOP_USERS);
  const found = await users(['u1', 'nobody', 'u2', '42']);
  assert.deepEqual([...found.entries()].sort(), [
    ['42', { userId: '42', name: 'Numeric', gender: 'M' }],
    ['u1', { userId: 'u1', name: 'Ada', gender: 'F' }],
    ['u2', { userId: 'u2', name: 'Bo', gender: null }],
  ]);
  const products: LookupFn<ProductRow> = productsLookup(client, SHOP_PRODUCTS);
  assert.deepEqual([...(await products(['p2', 'p1', 'p404'])).entries()].sort(), [
    ['p1', { productId: 'p1', name: 'Lamp', category: 'home', price: 19.99, commissionRate: 0.15 }],
    ['p2', { productId: 'p2', name: 'Mug', category: null, price: null, commissionRate: null }],
  ]);
});

test('commerce.users(id int, username, password): integer ids match their decimal string only', async () => {
  const client = await seeded;
  const users = usersLookup(client, COMMERCE_USERS);
  const found = await users(['1', '42', '01', '1.0', '+1', ' 1', 'x', '99', '9223372036854775808', '', '-0']);
  assert.deepEqual([...found.entries()].sort(), [
    ['1', { userId: '1', name: 'alice', gender: null }],
    ['42', { userId: '42', name: 'zed', gender: null }],
  ]);
  const products = productsLookup(client, COMMERCE_PRODUCTS);
  assert.deepEqual(Object.fromEntries(await products(['7', '8', '9'])), {
    7: { productId: '7', name: 'Kettle', category: null, price: 19.99, commissionRate: null }, // a REAL column: 19.99, not 19.989999771118164
    8: { productId: '8', name: 'Cup', category: null, price: 2.5, commissionRate: null },
  });
});

test('the password column is never selected: the SQL names only the configured columns', async () => {
  const client = await seeded;
  for (const [spec, keys] of [
    [COMMERCE_USERS, ['1', '2']],
    [{ schema: 'secrets', table: 'users', keyColumn: 'id', columns: { name: null, gender: null } }, ['s1', 's2']],
  ] as const) {
    const rec = recording(client);
    const found = await usersLookup(rec.client, spec)([...keys]);
    assert.ok(found.size > 0);
    assert.ok(
      !JSON.stringify([...found.values()]).includes('secret') && !JSON.stringify([...found]).includes('hunter2'),
    );
    assert.ok(rec.statements.length > 0);
    for (const sql of rec.statements) {
      assert.doesNotMatch(sql, /password|\*/i, `a statement names the password or selects *: ${sql}`);
    }
  }
  const rec = recording(client);
  await usersLookup(rec.client, COMMERCE_USERS)(['1']);
  assert.equal(
    rec.statements.at(-1),
    'SELECT "id"::text AS k, "username"::text AS f0 FROM "commerce"."users" WHERE "id" = ANY($1::bigint[])',
  );
  const secrets = recording(client);
  assert.deepEqual(
    Object.fromEntries(
      await usersLookup(secrets.client, {
        schema: 'secrets',
        table: 'users',
        keyColumn: 'id',
        columns: { name: null, gender: null },
      })(['s1']),
    ),
    { s1: { userId: 's1', name: null, gender: null } },
  );
  assert.equal(
    secrets.statements.at(-1),
    'SELECT "id"::text AS k FROM "secrets"."users" WHERE "id"::text = ANY($1::text[])',
  );
});

test('one query per batch (after one look at the catalog), none for a batch without a possible key', async () => {
  const client = await seeded;
  const rec = recording(client);
  const users = usersLookup(rec.client, COMMERCE_USERS);
  await users(['1']);
  const first = rec.statements.length;
  await users(['1', '2', '3', '42']);
  await users(['2']);
  assert.equal(rec.statements.length - first, 2);
  await users(['not-a-number', '']);
  assert.equal(rec.statements.length - first, 2);
});

test('integer and varchar keys are compared in a way an index can serve', async () => {
  const client = await seeded;
  for (const [spec, keys] of [
    [COMMERCE_USERS, ['1']],
    [SHOP_USERS, ['u1']],
  ] as const) {
    const rec = recording(client);
    await usersLookup(rec.client, spec)([...keys]);
    const sql = rec.statements.at(-1) as string;
    const plan = await client.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN ${sql.replace('$1', `'{${keys.join(',')}}'`)}`,
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    assert.match(plan, /Index (Only )?Scan|Bitmap Index Scan/, plan);
  }
});

test('a missing table or column is a config error that names it', async () => {
  const client = await seeded;
  await assert.rejects(
    usersLookup(client, { ...COMMERCE_USERS, table: 'customers' })(['1']),
    (err) => isFlowmarkError(err, 'FM_CONFIG_INVALID') && /commerce\.customers does not exist/.test(err.message),
  );
  await assert.rejects(
    usersLookup(client, { ...COMMERCE_USERS, columns: { name: 'username' } })(['1']),
    (err) =>
      isFlowmarkError(err, 'FM_CONFIG_INVALID') && /no column "gender"/.test(err.message) && /null/.test(err.message),
  );
  await assert.rejects(
    checkDimensionTables(client, { users: COMMERCE_USERS, products: { ...COMMERCE_PRODUCTS, keyColumn: 'sku' } }),
    (err) => isFlowmarkError(err, 'FM_CONFIG_INVALID') && /no column "sku"/.test(err.message),
  );
  await checkDimensionTables(client, { users: COMMERCE_USERS, products: COMMERCE_PRODUCTS });
});

test('a number field configured on a non-numeric column is a config error, not silent nulls', async () => {
  const client = await seeded;
  // commerce.products.description is text: read as a price, every value would become null.
  await assert.rejects(
    checkDimensionTables(client, {
      users: COMMERCE_USERS,
      products: { ...COMMERCE_PRODUCTS, columns: { ...COMMERCE_PRODUCTS.columns, price: 'description' } },
    }),
    (err) =>
      isFlowmarkError(err, 'FM_CONFIG_INVALID') &&
      /commerce\.products\.description \(configured for price\) is of type text/.test(err.message),
  );
});
