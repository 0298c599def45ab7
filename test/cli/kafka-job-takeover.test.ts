/**
 * The fallback of unkeyed topics (a broker that refuses to create the internal repartition topics;
 * `repartition: false`): one job over all their partitions (docs/operations.md):
 * a second worker of the group waits while the first is alive, and takes the job over once the
 * first has been silent (no checkpoint) for more than {@link UNKEYED_TAKEOVER_AFTER_MS} — started
 * at once after the first stopped, it is not refused (issue 16); the first, should it wake up, is
 * fenced out without writing. Real processes, a real broker and a
 * real PostgreSQL server; the first worker is paused with SIGSTOP (a frozen VM, a long GC).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { partitionJobName, UNKEYED_TAKEOVER_AFTER_MS } from '../../src/cli/modes/kafka-job.ts';
import { reviveInfinity, type SnapshotMeta } from '../../src/engine/index.ts';
import { jobEnv } from '../connectors/postgres/pg-job-fixtures.ts';
import { requireService } from '../support/services.ts';
import {
  analyticsLines,
  checkoutLine,
  generateShop,
  loadTopics,
  replayShop,
  shopDatabase,
  uniqueName,
} from './kafka-job-fixtures.ts';

const CHILD = new URL('./fixtures/single-job-worker-child.ts', import.meta.url).pathname;

/** A worker of the fallback (`run --kafka` with `repartition: false`); stdout and stderr in `output()`. */
function startFlowmark(args: readonly string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [CHILD, ...args.filter((a) => a !== 'run')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, exited, output: () => output };
}

test(`unkeyed topics without repartitioning: a worker started right after another stopped waits, takes over once that one is silent for ${UNKEYED_TAKEOVER_AFTER_MS / 1000} s, and the other is fenced when it wakes up`, {
  timeout: 300_000,
}, async (t) => {
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (kafka === undefined || pg === undefined) return;
  const shop = generateShop(t, ['--events', '20000', '--users', '100', '--products', '30', '--rate', '50']);
  const topics = await loadTopics(t, kafka, shop.lines, { partitions: 3, checkoutPartitions: 2, keyed: false });
  const stores = await shopDatabase(t, pg, shop);
  const group = uniqueName('g');
  const job = partitionJobName(group, -1);
  const env = jobEnv(pg, stores.schema, {
    FLOWMARK_KAFKA_BOOTSTRAP: kafka,
    FLOWMARK_KAFKA_GROUP: group,
    FLOWMARK_KAFKA_TOPICS_CLICKS: topics.clicks,
    FLOWMARK_KAFKA_TOPICS_CHECKOUTS: topics.checkouts,
    FLOWMARK_DATA_DIR: shop.dir,
  });
  /** The job's checkpoint row (undefined before the first start). */
  const checkpoint = async () => {
    const { rows } = await stores.db.query<{ epoch: string; id: string; meta: string | null }>(
      `SELECT epoch::text AS epoch, checkpoint_id::text AS id, meta::text AS meta
       FROM ${stores.schema}.checkpoints WHERE job = $1`,
      [job],
    );
    return rows[0];
  };
  // The first worker, live: paused once it has committed some of its input.
  const first = startFlowmark(['run'], env);
  t.after(() => {
    first.child.kill('SIGCONT');
    first.child.kill('SIGKILL');
  });
  for (;;) {
    assert.equal(first.child.exitCode, null, `the first worker stopped:\n${first.output()}`);
    const meta = (await checkpoint())?.meta;
    const read = meta == null ? 0 : sumOffsets(JSON.parse(meta, reviveInfinity) as SnapshotMeta);
    if (read > 0) break;
    await sleep(20);
  }
  first.child.kill('SIGSTOP');
  const paused = await checkpoint();
  assert.ok(paused !== undefined);

  // A second worker started at once (a supervisor restarting a crashed one) is not refused: it
  // waits, saying why, while the first's last checkpoint is recent, then takes the job over and
  // finishes it.
  const second = startFlowmark(['run', '--drain'], env);
  const { code: secondCode } = await second.exited;
  assert.equal(secondCode, 0, second.output());
  assert.match(
    second.output(),
    /waiting: another worker of group .* is reading .* \(its last checkpoint was [\d.]+ s ago\)/,
  );
  assert.match(second.output(), /not co-partitioned by user_id/);
  const taken = await checkpoint();
  assert.equal(Number(taken?.epoch), Number(paused.epoch) + 1, 'the waiting worker took one epoch, once');
  assert.ok(Number(taken?.id) > Number(paused.id), 'the second worker committed checkpoints of its own');

  const replay = replayShop(shop);
  const q = async (sql: string) => (await stores.db.query<Record<string, unknown>>(sql)).rows;
  const tables = async () => ({
    checkouts: (await q(`SELECT * FROM ${stores.schema}.attributed_checkouts`)).map(checkoutLine).sort(),
    analytics: analyticsLines(await q(`SELECT * FROM ${stores.schema}.analytics_minute`)),
    deadLetters: (await q(`SELECT raw FROM ${stores.schema}.dead_letters`)).map((r) => String(r.raw)).sort(),
  });
  const afterTakeover = await tables();
  assert.ok(replay.checkouts.length > 50, `the data set has checkouts (${replay.checkouts.length})`);
  assert.deepEqual(afterTakeover.checkouts, replay.checkouts.map(checkoutLine).sort());
  assert.deepEqual(afterTakeover.analytics, analyticsLines(replay.analytics));

  // The first worker wakes up: its next commit is fenced; it stops, saying why, having written nothing.
  first.child.kill('SIGCONT');
  const { code } = await first.exited;
  assert.equal(code, 1, first.output());
  assert.match(first.output(), new RegExp(`another worker of group ${group} took over`));
  assert.deepEqual(await checkpoint(), taken, 'the woken worker committed no checkpoint');
  assert.deepEqual(await tables(), afterTakeover, 'the woken worker wrote no row');
});

function sumOffsets(meta: SnapshotMeta): number {
  let n = 0;
  for (const s of Object.values(meta.sources)) for (const o of Object.values(s.offsets)) n += o;
  return n;
}
