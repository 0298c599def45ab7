/**
 * Fencing (§3.7): an instance of the job that was paused (a long GC, a suspended VM) while another
 * instance took the job over must not write when it wakes up. The newer instance takes the next
 * epoch when it starts; the older one's next commit finds its epoch gone and stops (FM_FENCED),
 * having written nothing.
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

withServer('fencing a zombie instance', (url) => {
  const db = sharedServerClient(url);

  test('§3.7 a paused instance that wakes up after another took the job over is fenced out', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'flowmark-pg-zombie-'));
    const schemas = {
      reference: uniqueSchema('fm_ref'),
      job: uniqueSchema('fm_zombie'),
      scratch: uniqueSchema('fm_scratch'),
    };
    t.after(async () => {
      rmSync(dir, { recursive: true, force: true });
      for (const s of Object.values(schemas)) await db.exec(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    });
    writeDataSet(dir, 10_000, 21);
    const input = [
      ...['--users', join(dir, 'users.csv'), '--products', join(dir, 'products.csv')],
      ...['--events', join(dir, 'events.jsonl')],
    ];
    // Two machines reading the same input: two data dirs with the same log.
    const data = { reference: join(dir, 'reference'), old: join(dir, 'old'), new: join(dir, 'new') };
    await runFlowmark(['import', '--data-dir', data.reference, ...input], jobEnv(url, schemas.reference));
    await runFlowmark(['import', '--data-dir', data.old, ...input], jobEnv(url, schemas.job));
    // The same log again; its import-time dead letters go to a scratch schema, not the job's.
    await runFlowmark(['import', '--data-dir', data.new, ...input], jobEnv(url, schemas.scratch));
    await runFlowmark(['run', '--data-dir', data.reference, '--drain'], jobEnv(url, schemas.reference));

    const old = startFlowmark(['run', '--data-dir', data.old], jobEnv(url, schemas.job));
    while ((await committedRecords(db, schemas.job)) === 0) await new Promise((r) => setTimeout(r, 5));
    old.child.kill('SIGSTOP');
    const { rows: before } = await db.query<{ epoch: string }>(
      `SELECT epoch::text AS epoch FROM "${schemas.job}".checkpoints WHERE job = 'attribution'`,
    );

    await runFlowmark(['run', '--data-dir', data.new, '--drain'], jobEnv(url, schemas.job));
    const afterTakeover = await resultTables(db, schemas.job);
    const { rows: after } = await db.query<{ epoch: string; checkpoint_id: string }>(
      `SELECT epoch::text AS epoch, checkpoint_id::text AS checkpoint_id FROM "${schemas.job}".checkpoints WHERE job = 'attribution'`,
    );
    assert.equal(Number(after[0]?.epoch), Number(before[0]?.epoch) + 1, 'the new instance took the next epoch');

    old.child.kill('SIGCONT');
    const { code } = await old.exited;
    assert.equal(code, 1, old.output());
    assert.match(old.output(), /taken over by another instance/);

    const { rows: final } = await db.query<{ epoch: string; checkpoint_id: string }>(
      `SELECT epoch::text AS epoch, checkpoint_id::text AS checkpoint_id FROM "${schemas.job}".checkpoints WHERE job = 'attribution'`,
    );
    assert.deepEqual(final, after, 'the zombie committed no checkpoint');
    assert.deepEqual(await resultTables(db, schemas.job), afterTakeover, 'the zombie wrote no row');
    assert.deepEqual(afterTakeover, await resultTables(db, schemas.reference), 'the result is that of one run');
  });
});
