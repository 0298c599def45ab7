/**
 * §3.7 on a PostgreSQL server, through the real command: `flowmark run` over the embedded log is
 * killed with SIGKILL at random moments — each chosen ahead of the position its checkpoints have
 * committed when the round starts, not by sleeping — many times, then finished with `--drain`.
 * The tables must equal those of an uninterrupted run: every checkout exactly once, every dead
 * letter exactly once, every row final.
 *
 * The runs use a multi-touch model, so that `attribution_credits` has rows to compare, and no
 * look-up cache, so that every checkout waits in the look-up joins for a real query: a checkpoint
 * cut while look-ups are in flight would lose those records at the next kill (look-up work is
 * drained before every checkpoint, docs/semantics.md).
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
/** The same options for every run, the reference included. */
const OPTIONS = { FLOWMARK_ATTRIBUTION_MODEL: 'linear', FLOWMARK_DIMENSIONS_CACHE_ENTRIES: '0' };

/**
 * The committed position at which to kill the next run: past `from` (what is committed now), so
 * that the run restores and commits progress of its own before it dies, and short of `total` by
 * enough that the rounds left can do the same.
 */
function nextTarget(from: number, total: number, roundsLeft: number): number {
  const span = Math.max(1, Math.floor((total - from) / (roundsLeft + 1)));
  return from + 1 + Math.floor(Math.random() * span);
}

withServer('crash recovery into PostgreSQL', (url) => {
  const db = sharedServerClient(url);

  /** Credit rows whose checkout has no final row: a credit is written with the final result only. */
  const creditsOfUnfinished = async (schema: string): Promise<number> => {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${schema}".attribution_credits c
       LEFT JOIN "${schema}".attributed_checkouts a USING (checkout_id) WHERE a.is_final IS NOT TRUE`,
    );
    return rows[0]?.n ?? 0;
  };

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

    await runFlowmark(['run', '--data-dir', data.reference, '--drain'], jobEnv(url, schemas.reference, OPTIONS));
    const total = await committedRecords(db, schemas.reference);
    assert.ok(total > EVENTS * 0.9, `the reference run consumed ${total} records`);

    const env = jobEnv(url, schemas.crashed, OPTIONS);
    const kills: string[] = [];
    let provisional = 0;
    for (let round = 0; round < KILLS; round++) {
      const from = await committedRecords(db, schemas.crashed);
      // A run that overshot to the end of the input leaves nothing to recover: no more rounds.
      if (from >= total) break;
      const target = nextTarget(from, total, KILLS - round);
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
      kills.push(`${from}→${target}→${reached}`);
      // Live runs write provisional rows; their credits wait for the final result.
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${schemas.crashed}".attributed_checkouts WHERE NOT is_final`,
      );
      provisional += rows[0]?.n ?? 0;
      assert.equal(
        await creditsOfUnfinished(schemas.crashed),
        0,
        `credits of provisional rows after kill ${round + 1}`,
      );
    }
    t.diagnostic(`killed at (committed at start→target→committed at the kill): ${kills.join(', ')} of ${total}`);
    assert.ok(provisional > 0, 'the killed runs had committed provisional rows');

    await runFlowmark(['run', '--data-dir', data.crashed, '--drain'], env);
    assert.equal(await committedRecords(db, schemas.crashed), total, 'every record consumed');

    const expected = await resultTables(db, schemas.reference);
    const actual = await resultTables(db, schemas.crashed);
    assert.ok((expected.attributed_checkouts?.length ?? 0) > 100, 'the data set has checkouts');
    assert.ok((expected.dead_letters?.length ?? 0) > 10, 'the data set has dead letters');
    const { rows: multi } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT checkout_id FROM "${schemas.reference}".attribution_credits
       GROUP BY checkout_id HAVING count(*) > 1) m`,
    );
    assert.ok((multi[0]?.n ?? 0) > 10, `the data set has checkouts credited to several clicks (${multi[0]?.n})`);
    for (const table of Object.keys(expected)) {
      assert.deepEqual(actual[table], expected[table], `${table} differs from the uninterrupted run`);
    }
    const { rows } = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM "${schemas.crashed}".attributed_checkouts WHERE NOT is_final`,
    );
    assert.equal(rows[0]?.n, '0', 'every row is final');
  });
});
