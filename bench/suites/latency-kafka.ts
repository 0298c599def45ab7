/**
 * Latency of a live Kafka worker (issue 16): `flowmark produce --kafka --rate R` (the simulated
 * website, a process of its own, keyed by user_id into topics of 4 partitions) while one
 * `flowmark run --kafka` worker (live, not --drain) attributes into PostgreSQL. Measured for every
 * record after a warm-up, not sampled:
 *
 * - produce → committed: the record's Kafka timestamp (set by the producing client when it sends)
 *   → the commit of the first checkpoint of its partition job whose source offsets cover it.
 *
 * How commits are timed, from outside the worker: a deferred constraint trigger on the job's
 * `checkpoints` table logs every checkpoint's source offsets with `clock_timestamp()` — deferred,
 * so it runs at COMMIT, after every statement of the checkpoint's transaction (the commit record's
 * own WAL flush, ~1 ms here, is the only part not counted). After the producer stops, the worker
 * runs until its checkpoints cover every record (at most 60 s; a record never covered counts as
 * never committed), is stopped with SIGINT, and the topics are read back (offsets, timestamps).
 *
 * Needs a PostgreSQL server and a broker: `--kafka HOST:PORT` (or $FLOWMARK_TEST_KAFKA), else a
 * private one from scripts/kafka.sh. Fresh topics, group and schema per rate, deleted afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseCheckout } from '../../src/attribution/events/index.ts';
import { KafkaAdmin, KafkaSource } from '../../src/connectors/kafka/index.ts';
import { Rejected } from '../../src/engine/index.ts';
import { killLiveProcesses, type RunningFlowmark, startFlowmark } from '../support/flowmark-process.ts';
import { openBroker } from '../support/kafka-broker.ts';
import { type Percentiles, percentiles } from '../support/live-run.ts';
import { type BenchResult, fmt, fmtCount } from '../support/report.ts';
import { benchSchema } from '../support/services.ts';

const PARTITIONS = 4;
const WARMUP_MS = 3000;
const COVER_CAP_MS = 60_000;

export interface KafkaLatencyOptions {
  rates: number[];
  seconds: number;
  databaseUrl: string | undefined;
  kafka: string | undefined;
}

interface Logged {
  job: string;
  atMs: number;
  /** Source id (clicks, checkouts) → partition → next offset. */
  offsets: Record<string, Record<string, number>>;
}

interface RateResult {
  rate: number;
  produced: number;
  achieved: number;
  checkouts: Percentiles;
  all: Percentiles;
  commits: number;
  commitsPerSecond: number;
}

function ms(x: number): string {
  if (x === Number.POSITIVE_INFINITY) return 'never';
  if (Number.isNaN(x)) return 'n/a';
  return x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`;
}

const p3 = (p: Percentiles) => `${ms(p.p50)} / ${ms(p.p99)} / ${ms(p.p999)} (n = ${fmtCount(p.n)})`;

async function waitUntil(what: string, capMs: number, done: () => Promise<boolean>, worker?: RunningFlowmark) {
  const until = Date.now() + capMs;
  while (!(await done())) {
    if (Date.now() > until) return false;
    if (worker !== undefined && (await Promise.race([worker.exited.then(() => true), sleep(0).then(() => false)]))) {
      throw new Error(`latency kafka: the worker exited while waiting for ${what}:\n${worker.stderr().slice(-2000)}`);
    }
    await sleep(100);
  }
  return true;
}

function sleep(msDelay: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msDelay));
}

async function measureRate(
  rate: number,
  o: KafkaLatencyOptions & { databaseUrl: string },
  bootstrap: string,
  admin: pg.Client,
): Promise<RateResult> {
  const id = randomBytes(4).toString('hex');
  const topics = { clicks: `fm_lat_${id}_clicks`, checkouts: `fm_lat_${id}_checkouts` };
  const schema = benchSchema('latency_kafka');
  const group = `${schema}_group`;
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-latency-kafka-'));
  const env = {
    ...process.env,
    FLOWMARK_KAFKA_BOOTSTRAP: bootstrap,
    FLOWMARK_KAFKA_TOPICS_CLICKS: topics.clicks,
    FLOWMARK_KAFKA_TOPICS_CHECKOUTS: topics.checkouts,
    FLOWMARK_KAFKA_GROUP: group,
    FLOWMARK_KAFKA_PARTITIONS: String(PARTITIONS),
    FLOWMARK_DATABASE_URL: o.databaseUrl,
    FLOWMARK_DATABASE_SCHEMA: schema,
  };
  const kafkaAdmin = new KafkaAdmin({ bootstrap: [bootstrap] });
  /** A reader of every partition of `topic`, up to its end now. */
  const readerOf = (topic: string) =>
    KafkaSource.standalone({
      bootstrap: [bootstrap],
      topic,
      partitions: Array.from({ length: PARTITIONS }, (_, p) => p),
      endAtOpen: true,
      clientId: 'flowmark-bench',
    });
  let worker: RunningFlowmark | undefined;
  try {
    await kafkaAdmin.ensureTopics([
      { name: topics.clicks, partitions: PARTITIONS },
      { name: topics.checkouts, partitions: PARTITIONS },
    ]);
    // The shop first (the producer writes it), so that the worker enriches from the start.
    const seed = await startFlowmark(['produce', '--events', '1', '--seed', '7', '--data-dir', join(dir, 'p0')], env)
      .exited;
    if (seed.code !== 0) throw new Error(`flowmark produce (the shop) failed:\n${seed.stderr.slice(-2000)}`);

    worker = startFlowmark(['run', '--data-dir', join(dir, 'worker')], env);
    const logTable = `"${schema}".bench_commit_log`;
    // The worker creates its tables at start; then the commit log and its trigger go in.
    await waitUntil(
      'its tables',
      60_000,
      async () =>
        (await admin.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`"${schema}".checkpoints`])).rows[0].ok ===
        true,
      worker,
    );
    await admin.query(`
      CREATE TABLE ${logTable} (job text, sources jsonb, at timestamptz);
      CREATE FUNCTION "${schema}".bench_log_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO ${logTable} VALUES (NEW.job, NEW.meta->'sources', clock_timestamp());
        RETURN NULL;
      END $$;
      CREATE CONSTRAINT TRIGGER bench_log_commit AFTER UPDATE ON "${schema}".checkpoints
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${schema}".bench_log_commit();`);
    const covered = async () => (await admin.query(`SELECT count(DISTINCT job)::int AS n FROM ${logTable}`)).rows[0].n;
    // Running: every partition job has committed once since the trigger went in.
    if (!(await waitUntil('its first checkpoints', 60_000, async () => (await covered()) >= PARTITIONS, worker))) {
      throw new Error(`latency kafka: the worker's ${PARTITIONS} partition jobs did not all commit within 60 s`);
    }

    const produceStarted = Date.now();
    const producer = startFlowmark(
      ['produce', '--rate', String(rate), '--duration', `${o.seconds}s`, '--seed', '8', '--data-dir', join(dir, 'p1')],
      env,
    );
    const produced = await producer.exited;
    if (produced.code !== 0) throw new Error(`flowmark produce failed:\n${produced.stderr.slice(-2000)}`);

    // The end offsets now; wait until the logged commits cover them.
    const ends = new Map<string, Map<number, number>>();
    for (const [sourceId, topic] of Object.entries(topics)) ends.set(sourceId, await endOffsets(readerOf(topic)));
    const readLog = async (): Promise<Logged[]> =>
      (
        await admin.query<{ job: string; at_ms: number; sources: Logged['offsets'] }>(
          `SELECT job, (extract(epoch FROM at) * 1000)::float8 AS at_ms,
                  jsonb_object_agg(s.key, s.value->'offsets') AS sources
             FROM ${logTable}, jsonb_each(sources) s GROUP BY job, at ORDER BY at`,
        )
      ).rows.map((r) => ({ job: r.job, atMs: Number(r.at_ms), offsets: r.sources }));
    const jobOf = (p: number) => `kafka:${group}:p${p}`;
    const allCovered = async () => {
      const log = await readLog();
      for (const [sourceId, byPartition] of ends) {
        for (const [p, end] of byPartition) {
          if (end === 0) continue;
          const last = log.filter((l) => l.job === jobOf(p)).at(-1);
          if ((last?.offsets[sourceId]?.[String(p)] ?? 0) < end) return false;
        }
      }
      return true;
    };
    await waitUntil('the records to be committed', COVER_CAP_MS, allCovered, worker);
    worker.stop('SIGINT');
    await worker.exited;
    const log = await readLog();

    // Every record back from the topics: partition, offset, timestamp (and whether a checkout).
    const records: Array<{ sourceId: string; p: number; offset: number; tsMs: number }> = [];
    let firstTs = Number.POSITIVE_INFINITY;
    for (const [sourceId, topic] of Object.entries(topics)) {
      const src = readerOf(topic);
      await src.open();
      try {
        for (;;) {
          const r = await src.poll(1 << 14);
          for (const rec of r.records) {
            // The seed event of the shop run came before the worker: not part of the measurement.
            if (rec.timestampMs === undefined || rec.timestampMs < produceStarted) continue;
            if (sourceId === 'checkouts' && parseCheckout(rec.value) instanceof Rejected) continue;
            records.push({ sourceId, p: rec.partition, offset: rec.offset, tsMs: rec.timestampMs });
            if (rec.timestampMs < firstTs) firstTs = rec.timestampMs;
          }
          if (r.ended === true) break;
        }
      } finally {
        await src.close();
      }
    }
    const byJob = new Map<string, Logged[]>();
    for (const l of log) {
      let list = byJob.get(l.job);
      if (list === undefined) byJob.set(l.job, (list = []));
      list.push(l);
    }
    const all: number[] = [];
    const checkouts: number[] = [];
    const from = firstTs + WARMUP_MS;
    const until = firstTs + o.seconds * 1000;
    for (const r of records) {
      if (!(r.tsMs >= from && r.tsMs < until)) continue;
      const commits = byJob.get(jobOf(r.p)) ?? [];
      // The first commit whose next offset for this partition is past the record.
      let lo = 0;
      let hi = commits.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (((commits[mid] as Logged).offsets[r.sourceId]?.[String(r.p)] ?? 0) > r.offset) hi = mid;
        else lo = mid + 1;
      }
      const a = lo < commits.length ? (commits[lo] as Logged).atMs - r.tsMs : Number.POSITIVE_INFINITY;
      all.push(a);
      if (r.sourceId === 'checkouts') checkouts.push(a);
    }
    const inWindow = log.filter((l) => l.atMs >= from && l.atMs < until).length;
    // The rate the producer held while measured (its process start is not in it).
    const achieved = all.length / ((until - from) / 1000);
    return {
      rate,
      produced: records.length,
      achieved,
      checkouts: percentiles(checkouts),
      all: percentiles(all),
      commits: log.length,
      commitsPerSecond: inWindow / ((until - from) / 1000),
    };
  } finally {
    worker?.stop('SIGKILL');
    await worker?.exited.catch(() => undefined);
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await kafkaAdmin.deleteTopics([topics.clicks, topics.checkouts]).catch(() => undefined);
    await kafkaAdmin.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function endOffsets(src: KafkaSource): Promise<Map<number, number>> {
  await src.open();
  try {
    return new Map([...src.bounds()].map(([p, b]) => [p, b.end]));
  } finally {
    await src.close();
  }
}

export async function kafkaLatencyBenchmarks(o: KafkaLatencyOptions): Promise<BenchResult[]> {
  const url = o.databaseUrl;
  const name = 'latency-kafka: a live Kafka worker into PostgreSQL at fixed input rates';
  if (url === undefined) {
    const why = 'it needs a PostgreSQL server: --database-url URL or $FLOWMARK_TEST_PG_URL';
    process.stderr.write(`latency-kafka benchmark: not measured — ${why}\n`);
    return [{ name, figures: {}, rows: [['not measured', why]] }];
  }
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-latency-kafka-broker-'));
  const opened = await openBroker(o.kafka, dir);
  if ('error' in opened) return [{ name, figures: {}, rows: [['not measured', opened.error]] }];
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const results: RateResult[] = [];
  try {
    for (const rate of o.rates) {
      const r = await measureRate(rate, { ...o, databaseUrl: url }, opened.bootstrap, admin);
      process.stderr.write(
        `latency-kafka ${fmt(rate)}/s: achieved ${fmt(r.achieved)}/s, checkouts p99 ${ms(r.checkouts.p99)}, all p99 ${ms(r.all.p99)}\n`,
      );
      results.push(r);
    }
  } catch (err) {
    killLiveProcesses();
    throw err;
  } finally {
    await admin.end();
    await opened.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const figures: Record<string, number> = { partitions: PARTITIONS, seconds: o.seconds };
  const rows: BenchResult['rows'] = [
    [
      'setup',
      `flowmark produce --kafka --rate R (its own process, keyed by user_id, ${PARTITIONS} partitions) → one flowmark run --kafka worker (live, default checkpoint settings) → PostgreSQL; measured: records produced from ${WARMUP_MS / 1000} s to ${o.seconds} s; commit times from a deferred trigger at COMMIT`,
    ],
    ['columns', 'p50 / p99 / p99.9 (n); "never": not committed within 60 s after the producer stopped'],
  ];
  for (const r of results) {
    const f = `r${r.rate}`;
    figures[`${f}_achieved_events_per_s`] = r.achieved;
    figures[`${f}_checkout_p50_ms`] = r.checkouts.p50;
    figures[`${f}_checkout_p99_ms`] = r.checkouts.p99;
    figures[`${f}_checkout_p999_ms`] = r.checkouts.p999;
    figures[`${f}_all_p99_ms`] = r.all.p99;
    figures[`${f}_commits_per_s`] = r.commitsPerSecond;
    rows.push(
      [`${fmt(r.rate)}/s for ${o.seconds} s`, `achieved ${fmt(r.achieved)}/s, ${fmtCount(r.produced)} events`],
      ['  produce → committed, checkouts', p3(r.checkouts)],
      ['  produce → committed, all events', p3(r.all)],
      [
        '  checkpoints',
        `${fmtCount(r.commits)} commits (all partition jobs), ${r.commitsPerSecond.toFixed(1)}/s while measured`,
      ],
    );
  }
  const keeps = results.filter((r) => r.checkouts.p99 <= 1000).map((r) => r.rate);
  figures.knee_low_events_per_s = keeps.length === 0 ? 0 : Math.max(...keeps);
  rows.push([
    'knee (p99 for checkouts ≤ 1 s up to)',
    keeps.length === 0 ? `below ${fmt(Math.min(...o.rates))}/s` : `${fmt(Math.max(...keeps))}/s of the rates run`,
  ]);
  return [{ name, figures, rows }];
}
