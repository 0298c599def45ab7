import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isCi } from './services.ts';

const fixture = fileURLToPath(new URL('./fixtures/require-service.fixture.ts', import.meta.url));
const pathFixture = fileURLToPath(new URL('./fixtures/require-path.fixture.ts', import.meta.url));

/** Runs the fixture in a child `node --test` (TAP output) with exactly the given variables. */
function runFixture(vars: Record<string, string>, file = fixture) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...vars };
  // Set by the parent test runner; a child runner that sees it would report to the parent.
  delete env.NODE_TEST_CONTEXT;
  if (!('CI' in vars)) delete env.CI;
  if (!('FLOWMARK_TEST_FAKE_URL' in vars)) delete env.FLOWMARK_TEST_FAKE_URL;
  const res = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, all: res.stdout + res.stderr };
}

test('without the service and without CI, the test is skipped with a loud message naming the variable', () => {
  const r = runFixture({});
  assert.equal(r.status, 0, r.all);
  assert.match(r.stdout, /^ok 1 - needs the fake service # SKIP fake not available: set FLOWMARK_TEST_FAKE_URL/m);
  assert.match(r.stdout, /run scripts\/services\.sh fake -- npm test/);
  assert.match(r.all, /!!! SKIPPED "needs the fake service": fake not available/);
  assert.match(r.stdout, /^# skipped 1$/m);
  assert.match(r.stdout, /^# pass 0$/m);
});

test('without the service under CI, the test fails and says to start it in .ci/run', () => {
  const r = runFixture({ CI: 'true' });
  assert.equal(r.status, 1, r.all);
  assert.match(r.stdout, /^not ok 1 - needs the fake service$/m);
  assert.match(r.stdout, /fake not available: set FLOWMARK_TEST_FAKE_URL/);
  assert.match(r.stdout, /start it in \.ci\/run/);
  assert.match(r.stdout, /^# fail 1$/m);
});

test('with the variable set, the test runs and receives its value, under CI or not', () => {
  for (const ci of [{}, { CI: 'true' }] as Record<string, string>[]) {
    const r = runFixture({ ...ci, FLOWMARK_TEST_FAKE_URL: 'fake://127.0.0.1:1' });
    assert.equal(r.status, 0, r.all);
    assert.match(r.stdout, /^ok 1 - needs the fake service$/m);
    assert.match(r.all, /got fake:\/\/127\.0\.0\.1:1/);
  }
});

test('an empty variable counts as missing', () => {
  const r = runFixture({ CI: 'true', FLOWMARK_TEST_FAKE_URL: '' });
  assert.equal(r.status, 1, r.all);
});

test('CI counts as set unless it is empty, 0 or false', () => {
  assert.equal(isCi({}), false);
  assert.equal(isCi({ CI: '' }), false);
  assert.equal(isCi({ CI: '0' }), false);
  assert.equal(isCi({ CI: 'false' }), false);
  assert.equal(isCi({ CI: 'FALSE' }), false);
  assert.equal(isCi({ CI: 'true' }), true);
  assert.equal(isCi({ CI: '1' }), true);
});

test('a file kept outside the repository (../shared): skipped loudly without CI, a failure under CI', () => {
  const missing = { FLOWMARK_TEST_FAKE_PATH: '/nonexistent/shared/seed-formats' };
  const local = runFixture(missing, pathFixture);
  assert.equal(local.status, 0, local.all);
  assert.match(
    local.stdout,
    /^ok 1 - needs the shared file # SKIP \/nonexistent\/shared\/seed-formats is not on this machine/m,
  );
  assert.match(local.all, /!!! SKIPPED "needs the shared file"/);
  const ci = runFixture({ ...missing, CI: 'true' }, pathFixture);
  assert.equal(ci.status, 1, ci.all);
  assert.match(ci.stdout, /^not ok 1 - needs the shared file$/m);
  assert.match(ci.stdout, /CI is set, so a missing file is a failure/);
  const present = runFixture({ CI: 'true', FLOWMARK_TEST_FAKE_PATH: fixture }, pathFixture);
  assert.equal(present.status, 0, present.all);
  assert.match(present.all, /compared/);
});
