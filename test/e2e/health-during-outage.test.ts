/**
 * Issue 5: `/health` of a live `flowmark run` turns 503, naming the database, while the
 * PostgreSQL server is really stopped (pg_ctl stop -m immediate), and 200 again once it is back —
 * with no restart of flowmark.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { withServer } from '../connectors/postgres/pg-fixtures.ts';
import { jobEnv, runFlowmark } from '../connectors/postgres/pg-job-fixtures.ts';
import { startPrivateServer } from '../connectors/postgres/private-server.ts';
import { writeDataSet } from '../support/data-set.ts';
import { startProduct } from './product-fixtures.ts';

async function health(url: string): Promise<{ status: number; body: { status: string; reasons: string[] } }> {
  const res = await fetch(new URL('health', url));
  return { status: res.status, body: (await res.json()) as { status: string; reasons: string[] } };
}

/** Polls /health every 100 ms until `ok` accepts it; fails after 60 s. */
async function healthUntil(url: string, what: string, ok: (h: Awaited<ReturnType<typeof health>>) => boolean) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const h = await health(url);
    if (ok(h)) return h;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last /health: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

withServer('health during a database outage', () => {
  test('/health is 503 naming the database while PostgreSQL is stopped, 200 again when it is back', async (t) => {
    const server = await startPrivateServer(t);
    const dir = mkdtempSync(join(tmpdir(), 'flowmark-e2e-health-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeDataSet(dir, 2000, 9);
    const env = jobEnv(server.url, 'fm_health');
    const data = join(dir, 'data');
    await runFlowmark(
      ['import', '--data-dir', data, '--users', join(dir, 'users.csv'), '--products', join(dir, 'products.csv')],
      env,
    );
    await runFlowmark(['import', '--data-dir', data, '--events', join(dir, 'events.jsonl')], env);
    const run = await startProduct(t, ['run', '--data-dir', data, '--port', '0'], env);

    await healthUntil(run.url, 'a healthy run', (h) => h.status === 200 && h.body.status === 'ok');
    await server.ctl('stop', '-m', 'immediate');
    const down = await healthUntil(run.url, '503 during the outage', (h) => h.status === 503);
    assert.equal(down.body.status, 'unhealthy');
    assert.ok(
      down.body.reasons.some((r) => /database unavailable/i.test(r)),
      `reasons: ${JSON.stringify(down.body.reasons)}`,
    );
    t.diagnostic(`while stopped: ${JSON.stringify(down.body)}`);
    await server.ctl('start');
    await healthUntil(run.url, '200 after the server is back', (h) => h.status === 200);
    assert.equal(run.child.exitCode, null, 'flowmark kept running through the outage');
    assert.equal(await run.stop(), 0, 'and stops cleanly on Ctrl-C');
  });
});
