/**
 * §3.7 for the embedded database: a process committing checkpoints into PGlite on disk is killed
 * with SIGKILL at random moments (often in the middle of a commit); every reopen must find the
 * last committed checkpoint complete and nothing of the one in flight: rows, state and offsets
 * agree.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { outputMigrations } from '../../../src/attribution/output-schema.ts';
import { openPgliteDatabase } from '../../../src/connectors/pglite/pglite-database.ts';
import { SqlCommitter } from '../../../src/connectors/sql/sql-committer.ts';
import { collect } from '../sql/committer-contract.ts';
import { SINKS } from '../sql/sql-fixtures.ts';

const LOOP = new URL('./fixtures/commit-loop.ts', import.meta.url).pathname;
const ROWS = { deadLetters: 500, checkouts: 200, state: 200 };

/** Runs the commit loop until it has committed `atLeast`, then kills it after `delayMs`. */
function runAndKill(dataDir: string, atLeast: number, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOOP, dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let last = 0;
    let scheduled = false;
    let stderr = '';
    let out = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.stdout.on('data', (d) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop() as string;
      for (const line of lines) last = Number(line.replace('committed ', ''));
      if (last >= atLeast && !scheduled) {
        scheduled = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(last);
      else reject(new Error(`commit loop exited with ${code}: ${stderr}`));
    });
  });
}

test('§3.7 kill -9 at random moments: PGlite on disk always holds exactly the last committed checkpoint', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flowmark-pglite-kill-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  let committed = 0;
  for (let round = 1; round <= Number(process.env.FLOWMARK_KILL_ROUNDS ?? 3); round++) {
    const printed = await runAndKill(dataDir, committed + 2, Math.floor(Math.random() * 250));
    const db = await openPgliteDatabase(dataDir, { migrations: outputMigrations('flowmark') });
    try {
      const point = await new SqlCommitter(db, { job: 'kill', sinks: SINKS }).load();
      const id = point?.checkpointId ?? 0;
      assert.ok(id >= printed, `checkpoint ${printed} was acknowledged, the database holds ${id}`);
      assert.ok(id <= printed + 3, `restored ${id}, far past the acknowledged ${printed}`);
      assert.deepEqual(point?.meta.sources, { src: { offsets: { '0': id }, maxEventTimeMs: { '0': id } } });
      const values = new Set((await collect(point?.entries ?? [])).map((e) => e.value));
      assert.deepEqual([...values], [id], 'every state entry is of the last checkpoint');
      const { rows } = await db.query<{
        n: string;
        distinct_raw: string;
        min_q: number;
        max_q: number;
        checkouts: string;
      }>(
        `SELECT (SELECT count(*) FROM flowmark.dead_letters WHERE source = 'kill')::text AS n,
                (SELECT count(DISTINCT raw) FROM flowmark.dead_letters WHERE source = 'kill')::text AS distinct_raw,
                (SELECT count(*) FROM flowmark.attributed_checkouts)::text AS checkouts,
                (SELECT min(quantity) FROM flowmark.attributed_checkouts) AS min_q,
                (SELECT max(quantity) FROM flowmark.attributed_checkouts) AS max_q`,
      );
      const r = rows[0];
      assert.equal(Number(r?.n), id * ROWS.deadLetters, 'dead letters: each checkpoint exactly once');
      assert.equal(Number(r?.distinct_raw), id * ROWS.deadLetters);
      assert.equal(Number(r?.checkouts), ROWS.checkouts);
      assert.deepEqual([r?.min_q, r?.max_q], [id, id], 'upserted rows are those of the last checkpoint');
      t.diagnostic(`round ${round}: acknowledged ${printed}, restored ${id}`);
      committed = id;
    } finally {
      await db.close();
    }
  }
});
