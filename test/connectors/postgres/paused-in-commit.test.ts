/**
 * Fencing (§3.7, docs/operations.md) when an instance is paused *inside* a checkpoint commit: its
 * transaction holds the lock on the job's checkpoint row, on which the instance taking the job
 * over must take the next epoch. The server ends a session idle in a transaction after
 * IDLE_IN_TRANSACTION_TIMEOUT_MS (set by flowmark on its connections), so the new instance waits
 * that long at most, finishes the job, and the paused one is fenced out when it wakes up.
 *
 * The pause is real: the process is stopped with SIGSTOP at a random moment, and the server's own
 * view (pg_stat_activity, pg_locks) tells whether that moment fell inside a commit; if not, the
 * process is let go on and stopped again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { IDLE_IN_TRANSACTION_TIMEOUT_MS } from '../../../src/connectors/postgres/postgres-database.ts';
import { writeDataSet } from '../../support/data-set.ts';
import { uniqueSchema } from '../sql/sql-fixtures.ts';
import { sharedServerClient, withServer } from './pg-fixtures.ts';
import { committedRecords, jobEnv, resultTables, runFlowmark, startFlowmark } from './pg-job-fixtures.ts';

/** Attempts at catching the process inside a commit before the test gives up. */
const ATTEMPTS = 500;

withServer('an instance paused inside a commit', (url) => {
  const db = sharedServerClient(url);

  /** flowmark's sessions that work in `schema` (their last statement names it), by state. */
  const sessions = async (schema: string) => {
    const { rows } = await db.query<{
      pid: number;
      state: string;
      wrote: boolean;
      holds_checkpoints: boolean;
      waits_for_lock: boolean;
    }>(
      `SELECT a.pid, a.state, a.backend_xid IS NOT NULL AS wrote, a.wait_event_type = 'Lock' AS waits_for_lock,
              EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted
                      AND l.relation = to_regclass($2) AND l.mode = 'RowExclusiveLock') AS holds_checkpoints
       FROM pg_stat_activity a
       WHERE a.application_name = 'flowmark' AND a.datname = current_database() AND position($1 IN a.query) > 0`,
      [schema, `"${schema}".checkpoints`],
    );
    return rows;
  };

  test(`§3.7 SIGSTOP inside a commit: the next instance waits at most ${IDLE_IN_TRANSACTION_TIMEOUT_MS / 1000} s for its lock, then takes over; the paused one is fenced`, {
    timeout: 300_000,
  }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'flowmark-pg-paused-'));
    const schemas = {
      reference: uniqueSchema('fm_ref'),
      job: uniqueSchema('fm_paused'),
      scratch: uniqueSchema('fm_scr'),
    };
    const children: ReturnType<typeof startFlowmark>[] = [];
    t.after(async () => {
      // The processes first: a paused one's open transaction would hold up DROP SCHEMA.
      for (const c of children) {
        c.child.kill('SIGKILL');
        await c.exited;
      }
      rmSync(dir, { recursive: true, force: true });
      for (const s of Object.values(schemas)) await db.exec(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    });
    // Large enough that the old instance is still reading its backlog while the test tries to
    // stop it inside a commit (checkpoints 250 ms apart, each a few tens of ms): once it has read
    // everything, an idle job commits only a heartbeat every 2 s (group commit, issue 16), and
    // a stop at a random moment seldom falls inside one.
    writeDataSet(dir, 200_000, 31);
    const input = [
      ...['--users', join(dir, 'users.csv'), '--products', join(dir, 'products.csv')],
      ...['--events', join(dir, 'events.jsonl')],
    ];
    // Two machines reading the same input: two data dirs with the same log (as in zombie.test.ts).
    const data = { reference: join(dir, 'reference'), old: join(dir, 'old'), new: join(dir, 'new') };
    await runFlowmark(['import', '--data-dir', data.reference, ...input], jobEnv(url, schemas.reference));
    await runFlowmark(['import', '--data-dir', data.old, ...input], jobEnv(url, schemas.job));
    await runFlowmark(['import', '--data-dir', data.new, ...input], jobEnv(url, schemas.scratch));
    await runFlowmark(['run', '--data-dir', data.reference, '--drain'], jobEnv(url, schemas.reference));

    const old = startFlowmark(['run', '--data-dir', data.old], jobEnv(url, schemas.job));
    children.push(old);
    while ((await committedRecords(db, schemas.job)) === 0) await sleep(5);

    // Stop it at random moments until one falls inside a commit: a session of it idle inside a
    // transaction that has written (the fence UPDATE of the checkpoint row comes first) and holds
    // the checkpoint table. A session still running a statement finishes it first: wait for that.
    let holder: number | undefined;
    let attempts = 0;
    while (holder === undefined) {
      assert.ok(++attempts <= ATTEMPTS, `not caught inside a commit in ${ATTEMPTS} attempts`);
      assert.equal(old.child.exitCode, null, `the run stopped:\n${old.output()}`);
      old.child.kill('SIGSTOP');
      let s = await sessions(schemas.job);
      while (s.some((x) => x.state === 'active')) s = await sessions(schemas.job);
      holder = s.find((x) => x.state === 'idle in transaction' && x.wrote && x.holds_checkpoints)?.pid;
      if (holder === undefined) {
        old.child.kill('SIGCONT');
        await sleep(Math.random() * 40);
      }
    }
    t.diagnostic(`paused inside a commit at attempt ${attempts} (server pid ${holder})`);
    const { rows: before } = await db.query<{ epoch: string }>(
      `SELECT epoch::text AS epoch FROM "${schemas.job}".checkpoints WHERE job = 'attribution'`,
    );

    // The new instance: it waits for the lock of the checkpoint row, then goes on by itself.
    const next = startFlowmark(['run', '--data-dir', data.new, '--drain'], jobEnv(url, schemas.job));
    children.push(next);
    let exited = false;
    void next.exited.then(() => {
      exited = true;
    });
    let blocked = false;
    while (!blocked && !exited) {
      blocked = (await sessions(schemas.job)).some((x) => x.pid !== holder && x.waits_for_lock);
      if (!blocked) await sleep(5);
    }
    assert.ok(blocked, `the new instance was held by the paused one's lock:\n${next.output()}`);
    const { code } = await next.exited;
    assert.equal(code, 0, next.output());
    assert.ok(!(await sessions(schemas.job)).some((x) => x.pid === holder), 'the server ended the paused session');
    const afterTakeover = await resultTables(db, schemas.job);
    const { rows: after } = await db.query<{ epoch: string; checkpoint_id: string }>(
      `SELECT epoch::text AS epoch, checkpoint_id::text AS checkpoint_id FROM "${schemas.job}".checkpoints WHERE job = 'attribution'`,
    );
    assert.equal(Number(after[0]?.epoch), Number(before[0]?.epoch) + 1, 'the new instance took the next epoch');

    old.child.kill('SIGCONT');
    const exit = await old.exited;
    assert.equal(exit.code, 1, old.output());
    assert.match(old.output(), /taken over by another instance/);
    const { rows: final } = await db.query<{ epoch: string; checkpoint_id: string }>(
      `SELECT epoch::text AS epoch, checkpoint_id::text AS checkpoint_id FROM "${schemas.job}".checkpoints WHERE job = 'attribution'`,
    );
    assert.deepEqual(final, after, 'the paused instance committed no checkpoint');
    assert.deepEqual(await resultTables(db, schemas.job), afterTakeover, 'the paused instance wrote no row');
    assert.deepEqual(afterTakeover, await resultTables(db, schemas.reference), 'the result is that of one run');
  });
});
