/**
 * Outages (issue 4): PostgreSQL stops in the middle of `flowmark run --drain` (pg_ctl stop -m
 * immediate: connections cut, no clean shutdown) and comes back. The run must notice, stop
 * acknowledging input, retry, say so, and resume on its own — and end with the same tables as a
 * run that saw no outage.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { PgClient } from '../../../src/connectors/postgres/index.ts';
import { writeDataSet } from '../../support/data-set.ts';
import { withServer } from './pg-fixtures.ts';
import { committedRecords, jobEnv, resultTables, runFlowmark, startFlowmark } from './pg-job-fixtures.ts';
import { startPrivateServer } from './private-server.ts';

const EVENTS = 60_000;

/** Resolves when `predicate` holds, checking every few ms; fails after `timeoutMs`. */
async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

withServer('database outage during a run', () => {
  test('pg_ctl stop -m immediate mid-run, then start: the run resumes by itself and the tables are unchanged', async (t) => {
    const server = await startPrivateServer(t);
    const db = new PgClient(new pg.Pool({ connectionString: server.url, max: 2 }));
    db.pool.on('error', () => {});
    t.after(() => db.close());
    const dir = mkdtempSync(join(tmpdir(), 'flowmark-pg-outage-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeDataSet(dir, EVENTS, 5);
    const input = [
      ...['--users', join(dir, 'users.csv'), '--products', join(dir, 'products.csv')],
      ...['--events', join(dir, 'events.jsonl')],
    ];
    const env = { reference: jobEnv(server.url, 'fm_reference'), outage: jobEnv(server.url, 'fm_outage') };
    const data = { reference: join(dir, 'reference'), outage: join(dir, 'outage') };
    for (const k of ['reference', 'outage'] as const) {
      await runFlowmark(['import', '--data-dir', data[k], ...input], env[k]);
    }
    await runFlowmark(['run', '--data-dir', data.reference, '--drain'], env.reference);
    const total = await committedRecords(db, 'fm_reference');

    const run = startFlowmark(['run', '--data-dir', data.outage, '--drain'], env.outage);
    let exited = false;
    void run.exited.then(() => {
      exited = true;
    });
    await until('a fifth of the input committed', async () => {
      assert.ok(!exited, `the run ended before the outage:\n${run.output()}`);
      return (await committedRecords(db, 'fm_outage')) >= total / 5;
    });
    await server.ctl('stop', '-m', 'immediate');
    await until('the run to report the outage', () => {
      assert.ok(!exited, `the run ended instead of retrying:\n${run.output()}`);
      return /failed \(FM_PG_UNAVAILABLE/.test(run.output());
    });
    assert.ok(!exited, `the run gave up instead of retrying:\n${run.output()}`);
    await server.ctl('start');
    const { code } = await run.exited;
    assert.equal(code, 0, run.output());
    assert.match(run.output(), /works again after [\d.]+ s/);
    t.diagnostic(
      run
        .output()
        .trim()
        .split('\n')
        .filter((l) => /flowmark: /.test(l))
        .join(' | '),
    );

    assert.equal(await committedRecords(db, 'fm_outage'), total);
    const expected = await resultTables(db, 'fm_reference');
    const actual = await resultTables(db, 'fm_outage');
    for (const table of Object.keys(expected)) {
      assert.deepEqual(actual[table], expected[table], `${table} differs from the run without an outage`);
    }
  });
});
