/**
 * `flowmark demo` as a user runs it: a child process, stopped with Ctrl-C (SIGINT) once its status
 * line shows attributed rows — chosen by what it reports, not by sleeping — then started again:
 * it resumes from its checkpoint (a new epoch) and both runs exit 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openEmbedded } from '../../src/cli/modes/embedded.ts';

const BIN = new URL('../../bin/flowmark.js', import.meta.url).pathname;

/** Runs the demo until a status line reports `rows` final rows, then sends SIGINT. */
function demoUntil(dataDir: string, rows: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'demo', '--data-dir', dataDir, '--rate', '2000', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let stopped = false;
    const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const m = [...output.matchAll(/(\d+) final rows/g)].at(-1);
      if (!stopped && m !== undefined && Number(m[1]) >= rows) {
        stopped = true;
        child.kill('SIGINT');
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, output });
    });
  });
}

test('the demo attributes live traffic, stops cleanly on Ctrl-C and continues when run again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-demo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = await demoUntil(dir, 10);
  assert.equal(first.code, 0, first.output);
  assert.match(first.output, /dashboard: http:\/\/127\.0\.0\.1:\d+\//);
  assert.match(first.output, /demo: stopped cleanly/);

  const before = await openEmbedded(dir);
  const rowsBefore =
    (await before.db.query<{ n: number }>('SELECT count(*)::int AS n FROM flowmark.attributed_checkouts')).rows[0]?.n ??
    0;
  const cp1 = (
    await before.db.query<{ checkpoint_id: number; epoch: number }>(
      'SELECT checkpoint_id::int, epoch::int FROM flowmark.checkpoints',
    )
  ).rows[0];
  await before.close();
  assert.ok(rowsBefore > 0, 'rows were committed');

  const second = await demoUntil(dir, 5);
  assert.equal(second.code, 0, second.output);
  const after = await openEmbedded(dir);
  try {
    const cp2 = (
      await after.db.query<{ checkpoint_id: number; epoch: number }>(
        'SELECT checkpoint_id::int, epoch::int FROM flowmark.checkpoints',
      )
    ).rows[0];
    assert.ok(
      (cp2?.checkpoint_id ?? 0) > (cp1?.checkpoint_id ?? 0),
      'the second run continued the checkpoint sequence',
    );
    assert.ok((cp2?.epoch ?? 0) > (cp1?.epoch ?? 0), 'as a new epoch (the first run is fenced out)');
    const n =
      (await after.db.query<{ n: number }>('SELECT count(*)::int AS n FROM flowmark.attributed_checkouts')).rows[0]
        ?.n ?? 0;
    assert.ok(n >= rowsBefore, 'nothing committed was lost');
  } finally {
    await after.close();
  }
});
