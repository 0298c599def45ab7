/**
 * The Flink SQL script's text (`flinkSql`): what it must and must not hold. Whether Flink computes
 * flowmark's results from it is test/flink/flink-sql-job.test.ts, on a real cluster.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FlinkJobSpec, flinkSql, sqlInterval } from '../../../src/attribution/flink/flink-sql.ts';
import { isFlowmarkError } from '../../../src/engine/index.ts';

function spec(over: Partial<FlinkJobSpec['attribution']> = {}, rest: Partial<FlinkJobSpec> = {}): FlinkJobSpec {
  return {
    kafka: { bootstrap: ['k1:9092', 'k2:9092'], group: 'shop', topics: { clicks: 'clicks', checkouts: 'checkouts' } },
    jdbc: {
      url: 'jdbc:postgresql://db:5432/shop',
      username: 'shop',
      passwordPlaceholder: `$\{FLOWMARK_PG_PASSWORD}`,
      schema: 'flowmark',
    },
    users: { schema: 'commerce', table: 'users', keyColumn: 'id', columns: { name: 'username', gender: null } },
    products: {
      schema: 'commerce',
      table: 'products',
      keyColumn: 'id',
      columns: { name: 'name', category: null, price: 'price', commissionRate: null },
    },
    lookupCache: { entries: 1000, ttlMs: 60_000 },
    attribution: {
      model: 'first_click',
      scope: 'product',
      lookbackMs: 3_600_000,
      lookbackBySource: {},
      maxOutOfOrdernessMs: 15_000,
      idleTimeoutMs: 30_000,
      excludedSources: [],
      ...over,
    },
    checkpointIntervalMs: 10_000,
    stateTtlMs: 86_400_000,
    bounded: false,
    ...rest,
  };
}

test('sqlInterval writes any duration as DAY TO SECOND, past the 2-digit limit of SECOND', () => {
  assert.equal(sqlInterval(3_600_000), "INTERVAL '0 01:00:00.000' DAY(2) TO SECOND(3)");
  assert.equal(sqlInterval(15_250), "INTERVAL '0 00:00:15.250' DAY(2) TO SECOND(3)");
  assert.equal(sqlInterval(90 * 86_400_000 + 1), "INTERVAL '90 00:00:00.001' DAY(2) TO SECOND(3)");
  assert.equal(sqlInterval(120 * 86_400_000), "INTERVAL '120 00:00:00.000' DAY(3) TO SECOND(3)");
});

test('the script reads the configured topics, brokers and tables, and never holds a password', () => {
  const sql = flinkSql(spec());
  assert.match(sql, /'topic' = 'clicks'/);
  assert.match(sql, /'properties.bootstrap.servers' = 'k1:9092,k2:9092'/);
  assert.match(sql, /'properties.group.id' = 'shop-flink'/);
  assert.match(sql, /'table-name' = 'commerce.users'/);
  assert.match(sql, /'table-name' = 'flowmark.attributed_checkouts'/);
  assert.match(sql, /'password' = '\$\{FLOWMARK_PG_PASSWORD\}'/);
  // Only the configured columns of the users table: a password column is never declared.
  const users = sql.slice(
    sql.indexOf('CREATE TEMPORARY TABLE users_table'),
    sql.indexOf('CREATE TEMPORARY TABLE products_table'),
  );
  assert.match(users, /`id` STRING,\n {2}`username` STRING,\n {2}PRIMARY KEY \(`id`\)/);
  assert.doesNotMatch(users, /`gender`|`password`/i);
  // An absent column is a typed NULL in the select.
  assert.match(sql, /CAST\(NULL AS STRING\) AS `user_gender`/);
  assert.match(sql, /'scan.startup.mode' = 'group-offsets'/);
  assert.doesNotMatch(sql, /scan.bounded.mode|table.dml-sync/);
});

test('bounded: from the earliest offsets to the latest, and the client waits for the job', () => {
  const sql = flinkSql(spec({}, { bounded: true }));
  assert.match(sql, /'scan.startup.mode' = 'earliest-offset'/);
  assert.match(sql, /'scan.bounded.mode' = 'latest-offset'/);
  assert.match(sql, /SET 'table.dml-sync' = 'true'/);
});

test('first click is MIN and last click MAX over the lookback, both ends inclusive, partitioned by the scope', () => {
  const first = flinkSql(spec());
  assert.match(
    first,
    /MIN\(`click_key`\) OVER \(\n +PARTITION BY `user_id`, `product_id` ORDER BY `ts`\n +RANGE BETWEEN INTERVAL '0 01:00:00.000' DAY\(2\) TO SECOND\(3\) PRECEDING AND CURRENT ROW/,
  );
  const last = flinkSql(spec({ model: 'last_click', scope: 'user', lookbackMs: 7 * 86_400_000 }));
  assert.match(
    last,
    /MAX\(`click_key`\) OVER \(\n +PARTITION BY `user_id` ORDER BY `ts`\n +RANGE BETWEEN INTERVAL '7 00:00:00.000'/,
  );
  // scope user: clicks without a product count, so they are not filtered out.
  assert.doesNotMatch(last, /NULLIF\(`product_id`, ''\) IS NOT NULL\n {2}\)/);
  assert.match(first, /WATERMARK FOR `ts` AS `ts` - INTERVAL '0 00:00:15.000'/);
});

test('per-source windows: one OVER per distinct window, each over its own sources, the smallest of them wins', () => {
  const H = 3_600_000;
  const sql = flinkSql(spec({ lookbackBySource: { email: 2 * H, Direct: H / 2, tiktok: H, sms: 2 * H } }));
  const over = (condition: string, interval: string, i: number) =>
    new RegExp(
      `MIN\\(CASE WHEN ${condition} THEN \`click_key\` END\\) OVER \\(\\n +PARTITION BY \`user_id\`, \`product_id\` ORDER BY \`ts\`\\n +RANGE BETWEEN INTERVAL '${interval}' DAY\\(2\\) TO SECOND\\(3\\) PRECEDING AND CURRENT ROW\\n +\\) AS \`best_${i}\``,
    );
  // The default window takes every source without a window of its own (tiktok's equals the default).
  assert.match(
    sql,
    over("`click_source` IS NULL OR `click_source` NOT IN \\('direct', 'email', 'sms'\\)", '0 01:00:00.000', 0),
  );
  assert.match(sql, over("`click_source` IN \\('direct'\\)", '0 00:30:00.000', 1));
  assert.match(sql, over("`click_source` IN \\('email', 'sms'\\)", '0 02:00:00.000', 2));
  assert.equal(sql.match(/ OVER \(\n/g)?.length, 3, 'three distinct windows, three OVER aggregates');
  assert.match(
    sql,
    /NULLIF\(LEAST\(COALESCE\(`best_0`, '~'\), COALESCE\(`best_1`, '~'\), COALESCE\(`best_2`, '~'\)\), '~'\) AS `best`/,
  );
  const last = flinkSql(spec({ model: 'last_click', lookbackBySource: { email: 2 * H } }));
  assert.match(last, /NULLIF\(GREATEST\(COALESCE\(`best_0`, ''\), COALESCE\(`best_1`, ''\)\), ''\) AS `best`/);
  // A window per source that equals the default changes nothing: one OVER over every click.
  const same = flinkSql(spec({ lookbackBySource: { tiktok: H } }));
  assert.equal(same.match(/ OVER \(\n/g)?.length, 1);
  assert.match(same, /MIN\(`click_key`\) OVER/);
});

test('excluded sources are filtered out of the clicks, lower-cased and quoted', () => {
  const sql = flinkSql(spec({ excludedSources: ['Direct', "o'brien"] }));
  assert.match(sql, /AND \(`source` IS NULL OR `source` NOT IN \('direct', 'o''brien'\)\)/);
});

test('a multi-touch model is refused, naming attribution.model and what to set', () => {
  assert.throws(
    () => flinkSql(spec({ model: 'linear' })),
    (err: unknown) =>
      isFlowmarkError(err) &&
      err.code === 'FM_CONFIG_INVALID' &&
      /attribution\.model is linear/.test(err.message) &&
      /first_click and last_click/.test(err.message),
  );
});
