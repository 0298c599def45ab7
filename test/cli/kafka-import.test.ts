/**
 * `flowmark import --kafka` and `flowmark produce --kafka` against the test broker: unique topics
 * per test (kafka.topics.* by variable), a data dir of its own for the PGlite side.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { routeLine } from '../../src/attribution/events/index.ts';
import { runImport } from '../../src/cli/commands/import.ts';
import { loadConfig } from '../../src/cli/config/index.ts';
import { pgliteDatabase } from '../../src/cli/modes/database.ts';
import { KafkaAdmin } from '../../src/connectors/kafka/kafka-admin.ts';
import { partitionForKey } from '../../src/connectors/kafka/kafka-partitioner.ts';
import { readBack, requireKafka, uniqueTopic } from '../connectors/kafka/kafka-producer-fixtures.ts';

const BIN = fileURLToPath(new URL('../../bin/flowmark.js', import.meta.url));

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-kafka-import-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Unique topics for one test, deleted after it; the variables that point flowmark at them. */
function topicsFor(t: TestContext, bootstrap: string, prefix: string) {
  const topics = { clicks: uniqueTopic(`${prefix}-clicks`), checkouts: uniqueTopic(`${prefix}-checkouts`) };
  t.after(async () => {
    const admin = new KafkaAdmin({ bootstrap: [bootstrap] });
    await admin.deleteTopics([topics.clicks, topics.checkouts]);
    await admin.close();
  });
  const env = { FLOWMARK_KAFKA_TOPICS_CLICKS: topics.clicks, FLOWMARK_KAFKA_TOPICS_CHECKOUTS: topics.checkouts };
  return { topics, env };
}

function flowmark(args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ...env, FLOWMARK_CONFIG: '' },
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** What routeLine makes of a file: the lines of each topic and the unroutable ones. */
function expectedRouting(file: string) {
  const out = { clicks: 0, checkouts: 0, dead: 0 };
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const r = routeLine(line);
    if ('reason' in r) out.dead++;
    else if (r.kind === 'click') out.clicks++;
    else out.checkouts++;
  }
  return out;
}

async function count(dataDir: string, table: string): Promise<number> {
  const d = await pgliteDatabase(dataDir).open();
  try {
    const r = await d.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${d.schema}.${table}`);
    return r.rows[0]?.n ?? 0;
  } finally {
    await d.close();
  }
}

test('import --kafka: each line in its topic at murmur2(user_id) % N, bad lines counted as dead letters in the database', async (t) => {
  const bootstrap = requireKafka(t);
  if (bootstrap === undefined) return;
  const dir = tempDir(t);
  const gen = flowmark([
    'generate',
    '--out',
    join(dir, 'data'),
    '--events',
    '4000',
    '--users',
    '300',
    '--malformed',
    '0.03',
    '--duplicates',
    '0.05',
  ]);
  assert.equal(gen.status, 0, gen.stderr);
  const events = join(dir, 'data', 'events.jsonl');
  const expected = expectedRouting(events);
  assert.ok(expected.dead > 0 && expected.checkouts > 0, JSON.stringify(expected));
  const { topics, env } = topicsFor(t, bootstrap, 'import');
  const dataDir = join(dir, 'dd');
  const flags = { kafka: bootstrap, partitions: '3', dataDir, events, users: join(dir, 'data', 'users.csv') };

  await runImport(flags, loadConfig({ flags, env }).config);

  const read = await readBack(bootstrap, [topics.clicks, topics.checkouts], expected.clicks + expected.checkouts);
  const clicks = read.get(topics.clicks) ?? [];
  const checkouts = read.get(topics.checkouts) ?? [];
  assert.equal(clicks.length, expected.clicks);
  assert.equal(checkouts.length, expected.checkouts);
  let keyed = 0;
  for (const r of [...clicks, ...checkouts]) {
    const userId = (JSON.parse(r.value) as { user_id?: unknown }).user_id;
    if (userId === undefined || userId === null) continue; // no key: spread, checked by the parser later
    keyed++;
    assert.equal(r.key, String(userId));
    assert.equal(r.partition, partitionForKey(String(userId), 3), r.value);
  }
  assert.ok(keyed > 0.9 * (expected.clicks + expected.checkouts));
  assert.equal(await count(dataDir, 'dead_letters'), expected.dead);
  assert.equal(await count(dataDir, 'users'), 300);
});

test('flowmark import --kafka through the command: topics created, counts reported; a topic kept with its own count', async (t) => {
  const bootstrap = requireKafka(t);
  if (bootstrap === undefined) return;
  const dir = tempDir(t);
  assert.equal(flowmark(['generate', '--out', dir, '--events', '500']).status, 0);
  const { topics, env } = topicsFor(t, bootstrap, 'import-cli');
  const admin = new KafkaAdmin({ bootstrap: [bootstrap] });
  t.after(() => admin.close());
  await admin.ensureTopics([{ name: topics.checkouts, partitions: 2 }]);
  const expected = expectedRouting(join(dir, 'events.jsonl'));

  const r = flowmark(
    ['import', '--kafka', bootstrap, '--data-dir', join(dir, 'dd'), '--events', join(dir, 'events.jsonl')],
    env,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stderr.includes(`import: topic ${topics.clicks}: created with 4 partitions\n`), r.stderr);
  assert.ok(r.stderr.includes(`import: topic ${topics.checkouts}: exists with 2 partitions (kept as it is;`), r.stderr);
  assert.match(r.stderr, /import: warning: .* not co-partitioned by user_id/);
  assert.ok(
    r.stderr.includes(
      `import: ${expected.clicks} clicks → ${topics.clicks}, ${expected.checkouts} checkouts → ${topics.checkouts} in Kafka ${bootstrap}; 0 unroutable lines → flowmark.dead_letters\n`,
    ),
    r.stderr,
  );
  assert.deepEqual(
    await admin.partitionCounts([topics.clicks, topics.checkouts]),
    new Map([
      [topics.clicks, 4],
      [topics.checkouts, 2],
    ]),
  );
});

test('a bad --kafka (flag or variable) or none at all is refused before anything is written', () => {
  const bad = flowmark(['import', '--kafka', 'kafka', '--events', BIN]);
  assert.equal(bad.status, 1);
  assert.match(
    bad.stderr,
    /^flowmark import: --kafka="kafka": kafka\.bootstrap: "kafka" has no port; expected host:port/,
  );
  const env = flowmark(['produce'], { FLOWMARK_KAFKA_BOOTSTRAP: '127.0.0.1:99999' });
  assert.equal(env.status, 1);
  assert.match(
    env.stderr,
    /FLOWMARK_KAFKA_BOOTSTRAP="127\.0\.0\.1:99999": kafka\.bootstrap: .* has a port outside 1–65535/,
  );
  const none = flowmark(['produce', '--events', '1']);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /produce writes into Apache Kafka: give --kafka HOST:PORT/);
});

test('flowmark produce --events N: N lines keyed by user_id into the topics, the shop in the database, status lines', async (t) => {
  const bootstrap = requireKafka(t);
  if (bootstrap === undefined) return;
  const dir = tempDir(t);
  const { topics, env } = topicsFor(t, bootstrap, 'produce');
  const child = spawn(
    process.execPath,
    [BIN, 'produce', '--kafka', bootstrap, '--data-dir', dir, '--rate', '1000', '--events', '3000', '--users', '50'],
    { env: { ...process.env, ...env, FLOWMARK_CONFIG: '' } },
  );
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.match(stderr, /produce: a simulated shop \(50 users, 200 products\) → flowmark\.users, flowmark\.products/);
  assert.match(
    stderr,
    /produce: 3000 events produced \(\d+ clicks, \d+ checkouts, \d+ unroutable\), 3000 acknowledged/,
  );
  assert.match(stderr, /produce: stopped; all 3000 events acknowledged\n$/);

  const read = await readBack(bootstrap, [topics.clicks, topics.checkouts], 3000);
  const all = [...(read.get(topics.clicks) ?? []), ...(read.get(topics.checkouts) ?? [])];
  assert.equal(all.length, 3000);
  assert.ok((read.get(topics.checkouts) ?? []).length > 0);
  for (const r of all) {
    if (r.key === undefined) continue; // an unroutable line: clicks, unkeyed
    assert.equal(r.partition, partitionForKey(r.key, 4), r.value);
  }
  assert.equal(await count(dir, 'users'), 50);
  assert.equal(await count(dir, 'products'), 200);
});

test('import --kafka: a line over the largest record is a dead letter too_large; a finished import run again sends nothing', async (t) => {
  const bootstrap = requireKafka(t);
  if (bootstrap === undefined) return;
  const dir = tempDir(t);
  const { topics, env } = topicsFor(t, bootstrap, 'import-big');
  const events = join(dir, 'events.jsonl');
  const click = (i: number) =>
    `{"type":"click","click_id":"k${i}","user_id":"u${i}","product_id":"p1","event_time":"2024-01-01T00:00:0${i}Z"}`;
  const big = `{"type":"click","click_id":"big","user_id":"u9","pad":"${'x'.repeat(1_200_000)}"}`;
  writeFileSync(events, `${click(1)}\n${big}\n${click(2)}\n`);
  const dataDir = join(dir, 'dd');
  const flags = { kafka: bootstrap, dataDir, events };
  await runImport(flags, loadConfig({ flags, env }).config);
  const read = await readBack(bootstrap, [topics.clicks], 2);
  assert.deepEqual((read.get(topics.clicks) ?? []).map((r) => r.value).sort(), [click(1), click(2)]);
  const d = await pgliteDatabase(dataDir).open();
  try {
    const { rows } = await d.db.query<{ reason: string; raw: string; detail: string }>(
      'SELECT reason, raw, detail FROM flowmark.dead_letters',
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.reason, 'too_large');
    assert.equal(rows[0]?.raw, big.slice(0, 512));
    assert.match(
      rows[0]?.detail ?? '',
      /line 2: a line of \d+ bytes is larger than the 1000000 bytes a record may have/,
    );
  } finally {
    await d.close();
  }
  const again = flowmark(['import', '--kafka', bootstrap, '--data-dir', dataDir, '--events', events], env);
  assert.equal(again.status, 0, again.stderr);
  assert.match(
    again.stderr,
    /was imported already \(3 lines: 2 clicks, 0 checkouts, 1 dead letters\); nothing appended/,
  );
  assert.doesNotMatch(again.stderr, /clicks → /, 'no counts: nothing was sent');
});
