/**
 * The job of `flowmark flink sql`, submitted by `flowmark flink deploy` through the SQL Gateway of a
 * real Apache Flink 1.20 cluster (scripts/flink.sh, started by scripts/services.sh as `flink`) and
 * followed by `flowmark flink status`, against flowmark's own job on the same Kafka topics
 * and the same shop tables: every checkout's row must be identical (docs/flink.md lists the
 * differences, none of which this data set triggers: it has no late or bad events).
 *
 * The data set: a generated shop with disorder within the watermark bound and duplicate
 * checkouts, some users and products missing from the shop's tables, and hand-made events before
 * it for the rules that random data may miss: a click at exactly t_c − 1 h (counts) and 1 ms
 * before (does not), a click at exactly t_c, a click that arrives after its checkout, equal click
 * times with one id a prefix of the others, a second checkout of the same user and product, a
 * checkout with no click, a duplicate, and the tutorial and insights layouts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
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

const click = (id: string, user: string, product: string, time: string, source = 'google_ads') =>
  JSON.stringify({ type: 'click', click_id: id, user_id: user, product_id: product, source, event_time: time });
const checkout = (id: string, user: string, product: string, time: string, extra: object = {}) =>
  JSON.stringify({
    type: 'checkout',
    checkout_id: id,
    user_id: user,
    product_id: product,
    quantity: 2,
    event_time: time,
    ...extra,
  });

/** Hand-made events on 2026-02-28 (before the generated ones), in arrival order, and what each checkout must get. */
const HAND_MADE: readonly string[] = [
  click('k1-early', 'uh1', 'ph1', '2026-02-28T09:59:59.999Z'), // 1 ms outside c1's hour
  click('k1-edge', 'uh1', 'ph1', '2026-02-28T10:00:00.000Z'), // exactly t_c − 1 h: c1's first click
  click('k2-b', 'uh2', 'ph1', '2026-02-28T10:30:00.000Z'),
  click('k2x', 'uh2', 'ph1', '2026-02-28T10:30:00.000Z'),
  click('k2', 'uh2', 'ph1', '2026-02-28T10:30:00.000Z'), // equal times: the smallest id, a prefix of the others
  click('k1-mid', 'uh1', 'ph1', '2026-02-28T10:30:00.000Z'),
  checkout('c3', 'uh3', 'ph2', '2026-02-28T10:40:00.000Z', { discount: 0.15 }),
  click('k3', 'uh3', 'ph2', '2026-02-28T10:39:55.000Z', 'Facebook '), // arrives after its checkout
  checkout('c3', 'uh3', 'ph2', '2026-02-28T10:40:00.000Z', { discount: 0.15 }), // a duplicate delivery
  checkout('c4', 'uh4', 'ph2', '2026-02-28T10:45:00.000Z', {
    payment_status: 'Failed',
    payment_description: 'Card Expired',
  }),
  click('k4', 'uh4', 'ph2', '2026-02-28T10:45:00.000Z'), // at exactly t_c, after it
  '{"click_id": "k7", "user_id": 42, "product_id": "ph4", "product": "lamp", "price": 37.12, "datetime_occured": "2026-02-28 10:50:00.000"}',
  '{"click_id": "k8", "user_id": "U1007", "source": "Tiktok", "click_timestamp": "2026-02-28 10:51:00.125"}',
  checkout('c5', 'uh5', 'ph3', '2026-02-28T12:52:00.000+02:00'), // no click; an offset
  '{"checkout_id": "c7", "user_id": 42, "product_id": "ph4", "payment_method": "VISA 16 digit", "total_amount": 512.77, "datetime_occured": "2026-02-28 10:55:00.250"}',
  '{"checkout_id": "c8", "user_id": "U1007", "product_id": "P0042", "quantity": 3, "discount": 0.15, "payment_status": "Success", "payment_description": "None", "checkout_timestamp": "2026-02-28 10:56:02.900"}',
  checkout('c1', 'uh1', 'ph1', '2026-02-28T11:00:00.000Z'),
  checkout('c2', 'uh2', 'ph1', '2026-02-28T11:00:00.000Z'),
  checkout('c6', 'uh1', 'ph1', '2026-02-28T11:00:30.000Z'), // a second checkout of uh1/ph1: k1-mid
];
const EXPECTED_CLICKS: Readonly<Record<string, string | null>> = {
  c1: 'k1-edge',
  c2: 'k2',
  c3: 'k3',
  c4: 'k4',
  c5: null,
  c6: 'k1-mid',
  c7: 'k7',
  c8: null, // the insights layout's clicks have no product: scope product cannot match them
};

interface Flink {
  /** The cluster's REST API. */
  rest: string;
  gateway: string;
}

function services(t: TestContext): { kafka: string; pg: string; flink: Flink } | undefined {
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  const rest = requireService(t, 'flink', 'FLOWMARK_TEST_FLINK');
  if (kafka === undefined || pg === undefined || rest === undefined) return undefined;
  const gateway = requireService(t, 'flink', 'FLOWMARK_TEST_FLINK_GATEWAY');
  if (gateway === undefined) return undefined;
  return { kafka, pg, flink: { rest, gateway } };
}

/**
 * The job's final state from the cluster's REST API, once it has one. The deadline only keeps a
 * broken job from hanging the suite: a bounded job over these topics finishes in seconds.
 */
async function finalState(rest: string, jobId: string): Promise<string> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const job = (await (await fetch(`${rest}/jobs/${jobId}`)).json()) as { state: string };
    if (['FINISHED', 'FAILED', 'CANCELED'].includes(job.state)) return job.state;
    if (Date.now() > deadline) return job.state;
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('the generated Flink SQL on a real Flink writes the same attributed_checkouts and analytics as flowmark on the same topics', async (t) => {
  const s = services(t);
  if (s === undefined) return;
  const shop = generateShop(t, [
    ...['--events', '6000', '--users', '120', '--products', '40', '--rate', '4'],
    ...['--disorder', '0.2', '--max-disorder', '10s', '--duplicates', '0.05'],
  ]);
  const topics = await loadTopics(t, s.kafka, [...HAND_MADE, ...shop.lines], { partitions: 4 });

  // The shop's tables, without every 7th user and product: unknown ones give nulls, never a lost checkout.
  const dims = uniqueName('fm_flink_dims');
  const flinkSchema = uniqueName('fm_flink_out');
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
  const everySeventhOut = <T>(rows: T[]) => rows.filter((_, i) => i % 7 !== 3);
  await upsertUsers(db, everySeventhOut([...(await loadUsers(shop.users)).values()]), { schema: dims });
  await upsertProducts(db, everySeventhOut([...(await loadProducts(shop.products)).values()]), { schema: dims });

  // flowmark: one drained run of the Kafka job, final rows only.
  await runKafkaAttribution(
    { db, schema: dims },
    {
      bootstrap: [s.kafka],
      group: uniqueName('g'),
      topics,
      attribution: attributionOptions({ provisional: false }),
      clock: systemClock,
      drain: true,
      onPartition: () => {},
    },
  );

  // Flink: the script of this configuration, submitted by `flowmark flink deploy --bounded`.
  const env = {
    ...process.env,
    FLOWMARK_KAFKA_BOOTSTRAP: s.kafka,
    FLOWMARK_KAFKA_TOPICS_CLICKS: topics.clicks,
    FLOWMARK_KAFKA_TOPICS_CHECKOUTS: topics.checkouts,
    FLOWMARK_DATABASE_URL: s.pg,
    FLOWMARK_DATABASE_SCHEMA: flinkSchema,
    FLOWMARK_DIMENSIONS_USERS_SCHEMA: dims,
    FLOWMARK_DIMENSIONS_PRODUCTS_SCHEMA: dims,
  };
  const deployed = await run(process.execPath, [BIN, 'flink', 'deploy', '--gateway', s.flink.gateway, '--bounded'], {
    env,
  });
  const jobId = deployed.stdout.trim();
  assert.match(jobId, /^[0-9a-f]{32}$/, `deploy printed a job id: ${deployed.stdout}${deployed.stderr}`);
  const state = await finalState(s.flink.rest, jobId);
  if (state !== 'FINISHED') {
    const exceptions = await (await fetch(`${s.flink.rest}/jobs/${jobId}/exceptions`)).text();
    assert.fail(`the Flink job ${jobId} ended ${state}: ${exceptions.slice(0, 4000)}`);
  }
  const status = await run(process.execPath, [BIN, 'flink', 'status', '--gateway', s.flink.gateway], { env });
  assert.match(status.stdout, new RegExp(`^${jobId} FINISHED since `, 'm'));

  const q = async (client: typeof db, sql: string) => (await client.query<Record<string, unknown>>(sql)).rows;
  const mine = await q(db, `SELECT * FROM ${dims}.attributed_checkouts`);
  const flinks = await q(out, `SELECT * FROM ${flinkSchema}.attributed_checkouts`);
  assert.ok(mine.length > 40, `the data set has checkouts (${mine.length})`);
  assert.deepEqual(flinks.map(checkoutLine).sort(), mine.map(checkoutLine).sort());

  const byId = new Map(flinks.map((r) => [String(r.checkout_id), r]));
  for (const [id, clickId] of Object.entries(EXPECTED_CLICKS)) {
    assert.equal(byId.get(id)?.click_id ?? null, clickId, `checkout ${id}`);
  }
  assert.ok(
    flinks.some((r) => r.user_name === null) && flinks.some((r) => r.product_category === null),
    'some checkouts are of unknown users and products, and kept',
  );
  assert.ok(flinks.filter((r) => r.click_id === null).length > 1, 'several unattributed checkouts, each its own row');

  const myMinutes = await q(db, `SELECT * FROM ${dims}.analytics_minute`);
  const flinkMinutes = await q(out, `SELECT * FROM ${flinkSchema}.analytics_minute`);
  assert.deepEqual(analyticsLines(flinkMinutes), analyticsLines(myMinutes));
});
