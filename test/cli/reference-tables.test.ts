/**
 * Drop-in for the reference deployments (`output.tutorial_table`, `output.insights_table`): each
 * reference pipeline's schema file is loaded unchanged into a fresh database, the shop's rows are
 * inserted, its seed events are run through `flowmark import` and `flowmark run --drain`, and the
 * reference table must hold exactly the rows that pipeline's own queries expect, beside flowmark's
 * own tables, written by the same checkpoints.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { jobEnv, runFlowmark } from '../connectors/postgres/pg-job-fixtures.ts';
import { requirePath, requireService } from '../support/services.ts';
import { uniqueName } from './kafka-job-fixtures.ts';

const SEEDS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/seed-formats');

/** A fresh database on the test server (dropped after the test), for schema files that name fixed schemas. */
async function freshDatabase(t: TestContext, serverUrl: string): Promise<{ url: string; client: pg.Client }> {
  const name = uniqueName('fm_ref');
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  t.after(async () => {
    await client.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin.end();
  });
  return { url: url.toString(), client };
}

/** `flowmark import` of a clicks and a checkouts file into a new data dir, then `run --drain`. */
async function importAndDrain(
  t: TestContext,
  env: NodeJS.ProcessEnv,
  clicks: string[],
  checkouts: string[],
  run: string[],
) {
  const dir = mkdtempSync(join(tmpdir(), 'fm-ref-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'clicks.jsonl'), `${clicks.join('\n')}\n`);
  writeFileSync(join(dir, 'checkouts.jsonl'), `${checkouts.join('\n')}\n`);
  const dataDir = join(dir, 'data');
  await runFlowmark(
    [
      'import',
      '--data-dir',
      dataDir,
      '--clicks',
      join(dir, 'clicks.jsonl'),
      '--checkouts',
      join(dir, 'checkouts.jsonl'),
    ],
    env,
  );
  await runFlowmark(['run', '--drain', '--data-dir', dataDir, ...run], env);
}

const lines = (file: string) =>
  readFileSync(join(SEEDS, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');

test("the tutorial's attributed_checkouts, from its schema file unchanged: its exact columns, in the same checkpoints", async (t) => {
  const server = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (server === undefined || !requirePath(t, SEEDS)) return;
  const { url, client } = await freshDatabase(t, server);
  await client.query(readFileSync(join(SEEDS, 'tutorial-schema.sql'), 'utf8'));
  await client.query(
    "INSERT INTO commerce.users (id, username, password) VALUES (42, 'grace', 'pw-never-read'), (7, 'alan', 'pw-never-read')",
  );
  // A total beyond the column's DECIMAL(5, 2): the database refuses that reference row only.
  const tooBig =
    '{"checkout_id": "e5d4c3b2-0000-4000-8000-000000000001", "user_id": 7, "product_id": "x", "payment_method": "Discover", "total_amount": 1234.5, "datetime_occured": "2026-03-01 09:33:00.000"}';
  const env = jobEnv(url, 'fm_tutorial', {
    FLOWMARK_DIMENSIONS_USERS_SCHEMA: 'commerce',
    FLOWMARK_DIMENSIONS_USERS_KEY_COLUMN: 'id',
    FLOWMARK_DIMENSIONS_USERS_COLUMNS_NAME: 'username',
    FLOWMARK_DIMENSIONS_USERS_COLUMNS_GENDER: 'null',
    FLOWMARK_DIMENSIONS_PRODUCTS_SCHEMA: 'commerce',
    FLOWMARK_DIMENSIONS_PRODUCTS_KEY_COLUMN: 'id',
    FLOWMARK_DIMENSIONS_PRODUCTS_COLUMNS_NAME: 'name',
    FLOWMARK_DIMENSIONS_PRODUCTS_COLUMNS_CATEGORY: 'null',
    FLOWMARK_DIMENSIONS_PRODUCTS_COLUMNS_COMMISSION_RATE: 'null',
  });
  await importAndDrain(
    t,
    env,
    lines('tutorial-clicks.jsonl'),
    [...lines('tutorial-checkouts.jsonl'), tooBig],
    ['--tutorial-table', 'commerce.attributed_checkouts'],
  );

  const { rows } = await client.query(
    `SELECT checkout_id, user_name, click_id, product_id, payment_method, total_amount::text AS total_amount,
            shipping_address, billing_address, user_agent, ip_address,
            checkout_time::text AS checkout_time, click_time::text AS click_time
     FROM commerce.attributed_checkouts ORDER BY checkout_id`,
  );
  assert.deepEqual(rows, [
    {
      checkout_id: 'c3b2a190-8f7e-4d6c-9b5a-4f3e2d1c0b9a',
      user_name: 'grace',
      click_id: '6f1d3c1e-9a8b-4c52-8d0e-2f4b3a1c9e77',
      product_id: '0c7b6a5e-1d2f-4e3a-9b8c-7d6e5f4a3b2c',
      payment_method: 'VISA 16 digit',
      total_amount: '512.77',
      shipping_address: '12 Elm Street\nSpringfield, IL 62704',
      billing_address: '12 Elm Street\nSpringfield, IL 62704',
      user_agent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
      ip_address: '203.0.113.7',
      checkout_time: '2026-03-01 09:31:15.25',
      click_time: '2026-03-01 09:14:03.512',
    },
    {
      checkout_id: 'd4c3b2a1-9e8f-4a7b-8c6d-5e4f3a2b1c0d',
      user_name: 'alan',
      click_id: null,
      product_id: 'ffffffff-0000-4000-8000-000000000000',
      payment_method: 'Discover',
      total_amount: '88.10',
      shipping_address: '1 Main St',
      billing_address: '1 Main St',
      user_agent: 'Opera/9.80 (Windows NT 6.1)',
      ip_address: '198.51.100.23',
      checkout_time: '2026-03-01 09:32:00',
      click_time: null,
    },
  ]);
  // flowmark's own table has every checkout; the refused reference row is a dead letter naming it.
  const own = await client.query('SELECT checkout_id FROM fm_tutorial.attributed_checkouts ORDER BY checkout_id');
  assert.deepEqual(
    own.rows.map((r) => r.checkout_id),
    [
      'c3b2a190-8f7e-4d6c-9b5a-4f3e2d1c0b9a',
      'd4c3b2a1-9e8f-4a7b-8c6d-5e4f3a2b1c0d',
      'e5d4c3b2-0000-4000-8000-000000000001',
    ],
  );
  const dead = await client.query(
    "SELECT source, raw FROM fm_tutorial.dead_letters WHERE reason = 'rejected_by_database'",
  );
  assert.deepEqual(dead.rows, [{ source: 'reference_tutorial', raw: tooBig }]);
});

test("the insights variant's checkout_attribution, from its schema file unchanged: its exact columns and values as written", async (t) => {
  const server = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (server === undefined || !requirePath(t, SEEDS)) return;
  const { url, client } = await freshDatabase(t, server);
  await client.query(readFileSync(join(SEEDS, 'insights-schema.sql'), 'utf8'));
  await client.query("INSERT INTO shop.users (user_id, name, gender) VALUES ('U1007', 'Ada', 'F')");
  await client.query(
    "INSERT INTO shop.products (product_id, product_name, category, price, commission_rate) VALUES ('P0042', 'Desk Lamp', 'Home', 40, 0.1)",
  );
  // The insights clicks carry no product: attribution is by user. Its shop tables have flowmark's column names.
  const env = jobEnv(url, 'fm_insights', {
    FLOWMARK_ATTRIBUTION_SCOPE: 'user',
    FLOWMARK_DIMENSIONS_USERS_SCHEMA: 'shop',
    FLOWMARK_DIMENSIONS_PRODUCTS_SCHEMA: 'shop',
  });
  await importAndDrain(t, env, lines('insights-clicks.jsonl'), lines('insights-checkouts.jsonl'), [
    '--insights-table',
    'shop.checkout_attribution',
  ]);

  const { rows } = await client.query(
    `SELECT checkout_id, user_id, product_id, quantity, total_amount, payment_method, payment_status,
            payment_description, gender, category, profit, source,
            checkout_timestamp::text AS checkout_timestamp, click_timestamp::text AS click_timestamp
     FROM shop.checkout_attribution ORDER BY checkout_id`,
  );
  assert.deepEqual(rows, [
    {
      checkout_id: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
      user_id: 'U1007',
      product_id: 'P0042',
      quantity: 3,
      total_amount: 102, // round2(40 × 3 × (1 − 0.15))
      payment_method: 'Paypal',
      payment_status: 'Success',
      payment_description: 'None',
      gender: 'F',
      category: 'Home',
      profit: 10.2,
      source: 'tiktok',
      checkout_timestamp: '2026-03-01 09:15:02.9',
      click_timestamp: '2026-03-01 09:10:00.125',
    },
    {
      checkout_id: 'b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e',
      user_id: 'U2001',
      product_id: 'P0007',
      quantity: 1,
      total_amount: null, // an unknown product: no price
      payment_method: 'Visa',
      payment_status: 'Failed',
      payment_description: 'Card Expired',
      gender: null,
      category: null,
      profit: null,
      source: 'google',
      checkout_timestamp: '2026-03-01 09:16:10',
      click_timestamp: '2026-03-01 09:13:00',
    },
  ]);
  const own = await client.query('SELECT count(*)::int AS n FROM fm_insights.attributed_checkouts');
  assert.equal(own.rows[0].n, 2);
});
