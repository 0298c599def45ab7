/**
 * describeFailure: what the CLI prints for a failed command (issue 12). The full-disk cases are
 * in full-disk.test.ts, on a real full file system.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { describeFailure, diskFullMessage } from '../../src/cli/error-messages.ts';
import { FlowmarkError } from '../../src/engine/index.ts';

test('a file system mistake is one line naming the path, without a stack', () => {
  const withPath = Object.assign(new Error("ENOTDIR: not a directory, mkdir 'a-file/log'"), {
    code: 'ENOTDIR',
    syscall: 'mkdir',
    path: 'a-file/log',
  });
  assert.deepEqual(describeFailure(withPath), {
    message: 'a-file/log: a part of this path is a file, not a directory (mkdir, ENOTDIR)',
  });
  // Reading a directory as a file: Node gives no path.
  const noPath = Object.assign(new Error('EISDIR: illegal operation on a directory, read'), {
    code: 'EISDIR',
    syscall: 'read',
  });
  assert.deepEqual(describeFailure(noPath), {
    message:
      'a path given is a directory, not a file (read, EISDIR): check the file and directory flags of the command',
  });
});

test("a connector's message built from a plain object says what the object was", () => {
  const err = new FlowmarkError(
    'FM_PG_UNAVAILABLE',
    'opening the embedded database in d/pglite failed: [object Object]',
    {
      cause: { name: 'ErrnoError', errno: 2 },
    },
  );
  assert.equal(describeFailure(err).message, 'opening the embedded database in d/pglite failed: ErrnoError errno 2');
});

test('a configuration mistake is never taken for a full disk; a bug keeps its stack', () => {
  const config = new FlowmarkError('FM_CONFIG_INVALID', '--out x: the directory y does not exist');
  // Even when the disk written to is full: the user's mistake is what to fix first.
  assert.equal(describeFailure(config, { writesTo: ['/proc/self'] }).message, config.message);
  const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
  const failure = describeFailure(bug);
  assert.equal(failure.message, "unexpected error: Cannot read properties of undefined (reading 'x')");
  assert.match(failure.stack ?? '', /TypeError/);
});

test('the full-disk message names the disk and the bytes free', () => {
  assert.equal(
    diskFullMessage('.flowmark', 1_234_567),
    'the disk holding .flowmark is full (1 234 567 bytes free); free space and run the same command again — nothing was lost',
  );
});

test('--events naming a directory in import is one line (the generic mapping), exit 1', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-errors-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'events'));
  const bin = fileURLToPath(new URL('../../bin/flowmark.js', import.meta.url));
  const r = spawnSync(process.execPath, [bin, 'import', '--data-dir', 'data', '--events', 'events'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 90_000,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.split('\n').length, 2, r.stderr);
  assert.match(r.stderr, /^flowmark import: .*is a directory, not a file .*EISDIR/);
});
