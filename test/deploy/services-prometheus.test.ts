/**
 * `scripts/services.sh prometheus` finds promtool and prometheus and exports their paths for the
 * tests; variables already set are respected. (Installing the Debian package is what CI does on a
 * fresh machine; this test never installs anything: it needs the binaries to be there already.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requireService } from '../support/services.ts';

const SCRIPT = join(resolve(fileURLToPath(new URL('../..', import.meta.url))), 'scripts/services.sh');

function serviceEnv(env: NodeJS.ProcessEnv) {
  const r = spawnSync(
    'bash',
    [
      '-c',
      'source "$1" && service_prometheus && printf "%s\\n%s\\n" "$FLOWMARK_TEST_PROMTOOL" "$FLOWMARK_TEST_PROMETHEUS"',
      'bash',
      SCRIPT,
    ],
    { env, encoding: 'utf8', timeout: 60_000 },
  );
  return { status: r.status, lines: r.stdout.trim().split('\n'), stderr: r.stderr };
}

test('service_prometheus exports the paths of promtool and prometheus found on PATH', (t) => {
  const promtool = requireService(t, 'prometheus', 'FLOWMARK_TEST_PROMTOOL');
  if (promtool === undefined) return;
  const prometheus = requireService(t, 'prometheus', 'FLOWMARK_TEST_PROMETHEUS');
  if (prometheus === undefined) return;
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(promtool)}:${dirname(prometheus)}:/usr/bin:/bin` };
  delete env.FLOWMARK_TEST_PROMTOOL;
  delete env.FLOWMARK_TEST_PROMETHEUS;
  const r = serviceEnv(env);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.lines, [join(dirname(promtool), 'promtool'), join(dirname(prometheus), 'prometheus')]);
  assert.match(r.stderr, /\[services\] prometheus: prometheus, version \d/);
});

test('service_prometheus respects variables that are already set', () => {
  const r = serviceEnv({
    ...process.env,
    FLOWMARK_TEST_PROMTOOL: '/opt/x/promtool',
    FLOWMARK_TEST_PROMETHEUS: '/opt/x/prometheus',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.lines, ['/opt/x/promtool', '/opt/x/prometheus']);
  assert.match(r.stderr, /using FLOWMARK_TEST_PROMTOOL and FLOWMARK_TEST_PROMETHEUS from the environment/);
});
