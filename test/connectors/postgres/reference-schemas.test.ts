/**
 * The shop's own tables on a PostgreSQL server: each reference schema of ../shared/seed-formats
 * (`commerce.users(id int, username, password)` and `commerce.products(id int, …, price real)`;
 * `shop.users(user_id varchar, name, gender, email, …)` and `shop.products(product_id, …)`) is
 * loaded unchanged into a fresh database, and flowmark connects as a role that has SELECT on the
 * columns it needs and on nothing else — not `password`, not `email`. `SELECT *` is refused to that
 * role, so every look-up that works here proves that no other column is ever read (§3.4).
 *
 * As that role, the seed events run through the attribution pipeline into flowmark's own schema
 * (created by the same role, one transaction per checkpoint) and the rows carry the shop's names,
 * prices and categories — those of the golden replay cases, whose users.csv and products.csv
 * hold the same rows.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { attributionOptions } from '../../../src/attribution/attribution-options.ts';
import { buildAttributionPipeline } from '../../../src/attribution/attribution-pipeline.ts';
import { outputMigrations, SINK_TABLES } from '../../../src/attribution/output-schema.ts';
import { LineFileSource } from '../../../src/connectors/files/line-file-source.ts';
import {
  checkDimensionTables,
  type ProductLookupRow,
  type ProductsTableSpec,
  productsLookup,
  type UserLookupRow,
  type UsersTableSpec,
  usersLookup,
} from '../../../src/connectors/sql/dimension-lookup.ts';
import { runMigrations } from '../../../src/connectors/sql/migrations.ts';
import { SqlCommitter } from '../../../src/connectors/sql/sql-committer.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { ManualClock, Runtime } from '../../../src/engine/index.ts';
import { requirePath } from '../../support/services.ts';
import { count, tableRows } from '../sql/sql-fixtures.ts';
import { sharedServerClient, withServer } from './pg-fixtures.ts';
import {
  openReferenceDatabase,
  type ReferenceDatabase,
  type ReferenceSetup,
  SEED_FILES,
  SHARED,
  seedFile,
  seedFileVersions,
} from './reference-schema-fixtures.ts';

interface Dimensions {
  users: UsersTableSpec;
  products: ProductsTableSpec;
}

interface Reference extends ReferenceSetup {
  name: 'tutorial' | 'insights';
  dims: Dimensions;
  scope: 'product' | 'user';
  /** Statements the reader role must be refused: the columns flowmark never reads. */
  refused: string[];
  /** Keys to look up and what must be found (everything else absent). */
  users: { keys: string[]; found: UserLookupRow[] };
  products: { keys: string[]; found: ProductLookupRow[] };
  /** Configurations that name a missing table or column, and the message that must say so. */
  broken: { dims: Partial<Dimensions>; message: RegExp }[];
  /** The dimension columns of the pipeline's rows, by checkout_time (numbers as the database's text). */
  enriched: Record<string, string | null>[];
}

const TUTORIAL_DIMS: Dimensions = {
  users: { schema: 'commerce', table: 'users', keyColumn: 'id', columns: { name: 'username', gender: null } },
  products: {
    schema: 'commerce',
    table: 'products',
    keyColumn: 'id',
    columns: { name: 'name', category: null, price: 'price', commissionRate: null },
  },
};
const INSIGHTS_DIMS: Dimensions = {
  users: { schema: 'shop', table: 'users', keyColumn: 'user_id' }, // name, gender: flowmark's column names
  products: { schema: 'shop', table: 'products', keyColumn: 'product_id' },
};

const noProduct = { product_name: null, product_category: null, product_price: null, commission_rate: null };

const REFERENCES: Reference[] = [
  {
    name: 'tutorial',
    schemaFile: 'tutorial-schema.sql',
    // The users of test/golden/seed-tutorial/users.csv. The tutorial's products are keyed by an
    // int, but its events name products by UUID: they can never match (see `enriched`).
    rows: `INSERT INTO commerce.users (id, username, password) VALUES (42, 'grace', 'hunter2'), (7, 'alan', 's3cret');
      INSERT INTO commerce.products (id, name, description, price) VALUES (1, 'lamp', 'a desk lamp', 37.12), (2, 'chair', NULL, 12.5)`,
    grants: (role) => `GRANT USAGE ON SCHEMA commerce TO ${role};
      GRANT SELECT (id, username) ON commerce.users TO ${role};
      GRANT SELECT (id, name, price) ON commerce.products TO ${role}`,
    refused: [
      'SELECT * FROM commerce.users',
      'SELECT password FROM commerce.users',
      'SELECT description FROM commerce.products',
    ],
    dims: TUTORIAL_DIMS,
    scope: 'product',
    users: {
      // '42' is the integer 42 given as a string; '042', '4.2', 'x', a UUID, a number beyond int4
      // and one beyond int8 are not ids of an int column: absent, and no SQL error.
      keys: ['42', '7', '99', '042', '4.2', 'x', '', 'U1007', '9999999999', '9223372036854775808'],
      found: [
        { userId: '42', name: 'grace', gender: null },
        { userId: '7', name: 'alan', gender: null },
      ],
    },
    products: {
      keys: ['1', '2', '3', '0c7b6a5e-1d2f-4e3a-9b8c-7d6e5f4a3b2c'],
      found: [
        // a REAL column: 37.12, not 37.119998931884766
        { productId: '1', name: 'lamp', category: null, price: 37.12, commissionRate: null },
        { productId: '2', name: 'chair', category: null, price: 12.5, commissionRate: null },
      ],
    },
    broken: [
      {
        dims: { users: { ...TUTORIAL_DIMS.users, table: 'customers' } },
        message: /commerce\.customers does not exist/,
      },
      {
        dims: { users: { ...TUTORIAL_DIMS.users, columns: { name: 'username' } } }, // gender defaults to "gender"
        message: /users table commerce\.users has no column "gender".*set gender to null/,
      },
      {
        dims: { products: { ...TUTORIAL_DIMS.products, keyColumn: 'sku' } },
        message: /products table commerce\.products has no column "sku"/,
      },
      {
        dims: {
          products: { ...TUTORIAL_DIMS.products, columns: { ...TUTORIAL_DIMS.products.columns, category: 'kind' } },
        },
        message: /products table commerce\.products has no column "kind" \(configured for category\)/,
      },
    ],
    enriched: [
      { user_name: 'grace', user_gender: null, ...noProduct, order_value: '512.77' },
      { user_name: 'alan', user_gender: null, ...noProduct, order_value: '88.10' },
    ],
  },
  {
    name: 'insights',
    schemaFile: 'insights-schema.sql',
    // The rows of test/golden/seed-insights/users.csv and products.csv.
    rows: `INSERT INTO shop.users (user_id, name, email, gender, birth_day, location, phone, registration_date) VALUES
        ('U1007', 'Ada', 'ada@example.com', 'F', '1990-01-01', 'Port Town', '555', '2025-01-01'),
        ('U2001', 'Bob', 'bob@example.com', 'M', '1985-05-05', 'Hill', '556', '2025-02-02');
      INSERT INTO shop.products (product_id, product_name, category, brand, price, commission_rate) VALUES
        ('P0042', 'Desk Lamp', 'home', 'Lumo', 37.12, 0.10), ('P0007', 'Chair', 'furniture', 'Sitwell', 12.5, 0.2)`,
    grants: (role) => `GRANT USAGE ON SCHEMA shop TO ${role};
      GRANT SELECT (user_id, name, gender) ON shop.users TO ${role};
      GRANT SELECT (product_id, product_name, category, price, commission_rate) ON shop.products TO ${role}`,
    refused: ['SELECT * FROM shop.users', 'SELECT email, phone FROM shop.users', 'SELECT brand FROM shop.products'],
    dims: INSIGHTS_DIMS,
    scope: 'user', // the insights clicks carry no product
    users: {
      keys: ['U1007', 'U2001', 'u1007', 'U1007 ', 'U9999', '', '42'],
      found: [
        { userId: 'U1007', name: 'Ada', gender: 'F' },
        { userId: 'U2001', name: 'Bob', gender: 'M' },
      ],
    },
    products: {
      keys: ['P0042', 'P0007', 'p0042', 'P404'],
      found: [
        { productId: 'P0042', name: 'Desk Lamp', category: 'home', price: 37.12, commissionRate: 0.1 },
        { productId: 'P0007', name: 'Chair', category: 'furniture', price: 12.5, commissionRate: 0.2 },
      ],
    },
    broken: [
      // the insights database has no schema commerce
      { dims: { users: { ...INSIGHTS_DIMS.users, schema: 'commerce' } }, message: /commerce\.users does not exist/ },
      { dims: { users: { ...INSIGHTS_DIMS.users, keyColumn: 'id' } }, message: /shop\.users has no column "id"/ },
      {
        dims: { products: { ...INSIGHTS_DIMS.products, columns: { category: 'department' } } },
        message: /products table shop\.products has no column "department" \(configured for category\)/,
      },
    ],
    enriched: [
      {
        user_name: 'Ada',
        user_gender: 'F',
        product_name: 'Desk Lamp',
        product_category: 'home',
        product_price: '37.12',
        commission_rate: '0.1',
        order_value: '94.66',
      },
      {
        user_name: 'Bob',
        user_gender: 'M',
        product_name: 'Chair',
        product_category: 'furniture',
        product_price: '12.5',
        commission_rate: '0.2',
        order_value: '11.88',
      },
    ],
  },
];

const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);

const readJsonl = (path: string | URL): Record<string, unknown>[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const sorted = <V extends { userId: string } | { productId: string }>(found: ReadonlyMap<string, V>) =>
  [...found.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
const byKey = <V extends { userId: string } | { productId: string }>(rows: V[]) =>
  rows.map((r): [string, V] => ['userId' in r ? r.userId : r.productId, r]).sort(([a], [b]) => (a < b ? -1 : 1));

/**
 * The seed events through the attribution pipeline as `db`'s role: flowmark's tables migrated
 * into schema `flowmark`, the dimension tables checked first, every checkpoint committed by
 * SqlCommitter. Returns the attributed_checkouts rows by checkout_time.
 */
async function runSeedPipeline(db: ReferenceDatabase, ref: Reference): Promise<Record<string, unknown>[]> {
  const schema = 'flowmark';
  await runMigrations(db.reader, schema, outputMigrations(schema));
  await checkDimensionTables(db.reader, ref.dims);
  const clock = new ManualClock(T0);
  const pipeline = buildAttributionPipeline(
    {
      clicks: new LineFileSource(seedFile(`${ref.name}-clicks.jsonl`)),
      checkouts: new LineFileSource(seedFile(`${ref.name}-checkouts.jsonl`)),
    },
    { users: usersLookup(db.reader, ref.dims.users), products: productsLookup(db.reader, ref.dims.products) },
    attributionOptions({ scope: ref.scope }),
    clock,
  );
  const committer = new SqlCommitter(db.reader, { schema, job: 'attribution', sinks: SINK_TABLES });
  const runtime = new Runtime(pipeline, { committer, clock });
  try {
    await runtime.run();
  } finally {
    await runtime.close();
  }
  assert.equal(await count(db.admin, schema, 'dead_letters'), 0, 'no seed line is a dead letter');
  return tableRows(db.admin, schema, 'attributed_checkouts', 'checkout_time', ['updated_at']);
}

test('the seed files used here are the repository copies, byte for byte (so a clone without ../shared runs the same)', (t) => {
  if (!requirePath(t, SHARED.pathname)) return;
  for (const name of SEED_FILES) {
    const versions = seedFileVersions(name);
    assert.ok(versions !== undefined, `${name} is missing from ${SHARED.pathname}`);
    assert.equal(versions.copy, versions.shared, name);
  }
});

withServer("the shop's own tables (reference schemas) on a PostgreSQL server", (url) => {
  const server = sharedServerClient(url);

  for (const ref of REFERENCES) {
    describe(`${ref.schemaFile}, loaded unchanged in a database of its own`, () => {
      let db: ReferenceDatabase;
      before(async () => {
        db = await openReferenceDatabase(server, url, ref);
      });
      after(() => db?.drop());

      test('the role flowmark connects as is refused the columns it never reads (SELECT * fails)', async () => {
        for (const sql of ref.refused) {
          await assert.rejects(db.reader.query(sql), (err: { code?: string; message?: string }) => {
            assert.equal(err.code, '42501', `${sql}: ${err.message}`);
            assert.match(err.message ?? '', /permission denied/);
            return true;
          });
        }
      });

      test('§3.4 as that role, checkDimensionTables passes and the look-ups return the rows', async () => {
        await checkDimensionTables(db.reader, ref.dims);
        const users = usersLookup(db.reader, ref.dims.users);
        assert.deepEqual(sorted(await users(ref.users.keys)), byKey(ref.users.found));
        const products = productsLookup(db.reader, ref.dims.products);
        assert.deepEqual(sorted(await products(ref.products.keys)), byKey(ref.products.found));
        // Unknown keys alone: an empty map, and the look-up still works afterwards.
        assert.equal((await users(['unknown-1', '123456'])).size, 0);
        assert.equal((await products(['unknown-1', '123456'])).size, 0);
        assert.equal((await users([ref.users.found[0]?.userId as string])).size, 1);
      });

      test('§3.4 even a configuration that names a secret column cannot read it as that role', async () => {
        const secret = ref.name === 'tutorial' ? 'password' : 'email';
        const users = { ...ref.dims, users: { ...ref.dims.users, columns: { name: secret, gender: null } } };
        // Refused before anything starts (the catalog says the role may not read it), naming the grant.
        await assert.rejects(
          checkDimensionTables(db.reader, users),
          (err) =>
            isFlowmarkError(err, 'FM_CONFIG_INVALID') &&
            err.message.includes(`may not read "${secret}"`) &&
            /GRANT SELECT \(/.test(err.message),
        );
        // The look-up checks the same on its first call: the server is never asked for the column.
        await assert.rejects(
          usersLookup(db.reader, users.users)([ref.users.found[0]?.userId as string]),
          (err) => isFlowmarkError(err, 'FM_CONFIG_INVALID') && err.message.includes(`may not read "${secret}"`),
        );
      });

      test('§3.6 a missing table or column is FM_CONFIG_INVALID naming schema.table and the column', async () => {
        for (const broken of ref.broken) {
          const dims = { ...ref.dims, ...broken.dims };
          const named = (err: unknown) => isFlowmarkError(err, 'FM_CONFIG_INVALID') && broken.message.test(err.message);
          await assert.rejects(checkDimensionTables(db.reader, dims), named, `checkDimensionTables: ${broken.message}`);
          const lookup =
            broken.dims.users === undefined
              ? productsLookup(db.reader, dims.products)
              : usersLookup(db.reader, dims.users);
          await assert.rejects(lookup(['1']), named, `the look-up's first call: ${broken.message}`);
        }
      });

      test(`the ${ref.name} seed events end to end: the attributed rows carry the shop's names, prices and categories`, async () => {
        const rows = await runSeedPipeline(db, ref);
        const golden = readJsonl(new URL(`../../golden/seed-${ref.name}/expected.jsonl`, import.meta.url));
        assert.deepEqual(
          rows.map((r) => r.checkout_id),
          golden.map((e) => e.checkout_id),
          'the golden replay case has the same checkouts',
        );
        golden.forEach((expected, i) => {
          const row = rows[i] as Record<string, unknown>;
          assert.equal(row.is_final, true);
          for (const [field, value] of Object.entries(expected)) {
            const actual = typeof value === 'number' && row[field] !== null ? Number(row[field]) : row[field];
            assert.deepEqual(actual, value, `${expected.checkout_id}.${field} as in the golden replay`);
          }
          const enriched = ref.enriched[i] as Record<string, string | null>;
          const dims = Object.fromEntries(Object.keys(enriched).map((k) => [k, row[k]]));
          assert.deepEqual(dims, enriched, `${expected.checkout_id}: the shop's values`);
        });
      });
    });
  }
});
