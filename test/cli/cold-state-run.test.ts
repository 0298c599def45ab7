/**
 * The time-bucketed state beyond its memory budget, end to end in the embedded mode: a run whose
 * budget is 0 (every sealed bucket of the clicks and the de-duplication sets goes to segment files
 * in the data dir's state/) writes exactly the rows of an all-in-memory run of the same data —
 * also when it was killed with SIGKILL while its segments were on disk and then restarted, with
 * the local store left as the kill left it (what matches the checkpoint reused, the rest rebuilt
 * from the chunks, saying so) or deleted.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runImport } from '../../src/cli/commands/import.ts';
import { runRun } from '../../src/cli/commands/run.ts';
import { CONFIG_FILE_ENV, CONFIG_KEYS, envName } from '../../src/cli/config/index.ts';
import { openEmbedded } from '../../src/cli/modes/embedded.ts';
import { writeDataSet } from '../support/data-set.ts';

const BIN = fileURLToPath(new URL('../../bin/flowmark.js', import.meta.url));
// The generated data spans about 3 minutes: a 1 min lookback makes buckets of 7.5 s, several sealed ones alive at a time.
const attribution = { model: 'first_click', scope: 'product', lookback: '1m', maxOutOfOrderness: '15s' };

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of CONFIG_KEYS) delete env[envName(key.path)];
  delete env[CONFIG_FILE_ENV];
  return env;
}

function segmentFiles(dir: string, suffix = '.sqlite'): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(suffix));
}

async function outputRows(dataDir: string): Promise<unknown[]> {
  const stores = await openEmbedded(dataDir);
  try {
    const { rows } = await stores.db.query(
      `SELECT checkout_id, click_id, click_source, click_time, order_value::float8 AS order_value, is_final
         FROM flowmark.attributed_checkouts ORDER BY checkout_id`,
    );
    const dead = await stores.db.query(
      'SELECT reason, count(*)::int AS n FROM flowmark.dead_letters GROUP BY reason ORDER BY reason',
    );
    return [rows, dead.rows];
  } finally {
    await stores.close();
  }
}

/** Runs `flowmark run` (live) with a budget of 0 until its state dir holds segments, then SIGKILLs it. */
async function runUntilSegmentsThenKill(t: TestContext, dataDir: string): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'run',
      '--data-dir',
      dataDir,
      '--state-memory-budget',
      '0',
      '--port',
      '0',
      '--checkpoint-interval',
      '100ms',
      '--lookback',
      attribution.lookback,
    ],
    { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const stateDir = join(dataDir, 'state');
  // Some clicks' segments complete with their manifests: a restart has something to reuse.
  const clickManifests = () => segmentFiles(stateDir, '.json').filter((f) => f.includes('clicks'));
  const deadline = Date.now() + 60_000;
  while (!done && clickManifests().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(clickManifests().length >= 3, `no click segments appeared:\n${stderr}`);
  assert.equal(done, false, `run exited before any bucket went to disk:\n${stderr}`);
  child.kill('SIGKILL');
  await exited;
  assert.ok(segmentFiles(stateDir).length > 0, 'the kill left segment files behind');
}

test('a run with a memory budget of 0 writes the rows of an all-in-memory run, also after SIGKILL with the local store kept or deleted', {
  timeout: 600_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-cold-run-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeDataSet(dir, 20_000, 11);
  const files = { users: join(dir, 'users.csv'), products: join(dir, 'products.csv') };
  const dataDirs = {
    memory: join(dir, 'memory'),
    cold: join(dir, 'cold'),
    kept: join(dir, 'kept'),
    deleted: join(dir, 'deleted'),
  };
  for (const d of Object.values(dataDirs)) await runImport({ dataDir: d, events: join(dir, 'events.jsonl'), ...files });

  await runRun({ dataDir: dataDirs.memory, drain: true, ...attribution });
  const want = await outputRows(dataDirs.memory);
  assert.ok((want[0] as unknown[]).length > 100);

  // Straight through, nearly every bucket on disk.
  // Checkpoints every 20 ms: buckets go to disk only once a chunk holds them.
  await runRun({
    dataDir: dataDirs.cold,
    drain: true,
    stateMemoryBudget: '0',
    checkpointInterval: '20ms',
    ...attribution,
  });
  assert.equal(
    segmentFiles(join(dataDirs.cold, 'state')).length,
    0,
    'every segment expired at the end of the drain, as files',
  );
  assert.deepEqual(await outputRows(dataDirs.cold), want, 'budget 0, one run');

  // Killed while segments were on disk; restarted with the local store as the kill left it.
  await runUntilSegmentsThenKill(t, dataDirs.kept);
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    lines.push(String(chunk));
    return write(chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    await runRun({ dataDir: dataDirs.kept, drain: true, stateMemoryBudget: '0', ...attribution });
  } finally {
    process.stderr.write = write;
  }
  assert.ok(
    lines.some((l) =>
      /flowmark: state \S+: (reusing \d+ on-disk segment|\d+ on-disk segment\(s\) .* rebuilt from its chunks)/.test(l),
    ),
    `a line says what of the local store is reused or rebuilt:\n${lines.join('')}`,
  );
  assert.deepEqual(await outputRows(dataDirs.kept), want, 'after SIGKILL, local store kept');

  // Killed, then the local store deleted before the restart.
  await runUntilSegmentsThenKill(t, dataDirs.deleted);
  rmSync(join(dataDirs.deleted, 'state'), { recursive: true, force: true });
  await runRun({ dataDir: dataDirs.deleted, drain: true, stateMemoryBudget: '0', ...attribution });
  assert.deepEqual(await outputRows(dataDirs.deleted), want, 'after SIGKILL, local store deleted');
});
