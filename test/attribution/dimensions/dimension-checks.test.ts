import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkedLookup, checkProductRow, checkUserRow } from '../../../src/attribution/dimensions/dimension-checks.ts';
import type { ProductRow, UserRow } from '../../../src/attribution/event-types.ts';

const lamp: ProductRow = { productId: 'p1', name: 'Lamp', category: 'home', price: 37.12, commissionRate: 0.1 };
const ada: UserRow = { userId: 'u1', name: 'Ada', gender: 'female' };

test('a row that fits is returned as it is, with no problems', () => {
  assert.equal(checkProductRow(lamp).row, lamp);
  assert.deepEqual(checkProductRow(lamp).problems, []);
  assert.equal(checkUserRow(ada).row, ada);
  // At the limits: 1 024 bytes of name, 256 of category or gender, price 10¹⁰, rate 0 and 1.
  const edge = { ...lamp, name: 'é'.repeat(512), category: 'c'.repeat(256), price: 1e10, commissionRate: 1 };
  assert.deepEqual(checkProductRow(edge).problems, []);
  assert.deepEqual(checkProductRow({ ...lamp, price: 0, commissionRate: 0 }).problems, []);
  assert.deepEqual(checkUserRow({ ...ada, name: 'n'.repeat(1024), gender: 'g'.repeat(256) }).problems, []);
  assert.deepEqual(
    checkProductRow({ ...lamp, name: null, category: null, price: null, commissionRate: null }).problems,
    [],
  );
});

test('each value a column cannot hold is null, and named in a problem with the table, the key and the rule', () => {
  const cases: Array<[Partial<ProductRow>, string, RegExp]> = [
    [{ price: 1e308 }, 'price', /price 1e\+308 is not a price flowmark can store \(a number from 0 to 10000000000\)/],
    [{ price: Number.POSITIVE_INFINITY }, 'price', /price Infinity/],
    [{ price: Number.NaN }, 'price', /price NaN/],
    [{ price: -1 }, 'price', /price -1 is not a price/],
    [{ price: 10_000_000_000.01 }, 'price', /price 10000000000\.01/],
    [{ commissionRate: 2 }, 'commission_rate', /commission_rate 2 is not a commission rate .* from 0 to 1/],
    [
      { name: 'x'.repeat(1025) },
      'name',
      /name "x+… is 1025 bytes long, more than the 1024 bytes of UTF-8 a name may have/,
    ],
    [
      { category: '€'.repeat(86) },
      'category',
      /category "€+… is 258 bytes long, more than the 256 bytes of UTF-8 a label/,
    ],
    [{ category: 'a\u0000b' }, 'category', /contains the character U\+0000/],
    [{ category: 'a\udfffb' }, 'category', /contains a lone UTF-16 surrogate/],
  ];
  for (const [over, field, why] of cases) {
    const { row, problems } = checkProductRow({ ...lamp, ...over });
    const key = field === 'commission_rate' ? 'commissionRate' : field;
    assert.equal(row[key as keyof ProductRow], null, field);
    assert.deepEqual(
      problems.map((p) => [p.table, p.key, p.field]),
      [['products', 'p1', field]],
    );
    assert.match(problems[0]?.detail ?? '', /^products row "p1": /);
    assert.match(problems[0]?.detail ?? '', why);
    assert.match(
      problems[0]?.detail ?? '',
      /read as null, and checkouts of this product are output with null in its place/,
    );
    // The other fields are kept.
    for (const f of ['productId', 'name', 'category', 'price', 'commissionRate'] as const)
      if (f !== key) assert.equal(row[f], lamp[f], `${field}: ${f} kept`);
  }
  const { row, problems } = checkUserRow({ ...ada, name: 'a\u0000', gender: 'g'.repeat(300) });
  assert.deepEqual(row, { userId: 'u1', name: null, gender: null });
  assert.deepEqual(
    problems.map((p) => p.field),
    ['name', 'gender'],
  );
  assert.deepEqual(JSON.parse(problems[0]?.raw ?? ''), {
    table: 'users',
    user_id: 'u1',
    name: 'a\u0000',
    gender: 'g'.repeat(300),
  });
  assert.equal(JSON.parse(checkProductRow({ ...lamp, price: Number.NaN }).problems[0]?.raw ?? '').price, 'NaN');
});

test('checkedLookup checks every row found and keeps unknown keys unknown', async () => {
  const lookup = checkedLookup(
    async (keys: readonly string[]) =>
      new Map(
        keys.filter((k) => k !== 'nope').map((k) => [k, { ...lamp, productId: k, price: k === 'bad' ? 1e308 : 1 }]),
      ),
    checkProductRow,
  );
  const found = await lookup(['good', 'bad', 'nope']);
  assert.deepEqual([...found.keys()], ['good', 'bad']);
  assert.equal(found.get('good')?.row.price, 1);
  assert.equal(found.get('bad')?.row.price, null);
  assert.equal(found.get('bad')?.problems[0]?.key, 'bad');
});
