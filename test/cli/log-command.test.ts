/**
 * Issue 12: one flipped byte in the embedded log no longer stops `run` and `import` for good.
 * Damage in records the job has processed is history: reported and skipped. Damage in records
 * still to process stops `run` with a message naming the segment, the offset and `flowmark log
 * repair`; `log check` lists it; `log repair` quarantines it (a dead letter keeps its bytes) and
 * keeps every later record. Through the real command, in child processes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { routeLine } from '../../src/attribution/events/index.ts';
import { loadConfig } from '../../src/cli/config/index.ts';
import { pgliteDatabase } from '../../src/cli/modes/database.ts';
import { openStores } from '../../src/cli/modes/embedded.ts';
import { writeDataSet } from '../support/data-set.ts';

const BIN = fileURLToPath(new URL('../../bin/flowmark.js', import.meta.url));

function flowmark(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, FLOWMARK_CONFIG: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-log-cmd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeDataSet(dir, 1500, 5);
  const dataDir = join(dir, 'data');
  const imp = flowmark([
    'import',
    '--data-dir',
    dataDir,
    '--events',
    join(dir, 'events.jsonl'),
    '--users',
    join(dir, 'users.csv'),
    '--products',
    join(dir, 'products.csv'),
  ]);
  assert.equal(imp.status, 0, imp.stderr);
  const routable = readFileSync(join(dir, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !('reason' in routeLine(l))).length;
  return { dir, dataDir, routable, segment: join(dataDir, 'log', 'clicks', 'partition-0', '00000000000000000000.log') };
}

/** Flips a byte in the payload of the record at `offset` of a segment file; returns the record's byte position. */
function flipPayloadByte(file: string, offset: number): number {
  const b = readFileSync(file);
  let pos = 0;
  for (let i = 0; i < offset; i++) pos += 4 + b.readUInt32BE(pos);
  const at = pos + 24 + 5;
  b[at] = (b[at] as number) ^ 0xff;
  writeFileSync(file, b);
  return pos;
}

test('a flipped byte in a record the job has processed: run and import go on, with a warning', async (t) => {
  const { dir, dataDir, routable, segment } = setup(t);
  const first = flowmark(['run', '--data-dir', dataDir, '--drain']);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, new RegExp(`run: ${routable} events`));
  const position = flipPayloadByte(segment, 10);

  const again = flowmark(['run', '--data-dir', dataDir, '--drain']);
  assert.equal(again.status, 0, again.stderr);
  assert.ok(
    again.stderr.includes(
      `flowmark run: warning: log topic clicks partition 0: offset 10 damaged (a record whose CRC-32 does not match its contents at byte ${position} of ${segment}); already processed, so skipped.`,
    ),
    again.stderr,
  );
  const more = join(dir, 'more.jsonl');
  writeFileSync(
    more,
    '{"type":"click","click_id":"late-k","user_id":"u-late","product_id":"p1","event_time":"2024-01-01T00:00:00Z"}\n',
  );
  const imp = flowmark(['import', '--data-dir', dataDir, '--events', more]);
  assert.equal(imp.status, 0, imp.stderr);
  assert.match(
    imp.stderr,
    /flowmark import: warning: log topic clicks partition 0: offset 10 damaged .* already processed/,
  );
  assert.match(imp.stderr, /import: 1 clicks, 0 checkouts → log/);
  const check = flowmark(['log', 'check', '--data-dir', dataDir]);
  assert.equal(check.status, 1);
  assert.match(
    check.stdout,
    /log damaged: clicks partition 0, .*: offset 10: .* — processed by every consumer: runs skip it/,
  );
});

test('a flipped byte in a record not processed yet: run stops naming segment, offset and log repair; repair quarantines it and keeps every later record', async (t) => {
  const { dataDir, routable, segment } = setup(t);
  const position = flipPayloadByte(segment, 10);

  const run = flowmark(['run', '--data-dir', dataDir, '--drain']);
  assert.equal(run.status, 1, run.stderr);
  assert.ok(
    run.stderr.includes(
      `flowmark run: log topic clicks partition 0: offset 10 cannot be read — segment ${segment} holds a record whose CRC-32 does not match its contents at byte ${position}`,
    ),
    run.stderr,
  );
  assert.match(run.stderr, /Run `flowmark log repair` \(same --data-dir\)/);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');

  const check = flowmark(['log', 'check', '--data-dir', dataDir]);
  assert.equal(check.status, 1);
  assert.match(
    check.stdout,
    /offset 10: a record whose CRC-32 does not match its contents at byte \d+ — NOT processed yet/,
  );
  assert.match(
    check.stderr,
    /flowmark log check: 1 damaged regions in .* \(1 not processed yet\)\. Run `flowmark log repair`/,
  );

  const repair = flowmark(['log', 'repair', '--data-dir', dataDir]);
  assert.equal(repair.status, 0, repair.stderr);
  assert.match(repair.stderr, /log repair: 1 dead letters \(reason log_damaged\) → flowmark\.dead_letters/);
  assert.ok(existsSync(join(dataDir, 'log', 'quarantine', 'clicks-0-10-11.bin')));
  assert.equal(flowmark(['log', 'check', '--data-dir', dataDir]).status, 0);

  const after = flowmark(['run', '--data-dir', dataDir, '--drain']);
  assert.equal(after.status, 0, after.stderr);
  assert.match(after.stderr, new RegExp(`run: ${routable - 1} events`), 'every record but the quarantined one');
  const d = await pgliteDatabase(dataDir).open();
  try {
    const { rows } = await d.db.query<{ source: string; detail: string }>(
      "SELECT source, detail FROM flowmark.dead_letters WHERE reason = 'log_damaged'",
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.source, 'log');
    assert.match(
      rows[0]?.detail ?? '',
      /log topic clicks partition 0: offset 10: .*quarantined by `flowmark log repair`/,
    );
  } finally {
    await d.close();
  }
});

test('log check of a data dir without a log says so', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-log-cmd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = flowmark(['log', 'check', '--data-dir', join(dir, 'typo')]);
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /^flowmark log check: there is no log in .*typo .*: give the --data-dir that import, run or demo used\n$/,
  );
});

test('log.retention: consumed (the default) deletes fully consumed segments; keep keeps every event', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-log-cmd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const retention of ['consumed', 'keep'] as const) {
    const flags = { dataDir: join(dir, retention), ...(retention === 'keep' ? { logRetention: 'keep' } : {}) };
    const stores = await openStores(loadConfig({ flags, env: {} }).config);
    try {
      assert.equal(stores.log.options.deleteConsumed, retention === 'consumed');
    } finally {
      await stores.close();
    }
  }
});
