/**
 * What the output columns can hold (ARCHITECTURE §3.6: a value the outputs cannot store is bad
 * input, checked at the door). A row that broke one of these limits would make every checkpoint
 * transaction fail, so each is checked when an event is parsed or a dimension row is looked up,
 * and the value becomes a dead letter (events) or a null (dimension rows) instead.
 *
 * | limit                | value                                   | why                                                                                          |
 * |----------------------|-----------------------------------------|----------------------------------------------------------------------------------------------|
 * | ids                  | ≤ 256 bytes of UTF-8                    | they are primary-key and state-key columns: a btree row holds at most 2 704 bytes, and a key may hold two ids, escaped |
 * | labels               | ≤ 256 bytes of UTF-8                    | source, category, gender, payment method and description are grouped by in `analytics_minute`, whose primary key holds them |
 * | names                | ≤ 1 024 bytes of UTF-8                  | user and product names: no index holds them, but a name longer than this is not a name       |
 * | any text             | no U+0000, no lone surrogate            | PostgreSQL `text` cannot hold U+0000; a lone surrogate is sent as U+FFFD, so two distinct ids would become one key in the database (and one upsert batch would hit it twice) |
 * | event time           | 0001-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z | what `timestamptz` stores and ISO-8601 writes with four-digit years           |
 * | quantity             | integer 1 to 1 000 000                  | `integer` column                                                                             |
 * | amounts and prices   | 0 to 10 000 000 000                     | money is `numeric(14,2)` (at most 999 999 999 999.99)                                        |
 * | order value          | ≤ 999 999 999 999.99                    | `numeric(14,2)`; price × quantity can pass it with each input in range (see money.ts)        |
 */

/** Most bytes (UTF-8) of an id: click_id, checkout_id, user_id, product_id. */
export const MAX_ID_BYTES = 256;
/** Most bytes (UTF-8) of a label that analytics group by, or that is stored beside them. */
export const MAX_LABEL_BYTES = 256;
/** Most bytes (UTF-8) of a user's or a product's name. */
export const MAX_NAME_BYTES = 1024;
/** Most items of one checkout (`integer` column, and a bound on price × quantity). */
export const MAX_QUANTITY = 1_000_000;
/** Largest amount an event or a product may carry (price, total_amount, shipping_cost). */
export const MAX_AMOUNT = 10_000_000_000;
/** Largest value of a `numeric(14,2)` money column. */
export const MAX_MONEY = 999_999_999_999.99;
/** The first instant flowmark stores: 0001-01-01T00:00:00.000Z. */
export const MIN_EVENT_TIME_MS = -62_135_596_800_000;
/** The last instant flowmark stores: 9999-12-31T23:59:59.999Z. */
export const MAX_EVENT_TIME_MS = 253_402_300_799_999;
/** The event-time range, for details. */
export const EVENT_TIME_RANGE = 'years 0001 to 9999 (UTC)';

/**
 * The UTF-8 length of `s` (what PostgreSQL stores), without allocating: a lone surrogate counts
 * 3 bytes, as it is sent as U+FFFD.
 */
export function utf8Bytes(s: string): number {
  let n = 0;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * True when `s` can be stored in a column limited to `maxBytes`: the common short string is
 * decided by its length alone (a UTF-16 unit is at most 3 bytes of UTF-8); U+0000 and lone
 * surrogates are looked for by two native scans (no regex on the hot path).
 */
export function fitsText(s: string, maxBytes: number): boolean {
  const len = s.length;
  if (len > maxBytes) return false;
  if (len * 3 > maxBytes && utf8Bytes(s) > maxBytes) return false;
  return s.indexOf('\u0000') === -1 && s.isWellFormed();
}

/**
 * Why `s` does not fit (the slow path, for a detail): `is 3 024 bytes long, more than the 256
 * bytes of UTF-8 an id may have`.
 */
export function textProblem(s: string, maxBytes: number, what: string): string {
  if (s.indexOf('\u0000') !== -1) return 'contains the character U+0000, which PostgreSQL text cannot hold';
  if (!s.isWellFormed()) return 'contains a lone UTF-16 surrogate (half of a character), which is not valid text';
  return `is ${utf8Bytes(s)} bytes long, more than the ${maxBytes} bytes of UTF-8 ${what} may have`;
}
