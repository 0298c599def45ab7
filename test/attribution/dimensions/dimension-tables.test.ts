import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  collectProducts,
  collectUsers,
  type DimensionRecord,
  PRODUCT_COLUMN_NAMES,
  USER_COLUMN_NAMES,
} from '../../../src/attribution/dimensions/index.ts';
import { readDimensionBatches, readDimensionFile } from '../../../src/connectors/files/dimension-file-reader.ts';
import { isFlowmarkError } from '../../../src/engine/index.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'fm-dims-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const rec = (line: number, values: Record<string, unknown>): DimensionRecord => ({ line, values });

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(isFlowmarkError(err, 'FM_CONFIG_INVALID'), String(err));
    return err.message;
  }
  assert.fail('expected FM_CONFIG_INVALID');
}

test('collectUsers: rows by id; the last of several rows with one id wins, as an upsert would', async () => {
  const users = await collectUsers(
    [rec(2, { id: '1', username: 'ada' }), rec(3, { id: 2, username: 'bob' }), rec(4, { id: '1', username: 'ada2' })],
    'users.csv',
  );
  assert.deepEqual(
    [...users.entries()],
    [
      ['1', { userId: '1', name: 'ada2', gender: null }],
      ['2', { userId: '2', name: 'bob', gender: null }],
    ],
  );
});

test('collectProducts: accepts batches, sync or async, as readDimensionBatches gives them', async () => {
  async function* batches() {
    yield [rec(2, { product_id: 'P1', price: '1.5' }), rec(3, { product_id: 'P2', price: '2' })];
    yield rec(4, { product_id: 'P3' });
  }
  const products = await collectProducts(batches(), 'products.csv');
  assert.deepEqual([...products.keys()], ['P1', 'P2', 'P3']);
  assert.equal(products.get('P1')?.price, 1.5);
});

test('bad rows: every problem (up to ten) with its line and column, then a count; nothing is loaded', async () => {
  const records = [
    rec(2, { id: 'P1', price: 'abc' }),
    rec(3, { id: 'P2', price: '1' }),
    rec(4, { id: '', price: '1' }),
  ];
  for (let i = 0; i < 12; i++) records.push(rec(10 + i, { id: `Q${i}`, commission_rate: '15' }));
  const message = await failure(collectProducts(records, 'products.csv'));
  const lines = message.split('\n');
  assert.equal(lines[0], 'products.csv: 14 bad product rows; fix or remove them:');
  assert.equal(lines[1], '  line 2: price must be a number, got "abc"');
  assert.equal(lines[2], '  line 4: id is empty: every product needs an id');
  assert.equal(lines[3], '  line 10: commission_rate must be a number in [0, 1], got "15" (a rate: 12 % is 0.12)');
  assert.equal(lines.length, 1 + 10 + 1);
  assert.equal(lines[11], '  … and 4 more');
  assert.equal(
    await failure(collectUsers([rec(2, { id: '1', gender: [] })], 'u.jsonl')),
    'u.jsonl: 1 bad user row; fix or remove it:\n  line 2: gender must be text, got an array',
  );
});

test('no id column: one error at the first row, naming the columns to add', async () => {
  const message = await failure(
    collectUsers([rec(2, { uid: '1', username: 'ada' }), rec(3, { uid: '2' })], 'users.csv'),
  );
  assert.equal(
    message,
    'users.csv line 2: no user id column: a users file or table needs a column named user_id or id (found: uid, username)',
  );
});

test('JSON lines may have different keys from line to line: each line is read by its own keys', async () => {
  const users = await collectUsers(
    [rec(1, { user_id: 'a', name: 'A' }), rec(2, { id: 'b', username: 'B' }), rec(3, { id: 'c', gender: 'F' })],
    'u.jsonl',
  );
  assert.deepEqual(
    [...users.values()],
    [
      { userId: 'a', name: 'A', gender: null },
      { userId: 'b', name: 'B', gender: null },
      { userId: 'c', name: null, gender: 'F' },
    ],
  );
  const products = await collectProducts([rec(1, { id: 'p', name: 'P' }), rec(2, { id: 'q', price: 3 })], 'p.jsonl');
  assert.equal(products.get('q')?.price, 3, 'a column that the first line lacks is still read on later lines');
});

test('end to end: files in both reference schemas load, and no password reaches the rows', async (t) => {
  const dir = tempDir(t);
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  // tutorial: commerce.users(id, username, PASSWORD), commerce.products(id, name, description, price)
  const tutorialUsers = file('tutorial-users.csv', 'id,username,PASSWORD\n42,ada,hunter2\n7,"bob, jr",s3cret\n');
  const tutorialProducts = file(
    'tutorial-products.csv',
    'id,name,description,price\n1,lamp,"a lamp, with ""LED""",37.12\n2,chair,"four legs\nand a back",12.5\n',
  );
  // insights: shop.users(user_id, name, email, gender, …), shop.products(product_id, product_name, category, brand, price, commission_rate)
  const insightsUsers = file(
    'insights-users.jsonl',
    '{"user_id": "U1007", "name": "Ada", "email": "a@x", "gender": "F", "birth_day": "1990-01-01", "location": "x", "phone": "1", "registration_date": "2026-01-01"}\n',
  );
  const insightsProducts = file(
    'insights-products.csv',
    'product_id,product_name,category,brand,price,commission_rate\nP0042,Lamp,Home,Acme,37.12,0.15\nP0007,Desk,Office,Acme,,\n',
  );

  for (const read of ['file', 'batches'] as const) {
    const users = (path: string) =>
      collectUsers(
        read === 'file' ? readDimensionFile(path, { columns: USER_COLUMN_NAMES }) : readDimensionBatches(path),
        path,
      );
    const products = (path: string) =>
      collectProducts(
        read === 'file' ? readDimensionFile(path, { columns: PRODUCT_COLUMN_NAMES }) : readDimensionBatches(path),
        path,
      );
    const tu = await users(tutorialUsers);
    assert.deepEqual(tu.get('42'), { userId: '42', name: 'ada', gender: null });
    assert.deepEqual(tu.get('7'), { userId: '7', name: 'bob, jr', gender: null });
    assert.ok(!JSON.stringify([...tu.values()]).match(/hunter2|s3cret/), 'no password in the rows');
    const tp = await products(tutorialProducts);
    assert.deepEqual(tp.get('1'), { productId: '1', name: 'lamp', category: null, price: 37.12, commissionRate: null });
    assert.equal(tp.get('2')?.price, 12.5);
    const iu = await users(insightsUsers);
    assert.deepEqual(iu.get('U1007'), { userId: 'U1007', name: 'Ada', gender: 'F' });
    const ip = await products(insightsProducts);
    assert.deepEqual(ip.get('P0042'), {
      productId: 'P0042',
      name: 'Lamp',
      category: 'Home',
      price: 37.12,
      commissionRate: 0.15,
    });
    assert.deepEqual(ip.get('P0007'), {
      productId: 'P0007',
      name: 'Desk',
      category: 'Office',
      price: null,
      commissionRate: null,
    });
  }
});

test('end to end: a bad number in a CSV file names the file, the line and the column', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'products.csv');
  writeFileSync(path, 'product_id,product_name,price\nP1,"Lamp,\nbig",37.12\nP2,Desk,"12,50"\n');
  assert.equal(
    await failure(collectProducts(readDimensionBatches(path), path)),
    `${path}: 1 bad product row; fix or remove it:\n  line 4: price must be a number, got "12,50" (write the decimal separator as a dot)`,
  );
});

test('issue 12: an id longer than 256 bytes is a bad row of the file (no event could name it, no table could key it)', async () => {
  const message = await failure(
    collectUsers(
      [rec(2, { user_id: 'ok', name: 'Ada' }), rec(3, { user_id: 'u'.repeat(3000), name: 'Bob' })],
      'users.csv',
    ),
  );
  assert.match(
    message,
    /users\.csv: 1 bad user row; fix or remove it:\n {2}line 3: user_id "u+… is 3000 bytes long, more than the 256 bytes of UTF-8 an id may have/,
  );
});

test('issue 12: text no table can hold (U+0000, a lone surrogate) is a bad row of the file, since import writes rows as read', async () => {
  const message = await failure(
    collectProducts(
      [rec(2, { product_id: 'p1', name: 'Lamp\u0000' }), rec(3, { product_id: 'p2', category: 'a\ud800' })],
      'products.jsonl',
    ),
  );
  assert.match(message, /line 2: name "Lamp\\u0000" contains the character U\+0000/);
  assert.match(message, /line 3: category "a\\ud800" contains a lone UTF-16 surrogate/);
});
