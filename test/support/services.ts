/**
 * Integration tests talk to real services (PostgreSQL, Kafka, Prometheus, Chromium), which
 * `scripts/services.sh` installs and starts and describes to the tests through environment
 * variables (for example `FLOWMARK_TEST_PG_URL`).
 *
 * When a service is not there, a test must not pass quietly: on a developer's machine it is
 * skipped with a loud message saying how to get the service; under CI it fails, so that a CI run
 * that forgot to start a service cannot look green.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';

/** True when the tests run under CI: `CI` is set to anything but '', '0' or 'false'. */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/**
 * Returns the value of `envVar`, which describes how to reach the service `name` (a name that
 * `scripts/services.sh` knows: `postgres`, `kafka`, `prometheus`, `chromium`).
 *
 * When `envVar` is unset or empty: under CI the test fails here; otherwise the test is marked
 * skipped with a message naming the variable and the script, a warning is printed, and
 * `undefined` is returned — the caller must then return at once.
 *
 * @example
 * test('writes rows to PostgreSQL', async (t) => {
 *   const url = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
 *   if (url === undefined) return; // skipped: no server on this machine
 *   // … connect to `url`
 * });
 */
export function requireService(t: TestContext, name: string, envVar: string): string | undefined {
  const value = process.env[envVar];
  if (value !== undefined && value !== '') return value;
  const message =
    `${name} not available: set ${envVar} or run scripts/services.sh ${name} -- npm test ` +
    `(under CI this test fails instead of skipping)`;
  if (isCi()) assert.fail(`${message}. CI is set, so a missing service is a failure: start it in .ci/run.`);
  console.warn(`\n!!! SKIPPED "${t.name}": ${message}\n`);
  t.skip(message);
  return undefined;
}

/**
 * Returns true when `path` exists: files the tests compare with, kept outside the repository
 * (`../shared/seed-formats`, beside the clone on a developer's machine and in .ci/run). When it is
 * missing, as with a service: under CI the test fails here; otherwise it is skipped with a loud
 * message, and false is returned — the caller must then return at once.
 *
 * @example
 * test('the copies are the seed files', (t) => {
 *   if (!requirePath(t, SHARED_SEEDS)) return; // skipped: no ../shared on this machine
 *   // … compare
 * });
 */
export function requirePath(t: TestContext, path: string): boolean {
  if (existsSync(path)) return true;
  const message = `${path} is not on this machine: clone the shared files beside the repository (.ci/run expects ../shared)`;
  if (isCi()) assert.fail(`${message}. CI is set, so a missing file is a failure.`);
  console.warn(`\n!!! SKIPPED "${t.name}": ${message}\n`);
  t.skip(message);
  return false;
}
