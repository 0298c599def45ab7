/**
 * Issue 12: a database password is never printed, in any form pg accepts, by any command.
 * The unit tests pin the scrubbing function; the others run the real `flowmark` (bin/flowmark.js)
 * as a child process — `config`, `run` against a server that is not there and against the real
 * one, `import` — and search all of stdout and stderr for every form of the password.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { CONFIG_FILE_ENV, CONFIG_KEYS, envName, loadConfig } from '../../src/cli/config/index.ts';
import { describeFailure } from '../../src/cli/error-messages.ts';
import { passwordsIn, SecretSet, scrubSecrets, scrubStream } from '../../src/cli/secret-scrubbing.ts';
import { requireService } from '../support/services.ts';

const BIN = fileURLToPath(new URL('../../bin/flowmark.js', import.meta.url));

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of CONFIG_KEYS) delete env[envName(key.path)];
  delete env[CONFIG_FILE_ENV];
  return { ...env, ...extra };
}

function flowmark(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: cleanEnv(env), encoding: 'utf8', timeout: 90_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-secrets-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The password, and the pieces of it that must not show either. */
const SECRET = 'Hunter2-xyzzy';

/** Every way of writing a password into a database URL that pg reads; `shown` is what must not appear. */
function urlForms(host: string): Array<{ what: string; url: string; shown: string[] }> {
  return [
    { what: 'user:password@ (postgres://)', url: `postgres://shop:${SECRET}@${host}/shop`, shown: [SECRET] },
    { what: 'user:password@ (postgresql://)', url: `postgresql://shop:${SECRET}@${host}/shop`, shown: [SECRET] },
    { what: '?password=', url: `postgres://shop@${host}/shop?password=${SECRET}`, shown: [SECRET] },
    {
      what: '?password= after other parameters',
      url: `postgres://shop@${host}/shop?application_name=fm&password=${SECRET}&connect_timeout=3`,
      shown: [SECRET],
    },
    {
      what: '?sslpassword= (sslkey stays visible)',
      url: `postgres://shop@${host}/shop?sslpassword=${SECRET}&sslmode=disable`,
      shown: [SECRET],
    },
    {
      what: 'percent-encoded user:password@',
      url: `postgres://shop:${SECRET}%40%3A%2Fx@${host}/shop`,
      shown: [SECRET, `${SECRET}@:/x`, `${SECRET}%40%3A%2Fx`],
    },
    {
      what: 'percent- and form-encoded ?password=',
      url: `postgres://shop@${host}/shop?password=${SECRET}%26x+y`,
      shown: [SECRET, `${SECRET}&x y`, `${SECRET}%26x+y`],
    },
    {
      what: 'both at once',
      url: `postgres://shop:${SECRET}@${host}/shop?password=${SECRET}2&sslpassword=${SECRET}3`,
      shown: [SECRET],
    },
  ];
}

function assertHidden(output: string, shown: readonly string[], what: string): void {
  for (const s of [...shown, 'xyzzy'])
    assert.ok(!output.includes(s), `${what}: the output shows ${JSON.stringify(s)}:\n${output}`);
}

test('scrubSecrets hides every form of password and nothing else', () => {
  const cases: Array<[string, string]> = [
    [
      'postgres://shop:s3cret@db/shop?sslpassword=k3y&sslkey=/etc/k.pem',
      'postgres://shop:***@db/shop?sslpassword=***&sslkey=/etc/k.pem',
    ],
    ['postgresql://u@h:5432/db?password=p%40ss+w&x=1', 'postgresql://u@h:5432/db?password=***&x=1'],
    ['connect to postgres://u:p@ss@h:1/db failed', 'connect to postgres://u:***@h:1/db failed'],
    ['host=127.0.0.1 port=1 password=s3cret dbname=x', 'host=127.0.0.1 port=1 password=*** dbname=x'],
    ["host=h password='se cr\\'et' dbname=x", 'host=h password=*** dbname=x'],
    ['{"password":"s3cret","user":"x"}', '{"password":***,"user":"x"}'],
    ['PASSWORD = s3cret', 'PASSWORD = ***'],
    // The words of help texts are examples, not secrets.
    ['expected postgres://user:password@host:5432/database', 'expected postgres://user:password@host:5432/database'],
    ['password authentication failed for user "shop"', 'password authentication failed for user "shop"'],
    ['kafka://broker:9092 and http://x/y', 'kafka://broker:9092 and http://x/y'],
    // A reference to a variable (flowmark flink sql's placeholder) is not a password; a value around one is.
    [`'password' = '$\{FLOWMARK_PG_PASSWORD}'`, `'password' = '$\{FLOWMARK_PG_PASSWORD}'`],
    [`'password' = 'x$\{FLOWMARK_PG_PASSWORD}'`, "'password' = ***"],
  ];
  for (const [text, expected] of cases) assert.equal(scrubSecrets(text, []), expected, text);
});

test('a remembered password is hidden wherever it appears, in each of its forms', () => {
  const secrets = new SecretSet();
  secrets.rememberFrom(`postgres://shop:${SECRET}%21x@db/shop?password=${SECRET}+y`);
  assert.ok(passwordsIn(`postgres://shop@db/shop?password=${SECRET}+y`).includes(`${SECRET} y`));
  const text = `a driver said: auth for ${SECRET}!x failed; also ${SECRET} y, ${SECRET}%21x`;
  assert.equal(secrets.scrub(text), 'a driver said: auth for *** failed; also ***, ***');
  // Too short to replace everywhere (every "ab" in every word), yet hidden inside a URL.
  const short = new SecretSet();
  short.rememberFrom('postgres://shop:ab@db/shop');
  assert.equal(short.scrub('about postgres://shop:ab@db/shop'), 'about postgres://shop:***@db/shop');
});

test("the configuration's displayUrl (what every summary line prints) hides every form", () => {
  for (const { what, url, shown } of urlForms('db.example:5432')) {
    const display = loadConfig({ flags: { databaseUrl: url } }).config.database?.displayUrl ?? '';
    assert.match(display, /^postgres(ql)?:\/\/shop/, what);
    assertHidden(display, shown, `displayUrl, ${what}`);
  }
});

test('scrubStream scrubs what is written to a stream, whoever writes it', () => {
  let written = '';
  const stream = {
    write: (chunk: unknown) => {
      written += String(chunk);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  const undo = scrubStream(stream);
  stream.write(`a library says: postgres://shop:${SECRET}@db/shop?sslpassword=${SECRET}\n`);
  stream.write(Buffer.from(`password=${SECRET}\n`));
  undo();
  assertHidden(written, [SECRET], 'scrubStream');
  assert.equal(written, 'a library says: postgres://shop:***@db/shop?sslpassword=***\npassword=***\n');
});

test('the top-level error message of an error that quotes the connection string is scrubbed', () => {
  const err = new Error(`could not connect with "postgres://shop:${SECRET}@db/shop?sslpassword=${SECRET}2"`);
  const failure = describeFailure(err);
  assertHidden(`${failure.message}\n${failure.stack}`, [SECRET], 'describeFailure');
});

test('flowmark config shows the URL without any password, from a flag, a variable or the file', (t) => {
  const dir = tempDir(t);
  // Each command is a Node process that takes seconds to start here: every form through the
  // flag, and two forms through each other way in.
  urlForms('db.example:5432').forEach(({ what, url, shown }, i) => {
    const viaFlag = flowmark(dir, ['config', '--database-url', url]);
    assert.equal(viaFlag.status, 0, viaFlag.output);
    assert.match(viaFlag.output, /url: postgres(ql)?:\/\/shop(:\*\*\*)?@db\.example:5432\/shop/, what);
    assertHidden(viaFlag.output, shown, `config --database-url, ${what}`);
    if (i % 4 !== 2) return;
    const viaEnv = flowmark(dir, ['config'], { FLOWMARK_DATABASE_URL: url });
    assertHidden(viaEnv.output, shown, `config with FLOWMARK_DATABASE_URL, ${what}`);
    writeFileSync(join(dir, 'flowmark.yaml'), `database:\n  url: "${url}"\n`);
    const viaFile = flowmark(dir, ['config', '--config', 'flowmark.yaml']);
    assertHidden(viaFile.output, shown, `config --config, ${what}`);
  });
  const withKey = flowmark(dir, [
    'config',
    '--database-url',
    `postgres://shop@db/shop?sslpassword=${SECRET}&sslkey=/etc/flowmark/client.key`,
  ]);
  assert.match(withKey.output, /sslpassword=\*\*\*&sslkey=\/etc\/flowmark\/client\.key/);
});

test('a key=value connection string (which pg does not accept) is refused without showing its password', (t) => {
  const dir = tempDir(t);
  for (const command of ['config', 'run', 'import']) {
    const r = flowmark(dir, [command, '--database-url', `host=127.0.0.1 port=1 user=shop password=${SECRET}`]);
    assert.equal(r.status, 1, r.output);
    assert.match(r.output, /database\.url is not a URL/);
    assertHidden(r.output, [SECRET], `${command} with a key=value string`);
  }
  // A mistyped flag that carries the URL: commander quotes it.
  const typo = flowmark(dir, ['run', `--databse-url=postgres://shop:${SECRET}@db/shop`]);
  assert.equal(typo.status, 1, typo.output);
  assert.match(typo.output, /unknown option/);
  assertHidden(typo.output, [SECRET], 'a mistyped --database-url');
});

test('run and import against a server that is not there say so without the password', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'users.csv'), 'user_id,user_name\n1,Ann\n');
  // run needs a log to follow; an empty one is enough to reach the server.
  mkdirSync(join(dir, 'data', 'log'), { recursive: true });
  // Port 1 on loopback: nothing listens there.
  urlForms('127.0.0.1:1').forEach(({ what, url, shown }, i) => {
    const run = flowmark(dir, ['run', '--drain', '--data-dir', 'data', '--database-url', url]);
    assert.equal(run.status, 1, run.output);
    assert.match(run.output, /^flowmark run: .*(unavailable|ECONNREFUSED)/m, `${what}: ${run.output}`);
    assertHidden(run.output, shown, `run, ${what}`);
    if (i % 3 !== 2) return;
    const imp = flowmark(dir, ['import', '--data-dir', 'data', '--users', 'users.csv'], { FLOWMARK_DATABASE_URL: url });
    assert.equal(imp.status, 1, imp.output);
    assertHidden(imp.output, shown, `import, ${what}`);
  });
  // An sslkey that does not exist: its path is shown (it is no secret), the sslpassword is not.
  const key = join(dir, 'missing-client.key');
  const r = flowmark(dir, [
    'run',
    '--drain',
    '--data-dir',
    'data',
    '--database-url',
    `postgres://shop@127.0.0.1:1/shop?sslpassword=${SECRET}&sslkey=${key}`,
  ]);
  assert.equal(r.status, 1, r.output);
  assertHidden(r.output, [SECRET], 'run with sslkey');
});

test('import and run on a real server print where they wrote without the password', async (t) => {
  const base = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (base === undefined) return;
  const schema = `fm_secrets_${process.pid}_${Date.now().toString(36)}`;
  const dir = tempDir(t);
  t.after(async () => {
    const client = new pg.Client({ connectionString: base });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });
  writeFileSync(join(dir, 'users.csv'), 'user_id,user_name\n1,Ann\n');
  writeFileSync(join(dir, 'events.jsonl'), '');
  // The test server trusts local connections: the password is sent and ignored, so the
  // commands succeed and print their summary lines, which name the server.
  const sep = base.includes('?') ? '&' : '?';
  const url = `${base}${sep}password=${SECRET}&sslpassword=${SECRET}2`;
  const env = { FLOWMARK_DATABASE_URL: url, FLOWMARK_DATABASE_SCHEMA: schema };
  const imp = flowmark(dir, ['import', '--data-dir', 'data', '--users', 'users.csv', '--events', 'events.jsonl'], env);
  assert.equal(imp.status, 0, imp.output);
  assert.match(imp.output, /import: 1 users → .*password=\*\*\*&sslpassword=\*\*\*/);
  assertHidden(imp.output, [SECRET], 'import');
  const run = flowmark(dir, ['run', '--drain', '--data-dir', 'data'], env);
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /^run: 0 events .* → .*password=\*\*\*&sslpassword=\*\*\*$/m);
  assertHidden(run.output, [SECRET], 'run');
});
