import assert from 'node:assert/strict';
import { test } from 'node:test';
import { productsLookup, usersLookup } from '../../../src/connectors/sql/dimension-lookup.ts';
import { upsertProducts, upsertUsers } from '../../../src/connectors/sql/dimension-writer.ts';
import { sharedPglite } from '../pglite/pglite-fixtures.ts';
import { count, freshSchema, recording } from './sql-fixtures.ts';

const db = sharedPglite();

test('users are upserted in batches (last row per id wins) and read back by the lookup', async (t) => {
  const client = await db;
  const schema = await freshSchema(t, client);
  const rec = recording(client);
  const written = await upsertUsers(
    rec.client,
    [
      { userId: 'u1', name: 'Ada', gender: 'F' },
      { userId: 'u2', name: 'Bo', gender: null },
      { userId: 'u1', name: 'Ada L.', gender: 'F' },
      { userId: 'u3', name: 'Cy', gender: 'M' },
      { userId: 'u4', name: null, gender: null },
    ],
    { schema, batchRows: 2 },
  );
  assert.equal(written, 4);
  assert.equal(rec.statements.filter((s) => s.startsWith('INSERT')).length, 2, 'two statements of two rows');
  await upsertUsers(client, [{ userId: 'u2', name: 'Bo B.', gender: 'M' }], { schema });
  assert.equal(await count(client, schema, 'users'), 4);
  const found = await usersLookup(client, { schema })(['u1', 'u2', 'u9']);
  assert.deepEqual(Object.fromEntries(found), {
    u1: { userId: 'u1', name: 'Ada L.', gender: 'F' },
    u2: { userId: 'u2', name: 'Bo B.', gender: 'M' },
  });
});

test('products keep their money columns exact', async (t) => {
  const client = await db;
  const schema = await freshSchema(t, client);
  await upsertProducts(
    client,
    [
      { productId: 'p1', name: 'Lamp', category: 'home', price: 19.99, commissionRate: 0.15 },
      { productId: 'p2', name: 'Mug', category: null, price: null, commissionRate: null },
    ],
    { schema },
  );
  const found = await productsLookup(client, { schema })(['p1', 'p2']);
  assert.deepEqual(found.get('p1'), {
    productId: 'p1',
    name: 'Lamp',
    category: 'home',
    price: 19.99,
    commissionRate: 0.15,
  });
  assert.deepEqual(found.get('p2'), {
    productId: 'p2',
    name: 'Mug',
    category: null,
    price: null,
    commissionRate: null,
  });
});
