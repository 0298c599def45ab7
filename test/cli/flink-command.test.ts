/** `flowmark flink sql`: the configuration → the script's inputs; the password never printed. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { flinkJobSpec, jdbcOf } from '../../src/cli/commands/flink.ts';
import { loadConfig } from '../../src/cli/config/index.ts';
import { isFlowmarkError } from '../../src/engine/index.ts';
import { BIN } from '../connectors/postgres/pg-job-fixtures.ts';

test('jdbcOf: a JDBC URL without credentials, the user, and a placeholder for the password', () => {
  assert.deepEqual(jdbcOf('postgres://shop:s3cret@db:5432/shop?sslmode=require&password=x'), {
    url: 'jdbc:postgresql://db:5432/shop?sslmode=require',
    username: 'shop',
    passwordPlaceholder: `$\{FLOWMARK_PG_PASSWORD}`,
  });
  assert.deepEqual(jdbcOf('postgresql://db/shop'), { url: 'jdbc:postgresql://db/shop' });
});

test('flinkJobSpec names kafka.bootstrap and database.url when they are missing', () => {
  const named = (key: string) => (err: unknown) => isFlowmarkError(err) && err.message.startsWith(`${key} is not set`);
  assert.throws(
    () => flinkJobSpec(loadConfig({ flags: { databaseUrl: 'postgres://u@h/db' } }).config),
    named('kafka.bootstrap'),
  );
  assert.throws(() => flinkJobSpec(loadConfig({ flags: { kafka: 'k:9092' } }).config), named('database.url'));
});

test('flinkJobSpec takes the configured topics, tables, columns and attribution options', () => {
  const { config } = loadConfig({
    flags: {
      kafka: 'k:9092',
      databaseUrl: 'postgres://u@h/db',
      usersTable: 'shop_users',
      lookback: '30m',
      scope: 'user',
    },
    env: { FLOWMARK_KAFKA_TOPICS_CLICKS: 'web_clicks', FLOWMARK_DIMENSIONS_USERS_COLUMNS_GENDER: 'null' },
  });
  const s = flinkJobSpec(config, { bounded: true });
  assert.equal(s.kafka.topics.clicks, 'web_clicks');
  assert.equal(s.users.table, 'shop_users');
  assert.equal(s.users.columns.gender, null);
  assert.equal(s.attribution.lookbackMs, 1_800_000);
  assert.equal(s.attribution.scope, 'user');
  assert.equal(s.bounded, true);
});

test('flowmark flink sql prints the script, with the placeholder and never the password', () => {
  const out = execFileSync(
    process.execPath,
    [BIN, 'flink', 'sql', '--kafka', 'k:9092', '--database-url', 'postgres://shop:s3cret-pw@db:5432/shop'],
    {
      encoding: 'utf8',
    },
  );
  assert.match(out, /^-- flowmark attribution job for Apache Flink SQL 1\.20/);
  assert.match(out, /'password' = '\$\{FLOWMARK_PG_PASSWORD\}'/);
  assert.doesNotMatch(out, /s3cret-pw/);
  const refused = spawnSync(
    process.execPath,
    [BIN, 'flink', 'sql', '--kafka', 'k:9092', '--database-url', 'postgres://u@h/db', '--model', 'linear'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^flowmark flink sql: attribution\.model is linear/);
});

test('flink deploy and flink status name a missing or silent --gateway and what to do', () => {
  const flowmark = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  const missing = flowmark(['flink', 'deploy', '--kafka', 'k:9092', '--database-url', 'postgres://u@h/db']);
  assert.equal(missing.status, 1);
  assert.match(
    missing.stderr,
    /^flowmark flink deploy: --gateway is required: the REST endpoint of a Flink SQL Gateway/,
  );
  const silent = flowmark(['flink', 'status', '--gateway', 'http://127.0.0.1:1']);
  assert.equal(silent.status, 1);
  assert.match(
    silent.stderr,
    /^flowmark flink status: the Flink SQL Gateway at http:\/\/127\.0\.0\.1:1 does not answer .*: start it \(bin\/sql-gateway\.sh start\) or fix --gateway/,
  );
  const bad = flowmark(['flink', 'status', '--gateway', 'ftp://x']);
  assert.match(bad.stderr, /--gateway must be an http:\/\/ or https:\/\/ URL/);
});
