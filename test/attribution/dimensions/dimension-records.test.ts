import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  PRODUCT_COLUMN_NAMES,
  parseProductRecord,
  parseUserRecord,
  productColumnsOf,
  USER_COLUMN_NAMES,
  userColumnsOf,
} from '../../../src/attribution/dimensions/index.ts';
import { Rejected } from '../../../src/engine/index.ts';
import { requirePath } from '../../support/services.ts';

function rejected(result: unknown): Rejected {
  assert.ok(result instanceof Rejected, `expected a Rejected, got ${JSON.stringify(result)}`);
  return result;
}

/**
 * The dimension tables' columns in the two reference schemas (../shared/seed-formats/*.sql),
 * copied so that the tests need nothing outside the repository; a test below checks them.
 */
const SCHEMAS = {
  insights: {
    users: ['user_id', 'name', 'email', 'gender', 'birth_day', 'location', 'phone', 'registration_date'],
    products: ['product_id', 'product_name', 'category', 'brand', 'price', 'commission_rate'],
  },
  tutorial: {
    products: ['id', 'name', 'description', 'price'],
    users: ['id', 'username', 'PASSWORD'],
  },
};

const SHARED_SEEDS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/seed-formats');

/** The column names of `CREATE TABLE <table> (…)` in a schema file. */
function columnsOfTable(sql: string, table: string): string[] {
  const m = new RegExp(`CREATE TABLE ${table} \\(([\\s\\S]*?)\\);`).exec(sql);
  assert.ok(m, `no table ${table}`);
  return (m[1] as string).split(/,(?![^(]*\))/).map((c) => (c.trim().split(/\s+/)[0] as string).trim());
}

test('the columns above are those of the seed schemas', (t) => {
  if (!requirePath(t, SHARED_SEEDS)) return;
  for (const [name, tables] of Object.entries(SCHEMAS)) {
    const sql = readFileSync(resolve(SHARED_SEEDS, `${name}-schema.sql`), 'utf8');
    assert.deepEqual(columnsOfTable(sql, 'users'), tables.users, `${name} users`);
    assert.deepEqual(columnsOfTable(sql, 'products'), tables.products, `${name} products`);
  }
});

test('insights schema (shop.users, shop.products): every field found', () => {
  assert.deepEqual(userColumnsOf(SCHEMAS.insights.users), { userId: 'user_id', name: 'name', gender: 'gender' });
  assert.deepEqual(productColumnsOf(SCHEMAS.insights.products), {
    productId: 'product_id',
    name: 'product_name',
    category: 'category',
    price: 'price',
    commissionRate: 'commission_rate',
  });
  const user = {
    user_id: 'U1007',
    name: 'Ada Lovelace',
    email: 'ada@example.com',
    gender: 'F',
    birth_day: '1815-12-10',
    location: 'London',
    phone: '+44',
    registration_date: '2026-01-01',
  };
  assert.deepEqual(parseUserRecord(user), { userId: 'U1007', name: 'Ada Lovelace', gender: 'F' });
  const product = {
    product_id: 'P0042',
    product_name: 'Lamp',
    category: 'Home',
    brand: 'Acme',
    price: '37.12',
    commission_rate: '0.15',
  };
  assert.deepEqual(parseProductRecord(product), {
    productId: 'P0042',
    name: 'Lamp',
    category: 'Home',
    price: 37.12,
    commissionRate: 0.15,
  });
});

test('tutorial schema (commerce.users with a password, commerce.products): id, username, name', () => {
  assert.deepEqual(userColumnsOf(SCHEMAS.tutorial.users), { userId: 'id', name: 'username' });
  assert.deepEqual(productColumnsOf(SCHEMAS.tutorial.products), { productId: 'id', name: 'name', price: 'price' });
  const user = parseUserRecord({ id: 42, username: 'ada', PASSWORD: 'hunter2' });
  assert.deepEqual(user, { userId: '42', name: 'ada', gender: null });
  assert.ok(!JSON.stringify(user).includes('hunter2'), 'the password is nowhere in the row');
  assert.deepEqual(parseProductRecord({ id: 7, name: 'chair', description: 'a chair', price: 12.5 }), {
    productId: '7',
    name: 'chair',
    category: null,
    price: 12.5,
    commissionRate: null,
  });
});

test('the mapping reads no column but its own: not password, not any other', () => {
  const read: string[] = [];
  const spy = new Proxy(
    { id: '1', username: 'ada', password: 'x', PASSWORD: 'y', user_password: 'z', gender: 'F' },
    {
      get(target, key, receiver) {
        if (typeof key === 'string') read.push(key);
        return Reflect.get(target, key, receiver);
      },
    },
  );
  parseUserRecord(spy, userColumnsOf(['id', 'username', 'password', 'PASSWORD', 'user_password', 'gender']));
  assert.deepEqual(read.sort(), ['gender', 'id', 'username']);
  for (const name of [...USER_COLUMN_NAMES, ...PRODUCT_COLUMN_NAMES]) assert.doesNotMatch(name, /pass|secret|token/i);
});

test('column names: case-insensitive, trimmed; the first candidate wins', () => {
  assert.deepEqual(userColumnsOf(['ID', 'UserName', ' Gender ']), {
    userId: 'ID',
    name: 'UserName',
    gender: ' Gender ',
  });
  assert.deepEqual(parseUserRecord({ ID: '1', UserName: 'ada', ' Gender ': 'F' }), {
    userId: '1',
    name: 'ada',
    gender: 'F',
  });
  // user_id before id, name before username; product_name before name before product.
  assert.equal(userColumnsOf(['id', 'user_id']).userId, 'user_id');
  assert.equal(userColumnsOf(['username', 'name']).name, 'name');
  assert.equal(productColumnsOf(['product', 'name', 'product_name']).name, 'product_name');
  assert.equal(productColumnsOf(['product', 'id']).name, 'product');
});

test('ids: integer → decimal string, string as written; empty → missing_field; no id column → missing_field naming the candidates', () => {
  assert.equal((parseUserRecord({ user_id: 42 }) as { userId: string }).userId, '42');
  assert.equal((parseUserRecord({ user_id: '42' }) as { userId: string }).userId, '42');
  assert.equal((parseProductRecord({ id: 0 }) as { productId: string }).productId, '0');
  for (const empty of ['', null, undefined]) {
    const r = rejected(parseUserRecord({ user_id: empty, name: 'x' }));
    assert.equal(r.reason, 'missing_field');
    assert.equal(r.detail, 'user_id is empty: every user needs an id');
  }
  for (const bad of [-1, 1.5, true, {}]) {
    const r = rejected(parseProductRecord({ product_id: bad }));
    assert.equal(r.reason, 'invalid_field');
    assert.match(r.detail, /^product_id must be a non-empty string or a non-negative integer, got /);
  }
  const none = rejected(parseUserRecord({ uid: '1', name: 'x' }));
  assert.equal(none.reason, 'missing_field');
  assert.equal(
    none.detail,
    'no user id column: a users file or table needs a column named user_id or id (found: uid, name)',
  );
});

test('text: trimmed, empty is null, numbers as written, other types refused', () => {
  assert.deepEqual(parseUserRecord({ id: '1', name: '  Ada ', gender: '' }), {
    userId: '1',
    name: 'Ada',
    gender: null,
  });
  assert.deepEqual(parseUserRecord({ id: '1', name: null, gender: '   ' }), { userId: '1', name: null, gender: null });
  assert.equal((parseProductRecord({ id: '1', category: 5 }) as { category: string }).category, '5');
  const r = rejected(parseUserRecord({ id: '1', gender: ['F'] }));
  assert.equal(r.detail, 'gender must be text, got an array');
});

test('numbers: JSON numbers and decimal strings; empty is null; bad values name the column and the value', () => {
  const price = (v: unknown) => parseProductRecord({ id: '1', price: v });
  const ok: Array<[unknown, number | null]> = [
    ['37.12', 37.12],
    [' 37.12 ', 37.12],
    ['0', 0],
    ['10', 10],
    ['10.', 10],
    ['.5', 0.5],
    ['1e3', 1000],
    ['+3', 3],
    [37.12, 37.12],
    ['', null],
    ['  ', null],
    [null, null],
    [undefined, null],
  ];
  for (const [v, expected] of ok)
    assert.equal((price(v) as { price: number | null }).price, expected, JSON.stringify(v));
  const bad: Array<[unknown, string]> = [
    ['abc', 'price must be a number, got "abc"'],
    ['12,50', 'price must be a number, got "12,50" (write the decimal separator as a dot)'],
    ['$12.50', 'price must be a number, got "$12.50" (write the number alone, without a currency sign or unit)'],
    ['12.50 EUR', 'price must be a number, got "12.50 EUR"'],
    ['0x10', 'price must be a number, got "0x10"'],
    ['1_000', 'price must be a number, got "1_000"'],
    ['Infinity', 'price must be a number, got "Infinity"'],
    ['NaN', 'price must be a number, got "NaN"'],
    ['-1', 'price must be a number ≥ 0, got "-1"'],
    [-0.01, 'price must be a number ≥ 0, got -0.01'],
    ['1e999', 'price must be a number ≥ 0, got "1e999"'],
    [true, 'price must be a number, got true'],
  ];
  for (const [v, detail] of bad) {
    const r = rejected(price(v));
    assert.equal(r.reason, 'invalid_field', JSON.stringify(v));
    assert.equal(r.detail, detail);
  }
  const rate = (v: unknown) => parseProductRecord({ id: '1', commission_rate: v });
  assert.equal((rate('0') as { commissionRate: number }).commissionRate, 0);
  assert.equal((rate('1') as { commissionRate: number }).commissionRate, 1);
  assert.equal((rate(0.12) as { commissionRate: number }).commissionRate, 0.12);
  assert.equal(
    rejected(rate('12')).detail,
    'commission_rate must be a number in [0, 1], got "12" (a rate: 12 % is 0.12)',
  );
  assert.equal(
    rejected(rate(-0.1)).detail,
    'commission_rate must be a number in [0, 1], got -0.1 (a rate: 12 % is 0.12)',
  );
});
