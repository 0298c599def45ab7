/**
 * Issue 12: ordinary mistakes in the paths given to `flowmark` are one clear line and a non-zero
 * exit code, never a stack trace, a hang, or a destroyed input. Each case runs the real command
 * (bin/flowmark.js) as a child process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AtomicOutputs, makeDirectory } from '../../src/cli/cli-paths.ts';
import { CONFIG_FILE_ENV, CONFIG_KEYS, envName } from '../../src/cli/config/index.ts';
import { writeDataSet } from '../support/data-set.ts';
import { isCi } from '../support/services.ts';

const BIN = fileURLToPath(new URL('../../bin/flowmark.js', import.meta.url));

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of CONFIG_KEYS) delete env[envName(key.path)];
  delete env[CONFIG_FILE_ENV];
  return env;
}

/** Runs `node bin/flowmark.js …args` in `cwd`. */
function flowmark(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    env: cleanEnv(),
    encoding: 'utf8',
    timeout: 90_000,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-paths-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One line on stderr, exit code 1, nothing on stdout: what every mistake below must give. */
function assertOneLine(r: ReturnType<typeof flowmark>, pattern: RegExp): void {
  assert.equal(r.signal, null, `killed by ${r.signal} (it hung): ${r.stderr}`);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.split('\n').length, 2, `more than one line:\n${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
}

const replay = (out: string[], events = 'events.jsonl') => [
  'replay',
  '--events',
  events,
  '--users',
  'users.csv',
  '--products',
  'products.csv',
  ...out,
];

test('replay --out into a missing directory, --events naming a directory: one line each', (t) => {
  const dir = tempDir(t);
  writeDataSet(dir, 200, 1);
  assertOneLine(
    flowmark(dir, replay(['--out', 'missing/out.jsonl'])),
    /^flowmark replay: --out missing\/out\.jsonl: the directory missing does not exist \(create it first\)\n$/,
  );
  mkdirSync(join(dir, 'data'));
  assertOneLine(
    flowmark(dir, replay(['--out', 'out.jsonl'], 'data')),
    /^flowmark replay: --events data: is a directory; give a file\n$/,
  );
  assertOneLine(
    flowmark(dir, replay(['--out', 'data'])),
    /^flowmark replay: --out data: is a directory; give the path of a file to write\n$/,
  );
  assert.deepEqual(readdirSync(join(dir, 'data')), []);
});

test('replay refuses an output that is an input, by name, symbolic link or hard link, and leaves it whole', (t) => {
  const dir = tempDir(t);
  writeDataSet(dir, 200, 2);
  const events = readFileSync(join(dir, 'events.jsonl'), 'utf8');
  const users = readFileSync(join(dir, 'users.csv'), 'utf8');
  symlinkSync('events.jsonl', join(dir, 'link.jsonl'));
  linkSync(join(dir, 'events.jsonl'), join(dir, 'hard.jsonl'));
  const cases: Array<[string[], RegExp]> = [
    [['--out', 'events.jsonl'], /--out events\.jsonl is the input --events events\.jsonl: writing it would destroy/],
    [['--out', 'link.jsonl'], /--out link\.jsonl is the input --events events\.jsonl \(the same file\)/],
    [['--out', 'hard.jsonl'], /--out hard\.jsonl is the input --events events\.jsonl \(the same file\)/],
    [['--out', `./${'events.jsonl'}`], /--out \.\/events\.jsonl is the input --events events\.jsonl/],
    [['--out', 'out.jsonl', '--dead-letter', 'users.csv'], /--dead-letter users\.csv is the input --users users\.csv/],
    [['--out', 'out.jsonl', '--credits', 'products.csv'], /--credits products\.csv is the input --products/],
    [
      ['--out', 'out.jsonl', '--analytics', 'out.jsonl'],
      /--analytics out\.jsonl and --out out\.jsonl are the same file/,
    ],
  ];
  for (const [out, pattern] of cases) {
    assertOneLine(flowmark(dir, replay(out)), pattern);
    assert.equal(readFileSync(join(dir, 'events.jsonl'), 'utf8'), events, `${out.join(' ')} changed the events`);
    assert.equal(readFileSync(join(dir, 'users.csv'), 'utf8'), users, `${out.join(' ')} changed the users`);
  }
  assert.ok(!existsSync(join(dir, 'out.jsonl')), 'a refused replay wrote an output');
});

test('replay writes through a temporary file: the outputs appear whole at the end, and nothing else is left', (t) => {
  const dir = tempDir(t);
  writeDataSet(dir, 500, 3);
  writeFileSync(join(dir, 'out.jsonl'), 'the old output\n');
  symlinkSync('out.jsonl', join(dir, 'via-link.jsonl'));
  const r = flowmark(dir, replay(['--out', 'via-link.jsonl', '--dead-letter', 'dead.jsonl']));
  assert.equal(r.status, 0, r.stderr);
  // Written through the link into its target, as before; the link stays a link.
  assert.match(readFileSync(join(dir, 'out.jsonl'), 'utf8'), /^\{"checkout_id"/);
  assert.equal(readFileSync(join(dir, 'via-link.jsonl'), 'utf8'), readFileSync(join(dir, 'out.jsonl'), 'utf8'));
  assert.ok(readFileSync(join(dir, 'dead.jsonl'), 'utf8').length > 0);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
    'a temporary file was left behind',
  );
});

test('AtomicOutputs: discard leaves the old files as they were; commit replaces them', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'out.jsonl');
  writeFileSync(path, 'old\n');
  const failed = AtomicOutputs.create({ out: path });
  writeFileSync(failed.temporary.out, 'half a fil');
  failed.discard();
  assert.equal(readFileSync(path, 'utf8'), 'old\n');
  assert.deepEqual(readdirSync(dir), ['out.jsonl']);
  const ok = AtomicOutputs.create({ out: path });
  writeFileSync(ok.temporary.out, 'new\n');
  ok.commit();
  assert.equal(readFileSync(path, 'utf8'), 'new\n');
  assert.deepEqual(readdirSync(dir), ['out.jsonl']);
});

test('run over a data dir that holds no log says so, creates nothing and exits 1', (t) => {
  const dir = tempDir(t);
  assertOneLine(
    flowmark(dir, ['run', '--drain', '--data-dir', 'typo']),
    /^flowmark run: data dir typo: no such directory, so no log to run over\. Check the path .*flowmark import --data-dir typo --events FILE\n$/,
  );
  assert.ok(!existsSync(join(dir, 'typo')), 'run created the mistyped data dir');
  mkdirSync(join(dir, 'empty'));
  assertOneLine(
    flowmark(dir, ['run', '--drain', '--data-dir', 'empty']),
    /^flowmark run: data dir empty: there is no log here \(no empty\/log\)\. Check the path, or import events first/,
  );
  assert.deepEqual(readdirSync(join(dir, 'empty')), []);
});

test('--data-dir naming a file: run, import and demo say so in one line', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'users.csv'), 'user_id,user_name\n1,Ann\n');
  writeFileSync(join(dir, 'a-file'), 'not a directory\n');
  for (const args of [
    ['run', '--drain'],
    ['import', '--users', 'users.csv'],
    ['demo', '--port', '0'],
  ]) {
    assertOneLine(
      flowmark(dir, [...args, '--data-dir', 'a-file']),
      new RegExp(`^flowmark ${args[0]}: data dir a-file: is a file, not a directory\\n$`),
    );
  }
  assertOneLine(
    flowmark(dir, ['import', '--users', 'users.csv', '--data-dir', 'a-file/sub']),
    /^flowmark import: data dir a-file\/sub: .*a-file is a file, not a directory\n$/,
  );
});

/**
 * Makes `dir` a directory this process cannot write into: by its mode for a user, and for root
 * (which writes anywhere, whatever the mode) by mounting a read-only file system on it. Returns
 * the error code the commands will meet, or undefined when that cannot be done here.
 */
function lockDirectory(dir: string): { code: 'EACCES' | 'EROFS'; unlock: () => void } | undefined {
  if (process.getuid?.() !== 0) {
    chmodSync(dir, 0o555);
    return { code: 'EACCES', unlock: () => chmodSync(dir, 0o755) };
  }
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir], { encoding: 'utf8' });
  if (mount.status !== 0) return undefined;
  return { code: 'EROFS', unlock: () => spawnSync('umount', [dir]) };
}

test('--data-dir naming a directory this user cannot write: one line, exit 1', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-paths-'));
  writeFileSync(join(dir, 'users.csv'), 'user_id,user_name\n1,Ann\n');
  const locked = join(dir, 'locked');
  mkdirSync(locked);
  const lock = lockDirectory(locked);
  t.after(() => {
    lock?.unlock();
    rmSync(dir, { recursive: true, force: true });
  });
  if (lock === undefined) {
    const why = 'running as root, and mount -t tmpfs -o ro is not permitted here: no directory root cannot write';
    if (isCi()) assert.fail(`${why} (CI is set, so this is a failure)`);
    console.warn(`\n!!! SKIPPED "${t.name}": ${why}\n`);
    return t.skip(why);
  }
  const why =
    lock.code === 'EACCES'
      ? 'EACCES: permission denied; choose another directory or fix its permissions'
      : 'EROFS: a read-only file system; choose another directory';
  for (const args of [
    ['run', '--drain', '--data-dir', 'locked'],
    ['import', '--users', 'users.csv', '--data-dir', 'locked'],
    ['import', '--users', 'users.csv', '--data-dir', 'locked/new'],
  ]) {
    const r = flowmark(dir, args);
    assertOneLine(r, new RegExp(`^flowmark ${args[0]}: data dir locked(/new)?: `));
    assert.ok(r.stderr.includes(`(${why})`), r.stderr);
  }
});

test('generate --out under /proc (where mkdir -p spins forever) fails at once with one line', (t) => {
  if (!existsSync('/proc/self')) return t.skip('no /proc on this system');
  const dir = tempDir(t);
  const r = flowmark(dir, ['generate', '--out', '/proc/flowmark-x/data', '--events', '10']);
  assertOneLine(r, /^flowmark generate: --out \/proc\/flowmark-x\/data: cannot create \/proc\/flowmark-x \(ENOENT/);
  // The same walk, in process: a plain error, no hang.
  assert.throws(() => makeDirectory({ flag: '--out', path: '/proc/flowmark-x/y' }), /cannot create \/proc\/flowmark-x/);
});
