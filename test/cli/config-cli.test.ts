/**
 * The configuration as a user meets it: `flowmark <command> --config FILE` in a child process.
 * A bad configuration is one line on stderr, exit code 1, and nothing written; a good one is what
 * the command uses; `flowmark config` shows the resolved values and where each came from.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { outputMigrations } from '../../src/attribution/output-schema.ts';
import { CONFIG_FILE_ENV, CONFIG_KEYS, envName } from '../../src/cli/config/index.ts';
import { openPgliteDatabase } from '../../src/connectors/pglite/pglite-database.ts';
import { sharedServerClient, withServer } from '../connectors/postgres/pg-fixtures.ts';
import { uniqueSchema } from '../connectors/sql/sql-fixtures.ts';

const BIN = fileURLToPath(new URL('../../bin/flowmark.js', import.meta.url));

/** The environment of this process without the variables of the configuration (hermetic runs). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of CONFIG_KEYS) delete env[envName(key.path)];
  delete env[CONFIG_FILE_ENV];
  return { ...env, ...extra };
}

/** Runs `node bin/flowmark.js …args` in `cwd`. */
function flowmark(cwd: string, args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    env: cleanEnv(env),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-config-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('run --config bad.yaml: one line on stderr, exit code 1, no data dir created', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'bad.yaml'), `data_dir: ${join(dir, 'data')}\nattribution:\n  lookbak: 1h\n`);
  for (const command of ['run', 'import', 'demo']) {
    const r = flowmark(dir, [command, '--config', 'bad.yaml']);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr,
      `flowmark ${command}: bad.yaml:3: unknown key "attribution.lookbak" (did you mean "attribution.lookback"?)\n`,
    );
    assert.equal(r.stdout, '');
    assert.ok(!existsSync(join(dir, 'data')), `${command} created the data dir of a bad configuration`);
    assert.ok(!existsSync(join(dir, '.flowmark')), `${command} created the default data dir`);
  }
});

test('a bad value from a variable or a flag, and a missing --config file, stop run before anything is written', (t) => {
  const dir = tempDir(t);
  const cases: Array<[string[], Record<string, string>, string]> = [
    [
      ['run'],
      { FLOWMARK_ATTRIBUTION_LOOKBACK: 'abc' },
      'flowmark run: FLOWMARK_ATTRIBUTION_LOOKBACK="abc": attribution.lookback must be a duration such as 250ms, 15s, 30m, 1h or 7d\n',
    ],
    [
      ['run', '--database-url', 'mysql://shop:pw-Secret9@db/shop'],
      {},
      'flowmark run: --database-url: database.url must start with postgres:// or postgresql:// (got mysql://…)\n',
    ],
    [
      ['run', '--config', 'missing.yaml'],
      {},
      'flowmark run: --config missing.yaml: no such file (give the path of a flowmark.yaml; see flowmark.example.yaml)\n',
    ],
    [
      ['run', '--drain'],
      { FLOWMARK_DATABASE_URL: 'postgres://shop:pw-Secret9@db:99999/shop' },
      'flowmark run: FLOWMARK_DATABASE_URL: database.url is not a URL (expected postgres://user:password@host:5432/database)\n',
    ],
  ];
  for (const [args, env, expected] of cases) {
    const r = flowmark(dir, args, env);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, expected);
    assert.ok(!r.stderr.includes('pw-Secret9'));
    assert.ok(!existsSync(join(dir, '.flowmark')), `${args.join(' ')} wrote the data dir`);
  }
});

test('flowmark config prints the resolved configuration, where each value came from, and no password', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'flowmark.yaml'), 'attribution:\n  lookback: 30m\n  model: linear\nserver:\n  port: 4000\n');
  const r = flowmark(dir, ['config', '--config', 'flowmark.yaml', '--port', '4100'], {
    FLOWMARK_ATTRIBUTION_MODEL: 'last_click',
    FLOWMARK_DATABASE_URL: 'postgres://shop:pw-Secret9@db:5432/shop',
    FLOWMARK_TEST_PG_URL: 'postgres://ignored@127.0.0.1/x',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^# file: flowmark\.yaml$/m);
  assert.match(r.stdout, /^ {2}lookback: 30m +# flowmark\.yaml:2$/m);
  assert.match(r.stdout, /^ {2}model: last_click +# FLOWMARK_ATTRIBUTION_MODEL$/m);
  assert.match(r.stdout, /^ {2}port: 4100 +# --port$/m);
  assert.match(r.stdout, /^ {2}scope: product +# default$/m);
  assert.match(r.stdout, /^ {2}url: postgres:\/\/shop:\*\*\*@db:5432\/shop +# FLOWMARK_DATABASE_URL$/m);
  assert.ok(!r.stdout.includes('pw-Secret9'), r.stdout);
  assert.ok(!r.stdout.includes('ignored'), r.stdout);
});

/** The golden case of three clicks at −70, −50 and −10 min: first-click takes −50 within 1 h, −10 within 30 min. */
const GOLDEN = new URL('../golden/keeps-whole-window/', import.meta.url).pathname;
const GOLDEN_FILES = ['--users', join(GOLDEN, 'users.csv'), '--products', join(GOLDEN, 'products.csv')];
const GOLDEN_EVENTS = ['--events', join(GOLDEN, 'input.jsonl')];

/** The attributed checkouts of the PGlite database in `dataDir` (opened after the run has exited). */
async function pgliteRows(dataDir: string): Promise<Record<string, unknown>[]> {
  const db = await openPgliteDatabase(dataDir, { migrations: outputMigrations('flowmark') });
  try {
    const { rows } = await db.query<Record<string, unknown>>(
      'SELECT checkout_id, click_id, user_name, user_gender, is_final FROM flowmark.attributed_checkouts ORDER BY checkout_id',
    );
    return rows;
  } finally {
    await db.close();
  }
}

test('import and run take the data dir and options from the file, overridden by flags', {
  timeout: 240_000,
}, async (t) => {
  const dir = tempDir(t);
  const fromFile = join(dir, 'from-file');
  const fromFlag = join(dir, 'from-flag');
  writeFileSync(
    join(dir, 'flowmark.yaml'),
    `data_dir: ${fromFile}\nattribution:\n  lookback: 30m\ncheckpoint:\n  interval: 200ms\nserver:\n  port: 0\n`,
  );
  const imp = flowmark(dir, ['import', '--config', 'flowmark.yaml', ...GOLDEN_FILES, ...GOLDEN_EVENTS]);
  assert.equal(imp.status, 0, imp.stderr);
  assert.match(imp.stderr, new RegExp(`users → flowmark\\.users in PGlite in ${fromFile}`));
  assert.ok(existsSync(join(fromFile, 'log')));

  // The file's lookback reaches the pipeline: 30 min leaves only the click at −10 min (1 h: −50).
  const drained = flowmark(dir, ['run', '--drain', '--config', 'flowmark.yaml']);
  assert.equal(drained.status, 0, drained.stderr);
  assert.deepEqual(
    (await pgliteRows(fromFile)).map((r) => [r.checkout_id, r.click_id, r.is_final]),
    [['c1', 'm10', true]],
  );

  // The file's checkpoint interval reaches the live job: its metrics state the configured pace.
  const live = spawn(process.execPath, [BIN, 'run', '--config', 'flowmark.yaml'], {
    cwd: dir,
    env: cleanEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => live.on('exit', (code) => resolve(code)));
  t.after(() => live.kill('SIGKILL'));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    live.stderr.on('data', (d) => {
      stderr += d;
      const m = /run: dashboard: (http:\/\/\S+\/) /.exec(stderr);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    void exited.then(() => reject(new Error(`run exited before serving:\n${stderr}`)));
  });
  const metrics = await (await fetch(`${url}metrics`)).text();
  assert.match(metrics, /^flowmark_checkpoint_interval_seconds 0\.2$/m);
  live.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);

  const run = flowmark(dir, ['run', '--drain', '--config', 'flowmark.yaml', '--data-dir', fromFlag], {
    FLOWMARK_DATA_DIR: join(dir, 'from-env'),
  });
  // The flag wins over the variable and the file: run looks for the log there (and, finding no
  // directory, says so instead of creating an empty one).
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, new RegExp(`^flowmark run: data dir ${fromFlag}: no such directory`));
  assert.ok(!existsSync(fromFlag));
  assert.ok(!existsSync(join(dir, 'from-env')));
  const fromFileRun = flowmark(dir, ['run', '--drain', '--config', 'flowmark.yaml']);
  assert.equal(fromFileRun.status, 0, fromFileRun.stderr);
  assert.match(fromFileRun.stderr, new RegExp(`→ PGlite in ${fromFile}\\n`));
});

test('run takes the attribution options from FLOWMARK_* variables', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  const imp = flowmark(dir, ['import', '--data-dir', data, ...GOLDEN_FILES, ...GOLDEN_EVENTS]);
  assert.equal(imp.status, 0, imp.stderr);
  const run = flowmark(dir, ['run', '--drain', '--data-dir', data], {
    FLOWMARK_ATTRIBUTION_LOOKBACK: '30m',
    FLOWMARK_ATTRIBUTION_MODEL: 'last_click',
  });
  assert.equal(run.status, 0, run.stderr);
  const rows = await pgliteRows(data);
  assert.deepEqual(
    rows.map((r) => [r.checkout_id, r.click_id]),
    [['c1', 'm10']],
  );
  // The model is the variable's too (first_click by default).
  const db = await openPgliteDatabase(data, { migrations: outputMigrations('flowmark') });
  try {
    const { rows: models } = await db.query<{ attribution_model: string }>(
      'SELECT attribution_model FROM flowmark.attributed_checkouts',
    );
    assert.deepEqual(models, [{ attribution_model: 'last_click' }]);
  } finally {
    await db.close();
  }
});

withServer("run with the shop's users table", (pgUrl) => {
  const server = sharedServerClient(pgUrl);

  test('run --database-url looks users up in the table of dimensions.users from the file', async (t) => {
    const dir = tempDir(t);
    const shop = uniqueSchema('fm_shop');
    const schema = uniqueSchema('fm_cfg');
    t.after(async () => {
      await server.exec(`DROP SCHEMA IF EXISTS "${shop}" CASCADE`);
      await server.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    });
    // The shop's own table, with its own names: flowmark's users table stays empty.
    await server.exec(
      `CREATE SCHEMA "${shop}"; CREATE TABLE "${shop}".customers (id text PRIMARY KEY, full_name text, sex text);
       INSERT INTO "${shop}".customers VALUES ('u1', 'Ada of the shop', 'female');`,
    );
    writeFileSync(
      join(dir, 'flowmark.yaml'),
      [
        `data_dir: ${join(dir, 'data')}`,
        'database:',
        `  schema: ${schema}`,
        'dimensions:',
        '  users:',
        `    schema: ${shop}`,
        '    table: customers',
        '    key_column: id',
        '    columns:',
        '      name: full_name',
        '      gender: sex',
        '',
      ].join('\n'),
    );
    const db = ['--config', 'flowmark.yaml', '--database-url', pgUrl];
    const imp = flowmark(dir, ['import', ...db, '--products', join(GOLDEN, 'products.csv'), ...GOLDEN_EVENTS]);
    assert.equal(imp.status, 0, imp.stderr);
    const run = flowmark(dir, ['run', '--drain', ...db]);
    assert.equal(run.status, 0, run.stderr);
    const { rows } = await server.query<Record<string, unknown>>(
      `SELECT checkout_id, click_id, user_name, user_gender FROM "${schema}".attributed_checkouts`,
    );
    assert.deepEqual(rows, [
      { checkout_id: 'c1', click_id: 'm50', user_name: 'Ada of the shop', user_gender: 'female' },
    ]);
  });
});
