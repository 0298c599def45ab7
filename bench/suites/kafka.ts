/**
 * End to end over Apache Kafka (issues 6 and 7): generated events imported once into two topics
 * of 4 partitions keyed by user_id (`flowmark import --kafka`, untimed), then, side by side in
 * each round:
 * - raw: the Kafka client alone — `KafkaSource.standalone` over every partition of both topics,
 *   drained, values counted and dropped (the reference: what reading costs with no processing);
 * - one: `flowmark run --kafka --drain` as one worker process (a fresh group and schema);
 * - two, four: two (four) such processes in one group on one schema, started together, timed until all exit;
 *   their CPU per event against one worker's is the coordination tax (issue 16: 4 workers ≤ 1.1×);
 * - unkeyed, unkeyedTwo: the same events in two more topics without keys (the reference producers'
 *   way), read by 1 and 2 workers, which repartition them by user_id into internal topics.
 *
 * The broker is private: `scripts/kafka.sh start` on free ports with its state in a temp dir,
 * stopped at the end, also on failure and Ctrl-C (bench/support/kafka-broker.ts); `--kafka
 * HOST:PORT` uses a running one instead (the topics get unique names and are deleted afterwards). PostgreSQL comes from
 * `--database-url` or $FLOWMARK_TEST_PG_URL, a fresh schema `fm_bench_kafka_*` per run, dropped
 * afterwards. The worker processes are timed from spawn to exit: Node's start, the group join
 * and the drain's end detection are part of the figure, as they are of a real `run --drain`;
 * the time each worker reports itself ("run: N events in X s") is shown next to it. With
 * `/usr/bin/time` present, the CPU seconds and peak RSS of the workers are measured too: on a
 * shared machine, CPU per event is steadier than wall time.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { loadProducts, loadUsers } from '../../src/cli/dimension-loading.ts';
import { KafkaAdmin, KafkaProducer } from '../../src/connectors/kafka/index.ts';
import { writeDataSet } from '../support/data-sets.ts';
import {
  type Cost,
  costMeter,
  describeCost,
  flowmark,
  runKafkaWorker,
  type WorkerRun,
} from '../support/flowmark-process.ts';
import { type Broker, openBroker, rawConsume } from '../support/kafka-broker.ts';
import { COUNTED_TABLES, type Written, writtenBy } from '../support/output-tables.ts';
import { type BenchResult, fmt, fmtCount, pct } from '../support/report.ts';
import { shopSchema } from '../support/shop-schema.ts';
import { sideBySide, type Work } from '../support/side-by-side.ts';

const PARTITIONS = 4;
const ROUNDS = 3;
/** A worker's own run time past this is kept with its stderr (a stall to look into). */
const SLOW_RUN_SECONDS = 30;

export const NO_KAFKA_DATABASE_MESSAGE =
  'kafka benchmark: not measured — it needs a PostgreSQL server: --database-url URL or $FLOWMARK_TEST_PG_URL';

export interface KafkaBenchOptions {
  events: number;
  /** A PostgreSQL server; absent: the benchmark is skipped with a message. */
  databaseUrl: string | undefined;
  /** A running broker (`HOST:PORT`); absent: a private one from scripts/kafka.sh. */
  kafka: string | undefined;
  /** A directory: one more 1-worker run, untimed, under `node --cpu-prof` into it. */
  cpuProfDir?: string;
}

/** One round of a variant. */
interface Outcome {
  runs: WorkerRun[];
  written: Written;
  cost: Cost;
}

function notMeasured(reason: string): BenchResult[] {
  process.stderr.write(`${reason}\n`);
  return [{ name: 'kafka: end to end over Apache Kafka', figures: {}, rows: [['not measured', reason]] }];
}

export async function kafkaBenchmarks(o: KafkaBenchOptions): Promise<BenchResult[]> {
  const url = o.databaseUrl;
  if (url === undefined) return notMeasured(NO_KAFKA_DATABASE_MESSAGE);
  const n = o.events;
  // Generous (a drain of 500 k events takes well under a minute here): only a hang reaches it.
  const timeoutMs = 120_000 + n;
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-kafka-'));
  const id = randomBytes(4).toString('hex');
  const topics = { clicks: `fm_bench_${id}_clicks`, checkouts: `fm_bench_${id}_checkouts` };
  const env = {
    ...process.env,
    FLOWMARK_KAFKA_TOPICS_CLICKS: topics.clicks,
    FLOWMARK_KAFKA_TOPICS_CHECKOUTS: topics.checkouts,
  };
  const unkeyedTopics = { clicks: `fm_bench_${id}_uk_clicks`, checkouts: `fm_bench_${id}_uk_checkouts` };
  const unkeyedEnv = {
    ...process.env,
    FLOWMARK_KAFKA_TOPICS_CLICKS: unkeyedTopics.clicks,
    FLOWMARK_KAFKA_TOPICS_CHECKOUTS: unkeyedTopics.checkouts,
  };
  /** The groups the runs used: their internal (repartition) topics are deleted at the end. */
  const groups: string[] = [];
  const schemas: string[] = []; // created on the server, dropped at the end
  let admin: pg.Client | undefined;
  let broker: Broker | undefined;
  try {
    const opened = await openBroker(o.kafka, dir);
    if ('error' in opened) return notMeasured(`kafka benchmark: not measured — ${opened.error}`);
    broker = opened;
    const bootstrap = broker.bootstrap;
    admin = new pg.Client({ connectionString: url });
    await admin.connect();

    // As the embedded benchmark: 5 % of events out of order by up to 5 s.
    const ds = writeDataSet(dir, n, { disorder: 0.05, maxDisorderMs: 5000 });
    const [users, products] = await Promise.all([loadUsers(ds.users), loadProducts(ds.products)]);

    // Untimed, once: the events into the topics (the import's dead letters, if any, into a schema of their own).
    const importSchema = `fm_bench_kafka_${id}_import`;
    schemas.push(importSchema);
    const t0 = performance.now();
    const importArgs = ['--partitions', String(PARTITIONS), '--events', ds.events, '--database-url', url];
    await flowmark(
      [
        'import',
        '--kafka',
        bootstrap,
        ...importArgs,
        '--database-schema',
        importSchema,
        '--data-dir',
        join(dir, 'import'),
      ],
      env,
      { timeoutMs },
    );
    const importSeconds = (performance.now() - t0) / 1000;
    // The same events into two more topics WITHOUT keys, as the reference producers write them:
    // the workers repartition them by user_id into the group's internal topics (issue 16).
    await loadUnkeyed(bootstrap, unkeyedTopics, ds.events);

    // Untimed, per run: a fresh schema with the shop loaded, a fresh group.
    let run = 0;
    let current: { schema: string; runs: WorkerRun[] } | undefined;
    const fresh = async () => {
      const name = `fm_bench_kafka_${id}_${run++}`;
      schemas.push(name);
      await shopSchema(url, name, users, products);
      mkdirSync(join(dir, name));
      return name;
    };
    const workers =
      (count: number, topicEnv = env) =>
      async (): Promise<Work> => {
        const schema = await fresh();
        const group = `${schema}_group`;
        groups.push(group);
        return async () => {
          const runs = await Promise.all(
            Array.from({ length: count }, (_, w) =>
              runKafkaWorker(bootstrap, url, schema, group, join(dir, schema, `worker-${w}`), topicEnv, timeoutMs),
            ),
          );
          current = { schema, runs };
          // A drain that took far longer than its peers waited for something: keep what it said.
          for (const [w, r] of runs.entries()) {
            if (r.runSeconds > SLOW_RUN_SECONDS) {
              const file = join(tmpdir(), `flowmark-bench-kafka-slow-${schema}-worker-${w}.log`);
              writeFileSync(file, r.stderr);
              process.stderr.write(
                `kafka bench: worker ${w} of ${schema} ran ${r.runSeconds} s; its stderr is in ${file}\n`,
              );
            }
          }
          return runs;
        };
      };
    let meter = costMeter(broker.pid);
    const variants: Record<string, () => Work | Promise<Work>> = {
      raw: () => () => rawConsume(bootstrap, [topics.clicks, topics.checkouts], PARTITIONS),
      one: workers(1),
      two: workers(2),
      four: workers(4),
      unkeyed: workers(1, unkeyedEnv),
      unkeyedTwo: workers(2, unkeyedEnv),
    };

    const outcomes: Record<string, Outcome[]> = {};
    let rawBytes = 0;
    const t = await sideBySide(
      Object.fromEntries(
        Object.entries(variants).map(([name, prepare]) => [
          name,
          async () => {
            const work = await prepare();
            return async () => {
              meter = costMeter(broker?.pid);
              return work();
            };
          },
        ]),
      ),
      ROUNDS,
      async (name, result, seconds) => {
        const cost = meter(seconds);
        if (name === 'raw') {
          const r = result as { records: number; bytes: number };
          if (r.records !== n) throw new Error(`raw consume read ${r.records} records, expected ${n}`);
          rawBytes = r.bytes;
          (outcomes.raw ??= []).push({
            runs: [],
            written: { rows: {}, checkouts: 0, notFinal: 0, checksum: '' },
            cost,
          });
          return;
        }
        if (current === undefined || admin === undefined) return;
        const { schema, runs } = current;
        current = undefined;
        const w = await writtenBy(admin, schema);
        (outcomes[name] ??= []).push({ runs, written: w, cost });
        await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
        schemas.splice(schemas.indexOf(schema), 1);
        rmSync(join(dir, schema), { recursive: true, force: true });
      },
    );

    let profile: string | undefined;
    if (o.cpuProfDir !== undefined) {
      process.stderr.write(`kafka bench: one more 1-worker run under --cpu-prof into ${o.cpuProfDir}\n`);
      mkdirSync(o.cpuProfDir, { recursive: true });
      const schema = await fresh();
      await runKafkaWorker(bootstrap, url, schema, `${schema}_group`, join(dir, schema, 'worker-0'), env, timeoutMs, [
        '--cpu-prof',
        `--cpu-prof-dir=${o.cpuProfDir}`,
      ]);
      profile = o.cpuProfDir;
    }

    return [report(n, ds.bytes, rawBytes, importSeconds, t.seconds, outcomes, broker.pid !== undefined, profile)];
  } finally {
    if (admin !== undefined) {
      for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
      await admin.end();
    }
    if (broker !== undefined && o.kafka !== undefined) {
      const a = new KafkaAdmin({ bootstrap: [o.kafka] });
      const internal = groups.flatMap((g) => [`${g}-repartition-clicks`, `${g}-repartition-checkouts`]);
      await a
        .deleteTopics([topics.clicks, topics.checkouts, unkeyedTopics.clicks, unkeyedTopics.checkouts, ...internal])
        .catch(() => undefined);
      await a.close().catch(() => undefined);
    }
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(
  n: number,
  fileBytes: number,
  rawBytes: number,
  importSeconds: number,
  seconds: Record<string, number>,
  outcomes: Record<string, Outcome[]>,
  privateBroker: boolean,
  profile: string | undefined,
): BenchResult {
  const rate = (name: string) => n / (seconds[name] as number);
  const raw = rate('raw');
  const one = rate('one');
  const two = rate('two');
  const four = rate('four');
  // The round whose time is the median: its CPU figures go with the median time.
  const medianRound = (name: string): Outcome | undefined => {
    const rounds = [...(outcomes[name] ?? [])].sort((a, b) => a.cost.seconds - b.cost.seconds);
    return rounds[(rounds.length - 1) >> 1];
  };
  const roundTimes = (name: string) => (outcomes[name] ?? []).map((o) => o.cost.seconds.toFixed(1)).join(', ');
  const figures: Record<string, number> = {
    events: n,
    partitions: PARTITIONS,
    import_events_per_s: n / importSeconds,
    raw_events_per_s: raw,
    raw_mb_per_s: rawBytes / 1e6 / (seconds.raw as number),
    one_worker_events_per_s: one,
    two_workers_events_per_s: two,
    four_workers_events_per_s: four,
    one_to_raw: one / raw,
    scaling_two_to_one: two / one,
    scaling_four_to_one: four / one,
  };
  const rawCost = medianRound('raw')?.cost;
  const table: BenchResult['rows'] = [
    [
      'events (bytes)',
      `${fmt(n)} (${(fileBytes / 2 ** 20).toFixed(0)} MiB), 5 % out of order by ≤ 5 s; topics of ${PARTITIONS} partitions keyed by user_id`,
    ],
    ['broker', privateBroker ? 'private (scripts/kafka.sh, one broker+controller, -Xmx512m)' : 'given with --kafka'],
    ['(untimed) flowmark import --kafka, events/s', fmt(n / importSeconds)],
    [
      '(a) raw consume: KafkaSource.standalone, both topics, all partitions, no processing, events/s',
      `${fmt(raw)} (${(rawBytes / 1e6 / (seconds.raw as number)).toFixed(1)} MB/s of values)`,
    ],
    [
      `  seconds per round; the machine's CPU (median round)`,
      `${roundTimes('raw')}; ${describeCost(rawCost, Number.NaN)}`,
    ],
  ];
  const checks: string[] = [];
  for (const [name, label, r] of [
    ['one', '(b) flowmark run --kafka --drain, 1 worker', one],
    ['two', '(c) flowmark run --kafka --drain, 2 workers (one group, one schema)', two],
    ['four', '(d) flowmark run --kafka --drain, 4 workers (one group, one schema, a partition each)', four],
    ['unkeyed', '(e) the same events in topics without keys (repartitioned by user_id), 1 worker', rate('unkeyed')],
    ['unkeyedTwo', '(f) the unkeyed topics, 2 workers (one group, one schema)', rate('unkeyedTwo')],
  ] as const) {
    const secs = seconds[name] as number;
    const out = medianRound(name);
    const rows = Object.values(out?.written.rows ?? {}).reduce((a, b) => a + b, 0);
    const runs = out?.runs ?? [];
    const cpu = runs.reduce((a, w) => a + w.cpuSeconds, 0);
    const reported = Math.max(...runs.map((w) => w.runSeconds));
    figures[`${name}_seconds`] = secs;
    figures[`${name}_rows_written`] = rows;
    figures[`${name}_rows_per_s`] = rows / secs;
    figures[`${name}_worker_cpu_s`] = cpu;
    figures[`${name}_worker_cpu_us_per_event`] = (cpu / n) * 1e6;
    figures[`${name}_broker_cpu_s`] = out?.cost.brokerCpu ?? Number.NaN;
    figures[`${name}_machine_cores_busy`] = out === undefined ? Number.NaN : out.cost.machineBusy / out.cost.seconds;
    table.push(
      [`${label}, events/s (spawn → every worker exited)`, fmt(r)],
      [
        `  seconds per round; in the median round as the workers report it (reading → drain's end, slowest)`,
        `${roundTimes(name)}; ${reported.toFixed(1)} s`,
      ],
      [`  rows written, rows/s`, `${fmtCount(rows)}, ${fmt(rows / secs)}/s`],
      [`  rows by table`, COUNTED_TABLES.map((tb) => `${tb} ${fmtCount(out?.written.rows[tb] ?? 0)}`).join(', ')],
      [
        `  events read per worker (reads of a partition another worker took over are not counted)`,
        runs.map((w) => fmtCount(w.recordsRead)).join(' + '),
      ],
      [
        `  worker CPU (user + sys, all workers), µs per event (= CPU s per million events); peak RSS per worker (median round)`,
        Number.isNaN(cpu)
          ? 'not measured (no /usr/bin/time)'
          : `${cpu.toFixed(1)} s, ${((cpu / n) * 1e6).toFixed(0)} µs/event; ${runs.map((w) => `${(w.maxRssKiB / 1024).toFixed(0)} MiB`).join(', ')}`,
      ],
      [`  the machine's CPU (median round)`, describeCost(out?.cost, cpu)],
    );
    checks.push(`${name}: ${out?.written.checkouts} checkouts, md5 ${out?.written.checksum}`);
  }
  // Every round of (b) and (c) must agree, not only the last ones.
  const variants = ['one', 'two', 'four', 'unkeyed', 'unkeyedTwo'];
  const all = variants.flatMap((v) => outcomes[v] ?? []).map((x) => x.written);
  const first = all[0];
  const same =
    first !== undefined &&
    variants.every((v) => (outcomes[v]?.length ?? 0) > 0) &&
    all.every((w) => w.checkouts === first.checkouts && w.checksum === first.checksum && w.notFinal === 0);
  figures.same_attributed_checkouts = same ? 1 : 0;
  const cpuOf = (name: string) => figures[`${name}_worker_cpu_us_per_event`] ?? Number.NaN;
  const cpuRatio = (name: string) => cpuOf(name) / cpuOf('one');
  figures.cpu_per_event_two_to_one = cpuRatio('two');
  figures.cpu_per_event_four_to_one = cpuRatio('four');
  table.push(
    ['(b) / (a): 1 worker end to end vs the raw consume', pct(one, raw)],
    ['scaling (c) / (b): 2 workers vs 1', `${(two / one).toFixed(2)}×`],
    ['scaling (d) / (b): 4 workers vs 1', `${(four / one).toFixed(2)}×`],
    [
      'unkeyed topics vs keyed, 1 worker (e) / (b); 2 workers vs 1 on unkeyed (f) / (e)',
      `${(rate('unkeyed') / one).toFixed(2)}×; ${(rate('unkeyedTwo') / rate('unkeyed')).toFixed(2)}×`,
    ],
    [
      'coordination tax: worker CPU per event, 2 and 4 workers vs 1 (target: 4 workers ≤ 1.1×)',
      `${cpuRatio('two').toFixed(2)}×, ${cpuRatio('four').toFixed(2)}×`,
    ],
    [
      `check: (b) to (f) wrote the same attributed_checkouts in all ${ROUNDS} rounds (count, md5 over checkout_id, click_id, is_final; all final)`,
      `${same ? 'yes' : 'NO'} — ${checks.join('; ')}`,
    ],
  );
  if (profile !== undefined) table.push(['(untimed) one more 1-worker run under --cpu-prof', profile]);
  return {
    name: `kafka: flowmark run --kafka --drain over ${fmt(n)} events pre-loaded in a broker (${PARTITIONS} partitions), 1, 2 and 4 workers into PostgreSQL, vs the raw consume`,
    figures,
    rows: table,
  };
}

/** Writes the events file's lines into `topics` by type, with no key (as the reference producers do). */
async function loadUnkeyed(
  bootstrap: string,
  topics: { clicks: string; checkouts: string },
  eventsFile: string,
): Promise<void> {
  const admin = new KafkaAdmin({ bootstrap: [bootstrap] });
  try {
    await admin.ensureTopics([
      { name: topics.clicks, partitions: PARTITIONS },
      { name: topics.checkouts, partitions: PARTITIONS },
    ]);
  } finally {
    await admin.close();
  }
  const producer = new KafkaProducer({ bootstrap: [bootstrap] });
  try {
    const lines = createInterface({ input: createReadStream(eventsFile), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (line === '') continue;
      producer.append(line.includes('"checkout_id"') ? topics.checkouts : topics.clicks, line);
      await producer.ready();
    }
    await producer.flush();
  } finally {
    await producer.close();
  }
}
