/**
 * The Node bootstrap behind the README's `npm install && npm start` (issue 12): on a Node older
 * than 22.18, `npm install` puts node@24 into a cache (scripts/ensure-node.js) and `npm start`,
 * `npm test` and `npx flowmark` run under it (bin/flowmark.js, scripts/with-node.js); on a
 * supported Node nothing is installed and nothing is re-run.
 *
 * An older Node is pretended with `--import` (process.versions), and, when the machine has one
 * (`/usr/bin/node` older than 22.18, or FLOWMARK_TEST_OLD_NODE), the same runs on it for real —
 * which also proves the scripts parse and run there. The cache is laid out as the npm package
 * `node` leaves it, with this test's own Node as its binary, so nothing is downloaded here: the
 * download, `npm start` and `npm test` in a fresh clone on the old Node are a step of .ci/run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isSupported } from '../../scripts/node-runtime.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/flowmark.js');
const WITH_NODE = join(ROOT, 'scripts/with-node.js');
const ENSURE = join(ROOT, 'scripts/ensure-node.js');
const OLD = '20.19.0';
const PRETEND_OLD = [
  '--import',
  `data:text/javascript,Object.defineProperty(process,"versions",{value:{...process.versions,node:"${OLD}"}})`,
];

/** A cache as `npm install --prefix CACHE node@24` leaves it, whose node is this test's Node. */
function fakeCache(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-node-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pkg = join(dir, 'node_modules', 'node');
  mkdirSync(join(pkg, 'bin'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'node', version: process.versions.node }));
  symlinkSync(process.execPath, join(pkg, 'bin', 'node'));
  return dir;
}

function run(node: string, args: string[], cache: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, FLOWMARK_NODE_CACHE: cache, NODE_OPTIONS: '' };
  // Else a `node --test` started here reports to this test runner instead of printing.
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(node, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A tiny test file whose name only the glob finds (Node 20's runner could not expand it). */
function globbedTest(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-glob-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'deep'));
  writeFileSync(
    join(dir, 'deep', 'runs-here.test.ts'),
    "import { test } from 'node:test';\nconst n: number = 1;\ntest('a .ts test file ran', () => { if (n !== 1) throw new Error(); });\n",
  );
  return `${dir}/**/*.test.ts`;
}

/** This machine's own Node when it is older than 22.18 (the case the bootstrap is for). */
function oldNode(): string | undefined {
  const candidate = process.env.FLOWMARK_TEST_OLD_NODE || '/usr/bin/node';
  if (!existsSync(candidate)) return undefined;
  const v = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  return v !== '' && !isSupported(v) ? candidate : undefined;
}

test('supported Nodes: 22.18 on, 23.6 on the 23 line, 24 and later', () => {
  for (const v of ['22.18.0', 'v22.20.1', '23.6.0', '24.0.0', '25.1.0']) assert.equal(isSupported(v), true, v);
  for (const v of ['18.19.0', '20.20.2', '22.17.1', '23.5.0', 'v21.7.3']) assert.equal(isSupported(v), false, v);
});

test('on a supported Node, npm install installs nothing and the commands run in place', (t) => {
  const cache = join(mkdtempSync(join(tmpdir(), 'flowmark-no-cache-')), 'never-created');
  t.after(() => rmSync(dirname(cache), { recursive: true, force: true }));
  const r = run(process.execPath, [ENSURE, '--print-bin-dir'], cache);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'nothing to say');
  assert.equal(r.stdout, `${dirname(process.execPath)}\n`);
  assert.equal(existsSync(cache), false, 'no cache created');
  const v = run(process.execPath, [BIN, '--version'], cache);
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stderr, '', 'no re-run notice');
});

test('on an older Node, flowmark, npm test and the postinstall use the cached Node', (t) => {
  const cache = fakeCache(t);
  const cached = join(cache, 'node_modules', 'node', 'bin', 'node');

  const v = run(process.execPath, [...PRETEND_OLD, BIN, '--version'], cache);
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
  assert.equal(
    v.stderr,
    `flowmark: Node ${OLD} is older than 22.18; running under Node ${process.versions.node} (${cached})\n`,
  );

  const tests = run(
    process.execPath,
    [...PRETEND_OLD, WITH_NODE, '--test', '--test-reporter=spec', globbedTest(t)],
    cache,
  );
  assert.equal(tests.status, 0, tests.stdout + tests.stderr);
  assert.match(tests.stdout, /✔ a \.ts test file ran/);

  const ensure = run(process.execPath, [...PRETEND_OLD, ENSURE, '--print-bin-dir'], cache);
  assert.equal(ensure.status, 0, ensure.stderr);
  assert.equal(ensure.stdout, `${dirname(cached)}\n`);
  assert.match(ensure.stderr, new RegExp(`using Node ${process.versions.node.replaceAll('.', '\\.')} from `));
});

test('on an older Node without a cached one, the commands say to run npm install (and how else)', (t) => {
  const cache = join(mkdtempSync(join(tmpdir(), 'flowmark-empty-cache-')), 'none');
  t.after(() => rmSync(dirname(cache), { recursive: true, force: true }));
  for (const script of [BIN, WITH_NODE]) {
    const r = run(process.execPath, [...PRETEND_OLD, script, '--version'], cache);
    assert.equal(r.status, 1, script);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`this is Node ${OLD.replaceAll('.', '\\.')}`));
    assert.match(r.stderr, /Run `npm install` in flowmark's directory: on an older Node it installs node@24 into /);
  }
});

test("on this machine's own older Node for real: flowmark and a globbed .ts test run under the cached Node", (t) => {
  const old = oldNode();
  if (old === undefined) {
    t.skip('no Node older than 22.18 here (/usr/bin/node or FLOWMARK_TEST_OLD_NODE); the pretended one above ran');
    return;
  }
  const cache = fakeCache(t);
  const v = run(old, [BIN, '--version'], cache);
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stderr, /running under Node /);
  const tests = run(old, [WITH_NODE, '--test', '--test-reporter=spec', globbedTest(t)], cache);
  assert.equal(tests.status, 0, tests.stdout + tests.stderr);
  assert.match(tests.stdout, /✔ a \.ts test file ran/);
});
