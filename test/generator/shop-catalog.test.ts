import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CATEGORIES,
  GENDERS,
  generateProducts,
  generateUsers,
  productIdOf,
  userIdOf,
} from '../../src/generator/shop-catalog.ts';

test('users: ids u000001…, names, a realistic gender mix that includes unknown', () => {
  const users = generateUsers(5000, 1);
  assert.equal(users.length, 5000);
  assert.equal(users[0]!.userId, 'u000001');
  assert.equal(users[122]!.userId, 'u000123');
  assert.equal(new Set(users.map((u) => u.userId)).size, 5000);
  const genders = new Map<string, number>();
  for (const u of users) {
    assert.match(u.name, /^\S.* \S+$/, `a full name: ${u.name}`);
    genders.set(u.gender, (genders.get(u.gender) ?? 0) + 1);
  }
  assert.deepEqual([...genders.keys()].sort(), GENDERS.map((g) => g[0]).sort());
  assert.ok(genders.get('female')! > 2000 && genders.get('male')! > 2000, JSON.stringify([...genders]));
  assert.ok(genders.get('unknown')! > 100 && genders.get('unknown')! < 400, JSON.stringify([...genders]));
  assert.equal(userIdOf(1_234_567), 'u1234568');
});

test('products: ids p00001…, names, categories of the list, prices and commission rates in range', () => {
  const products = generateProducts(2000, 1);
  const categories = new Set(CATEGORIES.map((c) => c.name));
  const seen = new Set<string>();
  for (const p of products) {
    assert.match(p.productId, /^p\d{5}$/);
    assert.ok(p.productName.length > 3);
    assert.ok(categories.has(p.category), p.category);
    seen.add(p.category);
    assert.ok(p.price >= 0.99 && p.price < 5000, `price ${p.price}`);
    assert.equal(Math.round(p.price * 100) / 100, p.price);
    assert.ok(p.commissionRate >= 0.05 && p.commissionRate <= 0.3, `commission ${p.commissionRate}`);
  }
  assert.equal(seen.size, categories.size, 'every category appears in 2000 products');
  assert.equal(productIdOf(41), 'p00042');
  // Realistic prices: most under 100, a long tail above.
  const prices = products.map((p) => p.price).sort((a, b) => a - b);
  const median = prices[1000]!;
  assert.ok(median > 10 && median < 60, `median price ${median}`);
  assert.ok(prices[1990]! > 150, 'a few expensive products');
});

test('the same seed gives the same tables; another seed other tables; the tables are independent', () => {
  assert.deepEqual(generateUsers(300, 9), generateUsers(300, 9));
  assert.deepEqual(generateProducts(300, 9), generateProducts(300, 9));
  assert.notDeepEqual(generateUsers(300, 9), generateUsers(300, 10));
  assert.notDeepEqual(generateProducts(300, 9), generateProducts(300, 10));
  // More users never change the first ones (one row after the other from the same stream).
  assert.deepEqual(generateUsers(500, 9).slice(0, 300), generateUsers(300, 9));
});
