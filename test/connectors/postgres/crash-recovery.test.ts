/**
 * §3.7 on a PostgreSQL server, through the real command: `flowmark run` over the embedded log is
 * killed with SIGKILL at random moments — chosen by the log offset its checkpoints have reached,
 * not by sleeping — many times, then finished with `--drain`. The tables must equal those of an
 * uninterrupted run: every checkout exactly once, every dead letter exactly once, every row final.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeDataSet } from '../../support/data-set.ts';
import { uniqueSchema } from '../sql/sql-fixtures.ts';
import { sharedServerClient, withServer } from './pg-fixtures.ts';
import { committedRecords, jobEnv, resultTables, runFlowmark, startFlowmark } from './pg-job-fixtures.ts';

const EVENTS = 20_000;
const KILLS = Number(process.env.FLOWMARK_KILL_ROUNDS ?? 8);

/** Sorted random integers in [lo, hi). */
function randomTargets(n: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, () => lo + Math.floor(Math.random() * (hi - lo))).sort((a, b) => a - b);
}

withServer('crash recovery into PostgreSQL', (url) => {
  const db = sharedServerClient(url);

  test('§3.7 SIGKILL at random log offsets, then --drain: the tables equal an uninterrupted run', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'flowmark-pg-crash-'));
    const schemas = { reference: uniqueSchema('fm_ref'), crashed: uniqueSchema('fm_crash') };
    t.after(async () => {
      rmSync(dir, { recursive: true, force: true });
      for (const s of Object.values(schemas)) await db.exec(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    });
    writeDataSet(dir, EVENTS, 11);
    const files = ['--users', join(dir, 'users.csv'), '--products', join(dir, 'products.csv')];
    const events = ['--events', join(dir, 'events.jsonl')];
    const data = { reference: join(dir, 'reference'), crashed: join(dir, 'crashed') };
    for (const k of ['reference', 'crashed'] as const) {
      await runFlowmark(['import', '--data-dir', data[k], ...files, ...events], jobEnv(url, schemas[k]));
    }

    await runFlowmark(['run', '--data-dir', data.reference, '--drain'], jobEnv(url, schemas.reference));
    const total = await committedRecords(db, schemas.reference);
    assert.ok(total > EVENTS * 0.9, `the reference run consumed ${total} records`);

    const env = jobEnv(url, schemas.crashed);
    const kills: string[] = [];
    for (const target of randomTargets(KILLS, 1, total)) {
      const run = startFlowmark(['run', '--data-dir', data.crashed], env);
      let reached = 0;
      for (;;) {
        const ended = await Promise.race([
          run.exited,
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 5)),
        ]);
        if (ended !== undefined) assert.fail(`run exited on its own (${ended.code ?? ended.signal}):\n${run.output()}`);
        reached = await committedRecords(db, schemas.crashed);
        if (reached >= target) break;
      }
      run.child.kill('SIGKILL');
      const { signal } = await run.exited;
      assert.equal(signal, 'SIGKILL');
      kills.push(`${target}→${reached}`);
    }
    t.diagnostic(`killed at (target→committed records): ${kills.join(', ')} of ${total}`);

    await runFlowmark(['run', '--data-dir', data.crashed, '--drain'], env);
    assert.equal(await committedRecords(db, schemas.crashed), total, 'every record consumed');

    const expected = await resultTables(db, schemas.reference);
    const actual = await resultTables(db, schemas.crashed);
    assert.ok((expected.attributed_checkouts?.length ?? 0) > 100, 'the data set has checkouts');
    assert.ok((expected.dead_letters?.length ?? 0) > 10, 'the data set has dead letters');
    for (const table of Object.keys(expected)) {
      assert.deepEqual(actual[table], expected[table], `${table} differs from the uninterrupted run`);
    }
    const { rows } = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM "${schemas.crashed}".attributed_checkouts WHERE NOT is_final`,
    );
    assert.equal(rows[0]?.n, '0', 'every row is final');
  });
});
