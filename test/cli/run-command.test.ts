/**
 * `flowmark run` against a PostgreSQL server that is down when it starts: it must not start
 * blind nor wait, but exit 1 at once with a message naming the server (docs/operations.md:
 * "A server that is down when flowmark starts is an error"). Outages while running are ridden
 * out instead (test/connectors/postgres/outage.test.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN } from '../connectors/postgres/pg-job-fixtures.ts';

/** A loopback port that nothing listens on: bound by the OS, then released. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

for (const mode of [['--drain'], []]) {
  test(`run ${mode.join(' ') || '(live)'} with the database server down exits 1, naming the server, before reading anything`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-run-pg-down-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // A data dir with a log in it (`run` refuses one without: nothing to read).
    const events = join(dir, 'events.jsonl');
    writeFileSync(events, '{"type":"click","click_id":"k1","user_id":"u1","event_time":0}\n');
    const imported = spawnSync(process.execPath, [BIN, 'import', '--data-dir', dir, '--events', events], {
      encoding: 'utf8',
    });
    assert.equal(imported.status, 0, imported.stderr);
    const port = await deadPort();
    const url = `postgres://flowmark:s3cret-pw@127.0.0.1:${port}/shop`;
    const env: NodeJS.ProcessEnv = { ...process.env, FLOWMARK_SERVER_PORT: '0' };
    delete env.FLOWMARK_DATABASE_URL;
    // A run that waited for the server instead would be killed here and fail the status check.
    const r = spawnSync(process.execPath, [BIN, 'run', '--data-dir', dir, '--database-url', url, ...mode], {
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });
    assert.equal(r.status, 1, `status ${r.status} (signal ${r.signal}):\n${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line:\n${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(
        `^flowmark run: the PostgreSQL server at postgres://flowmark:\\*\\*\\*@127\\.0\\.0\\.1:${port}/shop cannot be reached`,
      ),
    );
    assert.match(r.stderr, /ECONNREFUSED/, 'says why');
    assert.match(r.stderr, /is it running, and is the database URL right\?/, 'says what to check');
    assert.doesNotMatch(r.stderr, /s3cret-pw/, 'never prints the password');
    assert.equal(r.stdout, '');
  });
}
