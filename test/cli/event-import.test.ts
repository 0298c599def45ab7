/**
 * `flowmark import` is resumable and idempotent (issue 12): a real child process killed in the
 * middle of an import (SIGKILL, at the worst moment and at a moment of the parent's choosing), then
 * run again, leaves every line in the log exactly once and every dead letter once; a finished
 * import appends nothing; a changed file is refused; --force appends again. A line larger than the
 * log's largest record is a dead letter `too_large` and the import goes on.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { routeLine } from '../../src/attribution/events/index.ts';
import { runImport } from '../../src/cli/commands/import.ts';
import { importEventFile } from '../../src/cli/event-import.ts';
import { logEventQueue, openStores, TOPICS } from '../../src/cli/modes/embedded.ts';
import { LogSource } from '../../src/connectors/log/index.ts';
import { isFlowmarkError, systemClock } from '../../src/engine/index.ts';
import { writeDataSet } from '../support/data-set.ts';

const CHILD = fileURLToPath(new URL('./fixtures/import-child.ts', import.meta.url));

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-import-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the child; resolves with its exit code or signal, killing it after `killAfter` commits if asked. */
function child(dataDir: string, events: string, env: Record<string, string>, killAfter?: number) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => {
      const p = spawn(process.execPath, [CHILD, dataDir, events], { env: { ...process.env, ...env } });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (b: Buffer) => {
        stdout += b.toString();
        if (killAfter !== undefined && stdout.includes(`committed ${killAfter}\n`)) p.kill('SIGKILL');
      });
      p.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
      });
      p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    },
  );
}

/** The lines of the file that go to the log, and the number of dead letters it makes. */
function expected(file: string) {
  const lines: string[] = [];
  let dead = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    if ('reason' in routeLine(line)) dead++;
    else lines.push(line);
  }
  return { lines: lines.sort(), dead };
}

/** Every record of both topics of the data dir's log, sorted, and the dead letters of the import. */
async function contents(dataDir: string) {
  const stores = await openStores({ dataDir });
  try {
    const records: string[] = [];
    for (const topic of Object.values(TOPICS)) {
      const source = new LogSource(stores.log, topic, { endAtOpen: true, register: false });
      for (;;) {
        const r = source.poll(10_000);
        for (const x of r.records) records.push(x.value);
        if (r.ended === true) break;
      }
      source.close();
    }
    const { rows } = await stores.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM flowmark.dead_letters WHERE source = 'import'",
    );
    return { records: records.sort(), dead: rows[0]?.n ?? 0 };
  } finally {
    await stores.close();
  }
}

for (const how of ['killed after a chunk was flushed but before it was recorded', 'killed by the parent'] as const) {
  test(`an import ${how}, run again, has every line in the log exactly once`, async (t) => {
    const dir = tempDir(t);
    writeDataSet(dir, 2_000, 7);
    const events = join(dir, 'events.jsonl');
    appendFileSync(events, 'not json\n{"type":"refund"}\n');
    const dataDir = join(dir, 'data');
    const first =
      how === 'killed by the parent'
        ? await child(dataDir, events, {}, 2)
        : await child(dataDir, events, { KILL_AFTER_FLUSH: '3' });
    assert.equal(first.signal, 'SIGKILL', `${first.stdout}${first.stderr}`);
    const partial = await contents(dataDir);
    const want = expected(events);
    assert.ok(partial.records.length > 0 && partial.records.length < want.lines.length, 'stopped in the middle');

    const again = await child(dataDir, events, {});
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /resumed after line \d+, where an earlier import of it stopped/);
    if (how !== 'killed by the parent') {
      // Chunk 3 was in the log, not in the record: found there, not appended again.
      assert.match(again.stderr, /; \d+ lines it had appended were found in the log and not appended again/);
    }
    const after = await contents(dataDir);
    assert.deepEqual(after.records, want.lines, 'each line once');
    assert.equal(after.dead, want.dead, 'each dead letter once');

    const third = await child(dataDir, events, {});
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stderr, /was imported already \(2002 lines: .*\); nothing appended\. .*--force/);
    assert.deepEqual((await contents(dataDir)).records, want.lines, 'a finished import appends nothing');
  });
}

test('a file changed since its import is refused naming --force; --force appends it again', async (t) => {
  const dir = tempDir(t);
  writeDataSet(dir, 300, 3);
  const events = join(dir, 'events.jsonl');
  const dataDir = join(dir, 'data');
  await runImport({ dataDir, events });
  const want = expected(events);
  appendFileSync(events, `${readFileSync(events, 'utf8').split('\n')[0]}\n`);
  await assert.rejects(
    runImport({ dataDir, events }),
    (e) => isFlowmarkError(e, 'FM_CONFIG_INVALID') && /changed since it was imported .*--force/.test(e.message),
  );
  assert.equal((await contents(dataDir)).records.length, want.lines.length, 'nothing appended');
  await runImport({ dataDir, events, force: true });
  assert.equal((await contents(dataDir)).records.length, 2 * want.lines.length + 1, 'appended again, on purpose');
});

test('a line over the log’s largest record is a dead letter too_large with its head and size; the import goes on', async (t) => {
  const dir = tempDir(t);
  const events = join(dir, 'events.jsonl');
  const big = `{"type":"click","click_id":"big","user_id":"u1","event_time":"2024-01-01T00:00:00Z","pad":"${'x'.repeat(9 * 2 ** 20)}"}`;
  const small = (i: number) =>
    `{"type":"click","click_id":"k${i}","user_id":"u${i}","product_id":"p1","event_time":"2024-01-01T00:00:0${i}Z"}`;
  const garbage = 'not json at all '.repeat(600_000); // 9.6 MB: not parsed, not stored whole
  writeFileSync(events, `${small(1)}\n${big}\n${garbage}\n${small(2)}\n`);
  const dataDir = join(dir, 'data');
  await runImport({ dataDir, events });
  assert.deepEqual((await contents(dataDir)).records, [small(1), small(2)].sort());
  const stores = await openStores({ dataDir });
  try {
    const { rows } = await stores.db.query<{ reason: string; raw: string; detail: string }>(
      'SELECT reason, raw, detail FROM flowmark.dead_letters ORDER BY id',
    );
    assert.equal(rows.length, 2);
    assert.equal(rows[1]?.reason, 'too_large');
    assert.equal(rows[1]?.raw, garbage.slice(0, 512));
    const row = rows[0] as { reason: string; raw: string; detail: string };
    assert.equal(row.reason, 'too_large');
    assert.equal(row.raw, big.slice(0, 512));
    assert.match(
      row.detail,
      new RegExp(`line 2: a line of ${Buffer.byteLength(big)} bytes is larger than the 8388608 bytes`),
    );
    // The same through the queue interface, with a smaller limit: Kafka's path is the same code.
    const queue = { ...logEventQueue(stores.log), maxRecordBytes: 100 };
    const r = await importEventFile(events, {
      db: stores.db,
      schema: stores.schema,
      queue,
      clock: systemClock,
      force: true,
    });
    assert.deepEqual(r.counts, { clicks: 0, checkouts: 0, deadLetters: 4 });
  } finally {
    await stores.close();
  }
});
