import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csvField, productsCsvLines, usersCsvLines } from '../../src/generator/dimension-csv.ts';

test('fields are quoted per RFC 4180 only when they need it', () => {
  assert.equal(csvField('Kuhn Lamp'), 'Kuhn Lamp');
  assert.equal(csvField("O'Reilly Granola"), "O'Reilly Granola");
  assert.equal(csvField('Love, Actually'), '"Love, Actually"');
  assert.equal(csvField('27" Monitor'), '"27"" Monitor"');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField(''), '');
});

test('users.csv and products.csv: header, then one row per line', () => {
  assert.deepEqual(
    [...usersCsvLines([{ userId: 'u000001', name: 'Ada Lovelace', gender: 'female' }])],
    ['user_id,name,gender\n', 'u000001,Ada Lovelace,female\n'],
  );
  assert.deepEqual(
    [
      ...productsCsvLines([
        {
          productId: 'p00001',
          productName: 'Kuhn 27" Monitor',
          category: 'Electronics',
          price: 149.9,
          commissionRate: 0.08,
        },
      ]),
    ],
    [
      'product_id,product_name,category,price,commission_rate\n',
      'p00001,"Kuhn 27"" Monitor",Electronics,149.90,0.08\n',
    ],
  );
});
