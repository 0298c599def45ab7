/**
 * Issue 12: values that passed parsing but that the output columns cannot hold made every
 * checkpoint transaction fail, so `run` exited 1 on every restart, with no dead letter:
 * a ~3 kB checkout_id (`index row size 3024 exceeds btree version 4 maximum 2704`), a 1 MB id,
 * event_time "0000-01-01T00:00:00Z" and the epoch -8640000000000000 (`date/time field value out
 * of range`), a product whose price is 1e308 (`numeric field overflow`: order_value Infinity).
 * Each is now refused at the door: an event is a dead letter with its raw line, a dimension row
 * gives nulls and one dead letter naming it, and the run goes on and commits the other rows.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import pg from 'pg';
import { capRaw } from '../../src/attribution/output-rows.ts';
import { runImport } from '../../src/cli/commands/import.ts';
import { runReplay } from '../../src/cli/commands/replay.ts';
import { runRun } from '../../src/cli/commands/run.ts';
import { openEmbedded } from '../../src/cli/modes/embedded.ts';
import { PgClient } from '../../src/connectors/postgres/index.ts';
import { uniqueSchema } from '../connectors/sql/sql-fixtures.ts';
import { requireService } from '../support/services.ts';

const T = Date.UTC(2026, 2, 1, 10);
const at = (s: number) => new Date(T + s * 1000).toISOString();

/** Random-looking text (random text does not compress in an index, as a real attack's would not). */
function noise(chars: number): string {
  let s = '';
  let x = 7;
  while (s.length < chars) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += (x % 36).toString(36);
  }
  return s;
}

const click = (id: string, user: string, product: string, s: number) =>
  JSON.stringify({
    type: 'click',
    click_id: id,
    user_id: user,
    product_id: product,
    source: 'google_ads',
    event_time: at(s),
  });
const checkout = (id: string, user: string, product: string, time: unknown, extra: object = {}) =>
  JSON.stringify({ type: 'checkout', checkout_id: id, user_id: user, product_id: product, event_time: time, ...extra });

/** The poisonous events, each with the reason it must get. */
const POISON: ReadonlyArray<[string, string]> = [
  [checkout(noise(3024), 'u1', 'p1', at(12)), 'invalid_field'],
  [checkout(noise(4096).repeat(256), 'u1', 'p1', at(13)), 'invalid_field'], // a 1 MiB id
  [checkout('c-year-0', 'u1', 'p1', '0000-01-01T00:00:00Z'), 'invalid_event_time'],
  [checkout('c-epoch-min', 'u1', 'p1', -8_640_000_000_000_000), 'invalid_event_time'],
  [checkout('c\u0000nul', 'u1', 'p1', at(14)), 'invalid_field'],
  [click(noise(300), 'u1', 'p1', 15), 'invalid_field'],
  // A literal NUL byte: malformed JSON, and a dead letter whose raw PostgreSQL text cannot hold.
  [`${checkout('c-raw-nul', 'u1', 'p1', at(16)).slice(0, -1)}\u0000}`, 'malformed_json'],
];

/**
 * Users and products (p-inf: price 1e308; p-big: a price in range whose order value is not;
 * u-long: a 2 000-byte name) and events: good checkouts around the poison.
 */
function writeShop(dir: string): { events: string; users: string; products: string } {
  const users = join(dir, 'users.csv');
  const products = join(dir, 'products.csv');
  const events = join(dir, 'events.jsonl');
  writeFileSync(users, `user_id,name,gender\nu1,Ada,female\nu-long,${'N'.repeat(2000)},male\n`);
  writeFileSync(
    products,
    'product_id,product_name,category,price,commission_rate\n' +
      'p1,Lamp,home,37.12,0.1\np-inf,Infinite Lamp,home,1e308,0.1\np-big,Gold Lamp,home,10000000000,0.1\n',
  );
  const lines = [
    click('k1', 'u1', 'p1', 0),
    click('k2', 'u1', 'p-inf', 1),
    checkout('c-before', 'u1', 'p1', at(10)),
    ...POISON.map(([line]) => line),
    checkout('c-inf-1', 'u1', 'p-inf', at(20)),
    checkout('c-inf-2', 'u1', 'p-inf', at(21)),
    checkout('c-big', 'u1', 'p-big', at(22), { quantity: 1_000_000 }),
    checkout('c-long-name', 'u-long', 'p1', at(23)),
    checkout('c-after', 'u1', 'p1', at(30)),
  ];
  writeFileSync(events, `${lines.join('\n')}\n`);
  return { events, users, products };
}

const GOOD = ['c-after', 'c-before', 'c-big', 'c-inf-1', 'c-inf-2', 'c-long-name'];

const jsonl = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-poison-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const attribution = { model: 'first_click', scope: 'product', lookback: '1h', maxOutOfOrderness: '15s' };

test('issue 12, replay: each poisonous event is a dead letter with its raw line; bad CSV dimension rows give nulls and one dead letter each', async (t) => {
  const dir = tmp(t);
  const shop = writeShop(dir);
  const out = join(dir, 'out.jsonl');
  const dead = join(dir, 'dead.jsonl');
  await runReplay({ ...shop, out, deadLetter: dead, ...attribution, halfLife: '15m', quiet: true });

  const rows = new Map(jsonl(out).map((r) => [r.checkout_id, r]));
  assert.deepEqual([...rows.keys()].sort(), GOOD, 'every good checkout is output, the poisonous ones are not');
  assert.equal(rows.get('c-after')?.order_value, 37.12);
  assert.equal(rows.get('c-after')?.click_id, 'k1');
  // price 1e308: the product's price and every money field are null, the rest of the row is there.
  for (const id of ['c-inf-1', 'c-inf-2']) {
    const r = rows.get(id);
    assert.deepEqual([r?.product_price, r?.order_value, r?.revenue, r?.profit], [null, null, null, null], id);
    assert.deepEqual([r?.product_name, r?.click_id], ['Infinite Lamp', 'k2'], id);
  }
  // price and quantity each in range, their product beyond numeric(14,2): money is null.
  const big = rows.get('c-big');
  assert.deepEqual(
    [big?.product_price, big?.order_value, big?.revenue, big?.profit],
    [10_000_000_000, null, null, null],
  );
  assert.equal(rows.get('c-long-name')?.user_name, null);
  assert.equal(rows.get('c-long-name')?.user_gender, 'male');

  const letters = jsonl(dead);
  const events = letters.filter((d) => d.source === 'events');
  assert.deepEqual(
    events.map((d) => [d.raw, d.reason]),
    // Whole up to the 1 MiB cap (a NUL byte stays in the JSON lines; the SQL writer stores it as U+FFFD).
    POISON.map(([line, reason]) => [capRaw(line).raw, reason]),
    'each poisonous line, capped, with its reason',
  );
  assert.match(String(events[0]?.detail), /^checkout_id ".*… is 3024 bytes long, more than the 256 bytes/);
  assert.match(String(events[2]?.detail), /^event_time "0000-01-01T00:00:00Z" .* years 0001 to 9999/);

  const products = letters.filter((d) => d.source === 'products');
  assert.equal(products.length, 1, 'one dead letter for the row, not one per checkout');
  assert.equal(products[0]?.reason, 'invalid_field');
  assert.match(String(products[0]?.detail), /^products row "p-inf": price 1e\+308 is not a price flowmark can store/);
  assert.match(String(products[0]?.detail), /first used by checkout "c-inf-1"/);
  assert.equal(JSON.parse(String(products[0]?.raw)).price, 1e308);
  const users = letters.filter((d) => d.source === 'users');
  assert.deepEqual(
    users.map((d) => [
      d.reason,
      /^users row "u-long": name "N+… is 2000 bytes long, more than the 1024 bytes/.test(String(d.detail)),
    ]),
    [['invalid_field', true]],
  );
  const money = letters.filter((d) => d.source === 'checkouts');
  assert.deepEqual(
    money.map((d) => [d.reason, JSON.parse(String(d.raw)).checkout_id]),
    [['invalid_field', 'c-big']],
  );
  assert.match(
    String(money[0]?.detail),
    /order_value = .* = 10000000000000000 is beyond what the money columns hold \(numeric\(14,2\)/,
  );
  assert.equal(letters.length, POISON.length + 3, 'nothing else');
});

/** The rows and dead letters of a drained run, read back from its database. */
async function tables(
  db: {
    query<R>(sql: string): Promise<{ rows: R[] }>;
  },
  schema: string,
): Promise<{ rows: Map<string, Record<string, unknown>>; dead: Array<Record<string, unknown>> }> {
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT checkout_id, click_id, product_price::float8 AS product_price, order_value::float8 AS order_value,
            user_name, is_final FROM ${schema}.attributed_checkouts ORDER BY checkout_id`,
  );
  const dead = await db.query<Record<string, unknown>>(
    `SELECT source, reason, raw, detail FROM ${schema}.dead_letters ORDER BY id`,
  );
  return { rows: new Map(rows.map((r) => [String(r.checkout_id), r])), dead: dead.rows };
}

test('issue 12, end to end through PGlite: import + run --drain commits the good rows and dead-letters the poison; a second run is clean', async (t) => {
  const dir = tmp(t);
  const shop = writeShop(dir);
  const dataDir = join(dir, 'data');
  await runImport({ dataDir, ...shop });
  await runRun({ dataDir, drain: true, ...attribution });
  await runRun({ dataDir, drain: true, ...attribution }); // restarts, finds nothing new, exits normally

  const stores = await openEmbedded(dataDir);
  try {
    const { rows, dead } = await tables(stores.db, 'flowmark');
    assert.deepEqual([...rows.keys()].sort(), GOOD);
    assert.ok([...rows.values()].every((r) => r.is_final === true));
    assert.deepEqual([rows.get('c-inf-1')?.product_price, rows.get('c-inf-1')?.order_value], [null, null]);
    assert.equal(rows.get('c-big')?.order_value, null);
    assert.equal(rows.get('c-after')?.order_value, 37.12);
    assert.equal(rows.get('c-long-name')?.user_name, null);
    const reasons = dead.map((d) => `${d.source}:${d.reason}`).sort();
    assert.deepEqual(reasons, [
      'checkouts:invalid_event_time',
      'checkouts:invalid_event_time',
      'checkouts:invalid_field',
      'checkouts:invalid_field',
      'checkouts:invalid_field',
      'checkouts:invalid_field',
      'clicks:invalid_field',
      'import:malformed_json', // the line with a literal NUL byte: stored, with U+FFFD for the NUL
      'products:invalid_field',
      'users:invalid_field',
    ]);
    const ids = dead.filter((d) => d.source === 'checkouts' && d.reason === 'invalid_field').map((d) => String(d.raw));
    assert.ok(
      ids.some((raw) => raw === POISON[0]?.[0]),
      'the 3 kB id, raw',
    );
  } finally {
    await stores.close();
  }
});

test("issue 12, PostgreSQL: a price of 1e308 in the shop's own products table gives nulls and a dead letter naming the row", async (t) => {
  const url = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (url === undefined) return;
  const dir = tmp(t);
  const shopSchema = uniqueSchema('fm_shop');
  const schema = uniqueSchema('fm_poison');
  const admin = new PgClient(new pg.Pool({ connectionString: url, max: 1 }));
  t.after(async () => {
    await admin.exec(`DROP SCHEMA IF EXISTS ${shopSchema} CASCADE; DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.close();
  });
  // The shop's table, in flowmark's layout; its numeric column holds what no money column can.
  await admin.exec(`CREATE SCHEMA ${shopSchema};
    CREATE TABLE ${shopSchema}.products (product_id text PRIMARY KEY, product_name text, category text,
      price numeric, commission_rate numeric);
    INSERT INTO ${shopSchema}.products VALUES ('p1', 'Lamp', 'home', 37.12, 0.1),
      ('p-inf', 'Infinite Lamp', 'home', 1e308, 0.1), ('p-nan', 'Odd Lamp', 'home', 'NaN', 2);
    CREATE TABLE ${shopSchema}.users (user_id text PRIMARY KEY, name text, gender text);
    INSERT INTO ${shopSchema}.users VALUES ('u1', 'Ada', 'female');`);
  const events = join(dir, 'events.jsonl');
  writeFileSync(
    events,
    `${[
      click('k1', 'u1', 'p-inf', 0),
      checkout('c-inf', 'u1', 'p-inf', at(10)),
      checkout('c-nan', 'u1', 'p-nan', at(11)),
      checkout('c-ok', 'u1', 'p1', at(12)),
      '{"type":"click"\u0000}', // a literal NUL byte: the server's text refuses it (22021)
    ].join('\n')}\n`,
  );
  const config = {
    dataDir: join(dir, 'data'),
    databaseUrl: url,
    databaseSchema: schema,
    productsSchema: shopSchema,
    usersSchema: shopSchema,
  };
  await runImport({ ...config, events });
  await runRun({ ...config, drain: true, ...attribution });

  const { rows, dead } = await tables(admin, schema);
  assert.deepEqual([...rows.keys()].sort(), ['c-inf', 'c-nan', 'c-ok']);
  assert.deepEqual([rows.get('c-inf')?.product_price, rows.get('c-inf')?.order_value], [null, null]);
  assert.equal(rows.get('c-inf')?.click_id, 'k1');
  assert.equal(rows.get('c-nan')?.order_value, null);
  assert.equal(rows.get('c-ok')?.order_value, 37.12);
  const nul = dead.filter((d) => d.reason === 'malformed_json');
  assert.deepEqual(
    nul.map((d) => d.raw),
    ['{"type":"click"\uFFFD}'],
    "the NUL line's dead letter is stored",
  );
  assert.deepEqual(
    dead
      .filter((d) => d.reason !== 'malformed_json')
      .map((d) => [d.source, d.reason, String(d.detail).replace(/:.*/, '')]),
    [
      ['products', 'invalid_field', 'products row "p-inf"'],
      ['products', 'invalid_field', 'products row "p-nan"'],
      ['products', 'invalid_field', 'products row "p-nan"'],
    ],
  );
  assert.match(String(dead.find((d) => d.source === 'products')?.detail), /price 1e\+308 is not a price/);
});
