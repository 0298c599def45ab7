/**
 * `users.csv` and `products.csv` as text: a header, then one row per line (`\n`), fields quoted
 * per RFC 4180 when they hold a comma, a double quote (doubled inside) or a line break. Prices
 * have two decimals; commission rates as few as they need.
 */
import type { GeneratedProduct, GeneratedUser } from './shop-catalog.ts';

export const USERS_CSV_HEADER = 'user_id,name,gender';
export const PRODUCTS_CSV_HEADER = 'product_id,product_name,category,price,commission_rate';

/**
 * One CSV field.
 *
 * @example
 * csvField('Kuhn Lamp');        // 'Kuhn Lamp'
 * csvField('Love, "Actually"'); // '"Love, ""Actually"""'
 */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** The lines of users.csv, each ending in `\n`, header first. */
export function* usersCsvLines(users: Iterable<GeneratedUser>): Generator<string> {
  yield `${USERS_CSV_HEADER}\n`;
  for (const u of users) yield `${csvField(u.userId)},${csvField(u.name)},${csvField(u.gender)}\n`;
}

/** The lines of products.csv, each ending in `\n`, header first. */
export function* productsCsvLines(products: Iterable<GeneratedProduct>): Generator<string> {
  yield `${PRODUCTS_CSV_HEADER}\n`;
  for (const p of products) {
    yield `${csvField(p.productId)},${csvField(p.productName)},${csvField(p.category)},${p.price.toFixed(2)},${p.commissionRate}\n`;
  }
}
