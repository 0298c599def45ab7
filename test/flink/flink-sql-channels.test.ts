/**
 * Per-source lookbacks (`lookback_by_source`) in the job of `flowmark flink sql`, on a real Apache
 * Flink 1.20 (as flink-sql-job.test.ts): with lookback 1h, email 2h and direct 30m, every
 * checkout's row must equal flowmark's own on the same topics. Hand-made events (those of the
 * golden case lookback-by-source-first-click, a day earlier) pin the edges: a click exactly
 * t_c − lookback(source) before counts and 1 ms earlier does not, for a source with a longer
 * window than the default and one with a shorter; a slow generated shop (about 3 h of event time)
 * adds returns 20 min to 4 h after a click.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { attributionOptions } from '../../src/attribution/attribution-options.ts';
import { outputMigrations } from '../../src/attribution/output-schema.ts';
import { loadProducts, loadUsers } from '../../src/cli/dimension-loading.ts';
import { runKafkaAttribution } from '../../src/cli/modes/kafka-job.ts';
import { openPostgresDatabase } from '../../src/connectors/postgres/index.ts';
import { upsertProducts, upsertUsers } from '../../src/connectors/sql/index.ts';
import { systemClock } from '../../src/engine/index.ts';
import { analyticsLines, checkoutLine, generateShop, loadTopics, uniqueName } from '../cli/kafka-job-fixtures.ts';
import { BIN } from '../connectors/postgres/pg-job-fixtures.ts';
import { requireService } from '../support/services.ts';

const run = promisify(execFile);
const HOUR = 3_600_000;
const WINDOWS = { lookback: '1h', bySource: 'email=2h,direct=30m' };

/** The golden case's events, moved to 2026-02-28 (before the generated shop, so none is late). */
const golden = new URL('../golden/lookback-by-source-first-click/', import.meta.url);
const HAND_MADE = readFileSync(new URL('input.jsonl', golden), 'utf8')
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => l.replaceAll('2026-03-01T', '2026-02-28T'));
const EXPECTED_CLICKS = Object.fromEntries(
  readFileSync(new URL('expected.jsonl', golden), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { checkout_id: string; click_id: string | null })
    .map((r) => [r.checkout_id, r.click_id]),
);

async function finalState(rest: string, jobId: string): Promise<string> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const job = (await (await fetch(`${rest}/jobs/${jobId}`)).json()) as { state: string };
    if (['FINISHED', 'FAILED', 'CANCELED'].includes(job.state)) return job.state;
    if (Date.now() > deadline) return job.state;
    await new Promise((r) => setTimeout(r, 500));
  }
}

function services(t: TestContext) {
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  const rest = requireService(t, 'flink', 'FLOWMARK_TEST_FLINK');
  const gateway = requireService(t, 'flink', 'FLOWMARK_TEST_FLINK_GATEWAY');
  if (kafka === undefined || pg === undefined || rest === undefined || gateway === undefined) return undefined;
  return { kafka, pg, rest, gateway };
}

test('per-source lookbacks: the generated Flink SQL on a real Flink writes the rows flowmark writes', async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, [
    ...['--events', '8000', '--users', '40', '--products', '10', '--rate', '0.8'],
    ...['--disorder', '0.2', '--max-disorder', '10s', '--duplicates', '0.05'],
  ]);
  // Checkouts in the golden case's users and products (u1, u2, p1, p2) need no shop rows: unknown ones are nulls.
  const topics = await loadTopics(t, s.kafka, [...HAND_MADE, ...shop.lines], { partitions: 4 });
  const dims = uniqueName('fm_flink_ch_dims');
  const flinkSchema = uniqueName('fm_flink_ch_out');
  const db = await openPostgresDatabase(s.pg, { migrations: outputMigrations(dims), schema: dims, poolSize: 2 });
  const out = await openPostgresDatabase(s.pg, {
    migrations: outputMigrations(flinkSchema),
    schema: flinkSchema,
    poolSize: 1,
  });
  t.after(async () => {
    for (const [client, schema] of [
      [db, dims],
      [out, flinkSchema],
    ] as const) {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await client.close();
    }
  });
  await upsertUsers(db, [...(await loadUsers(shop.users)).values()], { schema: dims });
  await upsertProducts(db, [...(await loadProducts(shop.products)).values()], { schema: dims });

  await runKafkaAttribution(
    { db, schema: dims },
    {
      bootstrap: [s.kafka],
      group: uniqueName('g'),
      topics,
      attribution: attributionOptions({
        lookbackMs: HOUR,
        lookbackBySource: { email: 2 * HOUR, direct: HOUR / 2 },
        provisional: false,
      }),
      clock: systemClock,
      drain: true,
      onPartition: () => {},
    },
  );

  const env = {
    ...process.env,
    FLOWMARK_KAFKA_BOOTSTRAP: s.kafka,
    FLOWMARK_KAFKA_TOPICS_CLICKS: topics.clicks,
    FLOWMARK_KAFKA_TOPICS_CHECKOUTS: topics.checkouts,
    FLOWMARK_DATABASE_URL: s.pg,
    FLOWMARK_DATABASE_SCHEMA: flinkSchema,
    FLOWMARK_DIMENSIONS_USERS_SCHEMA: dims,
    FLOWMARK_DIMENSIONS_PRODUCTS_SCHEMA: dims,
    FLOWMARK_ATTRIBUTION_LOOKBACK: WINDOWS.lookback,
    FLOWMARK_ATTRIBUTION_LOOKBACK_BY_SOURCE: WINDOWS.bySource,
  };
  const deployed = await run(process.execPath, [BIN, 'flink', 'deploy', '--gateway', s.gateway, '--bounded'], { env });
  const jobId = deployed.stdout.trim();
  assert.match(jobId, /^[0-9a-f]{32}$/, `deploy printed a job id: ${deployed.stdout}${deployed.stderr}`);
  const state = await finalState(s.rest, jobId);
  if (state !== 'FINISHED') {
    const exceptions = await (await fetch(`${s.rest}/jobs/${jobId}/exceptions`)).text();
    assert.fail(`the Flink job ${jobId} ended ${state}: ${exceptions.slice(0, 4000)}`);
  }

  const q = async (client: typeof db, sql: string) => (await client.query<Record<string, unknown>>(sql)).rows;
  const mine = await q(db, `SELECT * FROM ${dims}.attributed_checkouts`);
  const flinks = await q(out, `SELECT * FROM ${flinkSchema}.attributed_checkouts`);
  assert.ok(mine.length > 40, `the data set has checkouts (${mine.length})`);
  assert.deepEqual(flinks.map(checkoutLine).sort(), mine.map(checkoutLine).sort());

  const byId = new Map(flinks.map((r) => [String(r.checkout_id), r]));
  for (const [id, clickId] of Object.entries(EXPECTED_CLICKS)) {
    assert.equal(byId.get(id)?.click_id ?? null, clickId, `checkout ${id}`);
  }
  const gap = (r: Record<string, unknown>) =>
    new Date(r.checkout_time as string).getTime() - new Date(r.click_time as string).getTime();
  assert.ok(
    flinks.some((r) => r.click_source === 'email' && gap(r) > HOUR && String(r.checkout_id).length > 2),
    'a generated checkout credits an email click beyond the default hour',
  );
  const myMinutes = await q(db, `SELECT * FROM ${dims}.analytics_minute`);
  const flinkMinutes = await q(out, `SELECT * FROM ${flinkSchema}.analytics_minute`);
  assert.deepEqual(analyticsLines(flinkMinutes), analyticsLines(myMinutes));
});
