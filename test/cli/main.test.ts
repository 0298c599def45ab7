import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ATTRIBUTION_MODELS } from '../../src/attribution/attribution-options.ts';

const BIN = fileURLToPath(new URL('../../bin/flowmark.js', import.meta.url));
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Runs `node bin/flowmark.js …args` (optionally with extra node flags) and returns what it did. */
function flowmark(args: string[], nodeFlags: string[] = [], env: NodeJS.ProcessEnv = process.env) {
  const res = spawnSync(process.execPath, [...nodeFlags, BIN, ...args], { encoding: 'utf8', timeout: 60_000, env });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

test('flowmark --help explains the tool, lists every command and says what is built today', () => {
  const r = flowmark(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /click attribution/);
  for (const cmd of ['demo', 'generate', 'replay', 'import', 'run', 'config', 'produce', 'version']) {
    assert.match(r.stdout, new RegExp(`^  ${cmd}\\b`, 'm'), `--help does not list ${cmd}`);
  }
  assert.match(r.stdout, /Modes: embedded .* PostgreSQL server/s);
  assert.match(r.stdout, /Apache\s+Kafka \(--kafka HOST:PORT: import, produce, run, demo\)/);
});

test('run --kafka names an unreachable broker and exits 1 before anything starts', () => {
  // Port 9 (discard) on loopback: nothing listens there.
  const r = flowmark(['run', '--kafka', '127.0.0.1:9', '--drain', '--data-dir', `/tmp/fm-main-test-${process.pid}`]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^flowmark run: .*127\.0\.0\.1:9/m);
});

test('each command documents its flags in its --help', () => {
  const flags: Record<string, string[]> = {
    demo: ['--data-dir', '--port', '--rate'],
    generate: ['--out', '--users', '--products', '--events', '--seed'],
    replay: ['--events', '--clicks', '--checkouts', '--users', '--products', '--out', '--dead-letter', '--model'],
    import: ['--data-dir', '--database-url', '--users', '--products', '--events', '--clicks', '--checkouts'],
    run: ['--data-dir', '--database-url', '--drain', '--kafka', '--group', '--port', '--config', '--lookback'],
    config: ['--config', '--data-dir', '--database-url', '--model', '--users-table', '--checkpoint-interval'],
    import_: ['--kafka', '--partitions'],
    produce: [
      '--kafka',
      '--partitions',
      '--rate',
      '--users',
      '--products',
      '--seed',
      '--events',
      '--duration',
      '--database-url',
    ],
  };
  for (const [cmd, expected] of Object.entries(flags)) {
    const r = flowmark([cmd.replace(/_$/, ''), '--help']);
    assert.equal(r.status, 0, r.stderr);
    for (const flag of expected) assert.ok(r.stdout.includes(flag), `flowmark ${cmd} --help lacks ${flag}`);
  }
  const replay = flowmark(['replay', '--help']).stdout;
  for (const flag of ['--scope', '--lookback', '--max-out-of-orderness']) assert.ok(replay.includes(flag), flag);
  // The configuration flags show their default in the text: commander sets none (precedence).
  const run = flowmark(['run', '--help']).stdout;
  assert.match(run, /Configuration \(flag > FLOWMARK_\* variable > --config file > default\):/);
  assert.match(run, /--lookback <duration> +how far before a checkout a click may be\s+\(default: 1h\)/);
});

test('bad flags are refused before anything runs: an unknown model, an unknown option', () => {
  const model = flowmark(['replay', '--model', 'u_shaped']);
  assert.equal(model.status, 1);
  assert.match(model.stderr, /argument 'u_shaped' is invalid/);
  for (const m of ATTRIBUTION_MODELS) assert.ok(model.stderr.includes(m), `the error should list ${m}`);
  const unknown = flowmark(['run', '--no-such-flag']);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /unknown option '--no-such-flag'/);
});

test('flowmark version and --version print the version of package.json', () => {
  const r = flowmark(['version']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `flowmark ${VERSION} (Node ${process.version})\n`);
  assert.equal(flowmark(['--version']).stdout, `${VERSION}\n`);
});

test('on a Node older than 22.18 the command says what it needs and how to get it', () => {
  // Pretend to be an older Node: the shim must refuse before it loads any TypeScript.
  for (const old of ['20.19.0', '22.17.1', '23.5.0']) {
    const fake = `data:text/javascript,Object.defineProperty(process,"versions",{value:{...process.versions,node:"${old}"}})`;
    // No Node in the cache to re-run under (test/support/node-bootstrap.test.ts covers that case).
    const r = flowmark(['version'], ['--import', fake], {
      ...process.env,
      FLOWMARK_NODE_CACHE: '/nonexistent/flowmark-node',
    });
    assert.equal(r.status, 1, `Node ${old}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`flowmark needs Node.js >= 22.18 .*this is Node ${old.replaceAll('.', '\\.')}`));
    assert.match(r.stderr, /npm install --prefix "\$HOME\/.cache\/flowmark-node" node@24/);
    assert.equal(r.stdout, '');
  }
});
