/**
 * End to end over Apache Kafka (issues 6 and 7): generated events imported once into two topics
 * of 4 partitions keyed by user_id (`flowmark import --kafka`, untimed), then, side by side in
 * each round:
 * - raw: the Kafka client alone — `KafkaSource.standalone` over every partition of both topics,
 *   drained, values counted and dropped (the reference: what reading costs with no processing);
 * - one: `flowmark run --kafka --drain` as one worker process (a fresh group and schema);
 * - two: two such processes in one group on one schema, started together, timed until both exit.
 *
 * The broker is private: `scripts/kafka.sh start` on free ports with its state in a temp dir,
 * stopped at the end (also on failure and Ctrl-C); `--kafka HOST:PORT` uses a running one
 * instead (the topics get unique names and are deleted afterwards). PostgreSQL comes from
 * `--database-url` or $FLOWMARK_TEST_PG_URL, a fresh schema `fm_bench_kafka_*` per run, dropped
 * afterwards. The worker processes are timed from spawn to exit: Node's start, the group join
 * and the drain's end detection are part of the figure, as they are of a real `run --drain`;
 * the time each worker reports itself ("run: N events in X s") is shown next to it. With
 * `/usr/bin/time` present, the CPU seconds and peak RSS of the workers are measured too: on a
 * shared machine, CPU per event is steadier than wall time.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { outputMigrations } from '../src/attribution/output-schema.ts';
import { loadProducts, loadUsers } from '../src/cli/dimension-loading.ts';
import { KafkaAdmin, KafkaSource } from '../src/connectors/kafka/index.ts';
import { openPostgresDatabase } from '../src/connectors/postgres/index.ts';
import { upsertProducts, upsertUsers } from '../src/connectors/sql/index.ts';
import { type BenchResult, fmt, fmtCount, pct, sideBySide, type Work, writeDataSet } from './bench-lib.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'flowmark.js');
const KAFKA_SH = join(ROOT, 'scripts', 'kafka.sh');
const TIME = '/usr/bin/time';
const PARTITIONS = 4;
const ROUNDS = 3;
const POLL_RECORDS = 4096;
const COUNTED_TABLES = ['attributed_checkouts', 'attribution_credits', 'dead_letters', 'analytics_minute'] as const;

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

/** A broker for the benchmark, and how to get rid of it. */
interface Broker {
  bootstrap: string;
  /** The JVM's pid when the broker is ours (for its CPU time). */
  pid: number | undefined;
  stop: () => void | Promise<void>;
}

/** What one `flowmark run` process did. */
interface WorkerRun {
  recordsRead: number;
  /** The time the worker reports itself (from its start of reading to the drain's end). */
  runSeconds: number;
  /** user + sys CPU seconds and peak RSS (KiB), from /usr/bin/time; NaN without it. */
  cpuSeconds: number;
  maxRssKiB: number;
  stderr: string;
}

/** What a variant wrote, to compare the variants. */
interface Written {
  rows: Record<string, number>;
  checkouts: number;
  notFinal: number;
  /** md5 over (checkout_id, click_id, is_final) of every attributed checkout, in checkout_id order. */
  checksum: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function sh(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('bash', args, { env, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${args.join(' ')} failed: ${String(stderr).trim() || err.message}`));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A private broker on free ports, state in `dir`; stopped by `stop` (and on Ctrl-C / SIGTERM). */
async function startPrivateBroker(dir: string): Promise<Broker> {
  const port = await freePort();
  let controller = await freePort();
  while (controller === port) controller = await freePort();
  const state = join(dir, 'kafka');
  const env = {
    ...process.env,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(controller),
    FLOWMARK_KAFKA_DIR: state,
  };
  process.stderr.write(`kafka bench: starting a private broker on 127.0.0.1:${port} (scripts/kafka.sh)\n`);
  let stopping: Promise<unknown> | undefined;
  const stop = () => {
    stopping ??= sh([KAFKA_SH, 'stop'], env).catch((err: unknown) => {
      process.stderr.write(`kafka bench: stopping the broker: ${String(err)}\n`);
    });
    return stopping.then(() => undefined);
  };
  // Ctrl-C must not leave a JVM behind: stop it, then die of the signal as usual.
  const onSignal = (signal: NodeJS.Signals) => {
    void stop().finally(() => process.kill(process.pid, signal));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const release = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  try {
    const { stdout } = await sh([KAFKA_SH, 'start'], env);
    const pidText = existsSync(join(state, 'kafka.pid')) ? readFileSync(join(state, 'kafka.pid'), 'utf8') : '';
    return {
      bootstrap: stdout.trim().split('\n').at(-1) ?? `127.0.0.1:${port}`,
      pid: Number(pidText) || undefined,
      stop: async () => {
        await stop();
        release();
      },
    };
  } catch (err) {
    await stop();
    release();
    throw err;
  }
}

/** CPU seconds (user + sys) of a process so far, from /proc; NaN when unknown. */
function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after "pid (comm) ".
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

/** Runs `flowmark …` to the end; rejects with the end of its stderr when it fails. */
function flowmark(
  args: string[],
  env: NodeJS.ProcessEnv,
  nodeFlags: string[] = [],
  timeFile?: string,
): Promise<{ stderr: string }> {
  const command = timeFile === undefined ? process.execPath : TIME;
  const argv = [...nodeFlags, BIN, ...args];
  const full = timeFile === undefined ? argv : ['-f', '%U %S %M', '-o', timeFile, process.execPath, ...argv];
  const child = spawn(command, full, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) return resolve({ stderr });
      const tail = stderr.trim().split('\n').slice(-15).join('\n');
      reject(new Error(`flowmark ${args.join(' ')} exited with ${code ?? signal}:\n${tail}`));
    });
  });
}

async function runWorker(
  bootstrap: string,
  url: string,
  schema: string,
  group: string,
  dataDir: string,
  env: NodeJS.ProcessEnv,
  nodeFlags: string[] = [],
): Promise<WorkerRun> {
  const timeFile = existsSync(TIME) ? `${dataDir}.time` : undefined;
  // Each worker its own data dir, as on machines of their own.
  const { stderr } = await flowmark(
    [
      'run',
      '--kafka',
      bootstrap,
      '--drain',
      '--group',
      group,
      '--database-url',
      url,
      '--database-schema',
      schema,
      '--data-dir',
      dataDir,
    ],
    env,
    nodeFlags,
    timeFile,
  );
  const m = /run: (\d+) events in ([\d.]+) s/.exec(stderr);
  if (m === null) throw new Error(`flowmark run --kafka printed no summary line:\n${stderr}`);
  let cpuSeconds = Number.NaN;
  let maxRssKiB = Number.NaN;
  if (timeFile !== undefined) {
    const [user, sys, rss] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)?.split(' ') ?? [];
    cpuSeconds = Number(user) + Number(sys);
    maxRssKiB = Number(rss);
  }
  return { recordsRead: Number(m[1]), runSeconds: Number(m[2]), cpuSeconds, maxRssKiB, stderr };
}

/** Drains every partition of both topics with the client alone; returns records and value bytes. */
async function rawConsume(bootstrap: string, topics: string[]): Promise<{ records: number; bytes: number }> {
  const partitions = Array.from({ length: PARTITIONS }, (_, p) => p);
  const sources = topics.map((topic) =>
    KafkaSource.standalone({ bootstrap: [bootstrap], topic, partitions, endAtOpen: true, clientId: 'flowmark-bench' }),
  );
  let records = 0;
  let bytes = 0;
  try {
    await Promise.all(
      sources.map(async (source) => {
        await source.open();
        for (;;) {
          const r = await source.poll(POLL_RECORDS);
          records += r.records.length;
          for (const rec of r.records) bytes += rec.value.length;
          if (r.ended) return;
        }
      }),
    );
  } finally {
    await Promise.all(sources.map((s) => s.close()));
  }
  return { records, bytes };
}

async function written(db: pg.Client, schema: string): Promise<Written> {
  const rows: Record<string, number> = {};
  for (const table of COUNTED_TABLES) {
    const { rows: r } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${schema}"."${table}"`);
    rows[table] = Number(r[0]?.n ?? 0);
  }
  const { rows: c } = await db.query<{ n: string; not_final: string; checksum: string }>(
    `SELECT count(*)::text AS n, count(*) FILTER (WHERE NOT is_final)::text AS not_final,
            md5(coalesce(string_agg(checkout_id || '|' || coalesce(click_id, '-') || '|' || is_final::text, ','
                ORDER BY checkout_id), '')) AS checksum
       FROM "${schema}".attributed_checkouts`,
  );
  return {
    rows,
    checkouts: Number(c[0]?.n ?? 0),
    notFinal: Number(c[0]?.not_final ?? 0),
    checksum: c[0]?.checksum ?? '',
  };
}

function notMeasured(reason: string): BenchResult[] {
  process.stderr.write(`${reason}\n`);
  return [{ name: 'kafka: end to end over Apache Kafka', figures: {}, rows: [['not measured', reason]] }];
}

export async function kafkaBenchmarks(o: KafkaBenchOptions): Promise<BenchResult[]> {
  const url = o.databaseUrl;
  if (url === undefined) return notMeasured(NO_KAFKA_DATABASE_MESSAGE);
  const n = o.events;
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-kafka-'));
  const id = randomBytes(4).toString('hex');
  const topics = { clicks: `fm_bench_${id}_clicks`, checkouts: `fm_bench_${id}_checkouts` };
  const env = {
    ...process.env,
    FLOWMARK_KAFKA_TOPICS_CLICKS: topics.clicks,
    FLOWMARK_KAFKA_TOPICS_CHECKOUTS: topics.checkouts,
  };
  const schemas: string[] = []; // created on the server, dropped at the end
  let admin: pg.Client | undefined;
  let broker: Broker | undefined;
  try {
    if (o.kafka === undefined) {
      try {
        broker = await startPrivateBroker(dir);
      } catch (err) {
        return notMeasured(
          `kafka benchmark: not measured — no broker: scripts/kafka.sh start failed (${String(err).trim()}); give --kafka HOST:PORT to use a running one`,
        );
      }
    } else {
      broker = { bootstrap: o.kafka, pid: undefined, stop: () => undefined };
    }
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
    await flowmark(
      [
        'import',
        '--kafka',
        bootstrap,
        '--partitions',
        String(PARTITIONS),
        '--events',
        ds.events,
        '--database-url',
        url,
        '--database-schema',
        importSchema,
        '--data-dir',
        join(dir, 'import'),
      ],
      env,
    );
    const importSeconds = (performance.now() - t0) / 1000;

    // Untimed, per run: a fresh schema with the shop loaded, a fresh group.
    let run = 0;
    let current: { schema: string; runs: WorkerRun[] } | undefined;
    const fresh = async () => {
      const name = `fm_bench_kafka_${id}_${run++}`;
      schemas.push(name);
      const db = await openPostgresDatabase(url, { migrations: outputMigrations(name), schema: name, poolSize: 2 });
      try {
        await upsertUsers(db, [...users.values()], { schema: name });
        await upsertProducts(db, [...products.values()], { schema: name });
      } finally {
        await db.close();
      }
      mkdirSync(join(dir, name));
      return name;
    };
    const workers = (count: number) => async (): Promise<Work> => {
      const schema = await fresh();
      const group = `${schema}_group`;
      return async () => {
        const runs = await Promise.all(
          Array.from({ length: count }, (_, w) =>
            runWorker(bootstrap, url, schema, group, join(dir, schema, `worker-${w}`), env),
          ),
        );
        current = { schema, runs };
        return runs;
      };
    };
    let brokerCpu0 = 0;
    const variants: Record<string, () => Work | Promise<Work>> = {
      raw: () => () => rawConsume(bootstrap, [topics.clicks, topics.checkouts]),
      one: workers(1),
      two: workers(2),
    };

    const outcomes: Record<string, Array<{ runs: WorkerRun[]; written: Written; brokerCpu: number }>> = {};
    let rawBytes = 0;
    const t = await sideBySide(
      Object.fromEntries(
        Object.entries(variants).map(([name, prepare]) => [
          name,
          async () => {
            const work = await prepare();
            return async () => {
              brokerCpu0 = cpuSecondsOf(broker?.pid);
              return work();
            };
          },
        ]),
      ),
      ROUNDS,
      async (name, result) => {
        const brokerCpu = cpuSecondsOf(broker?.pid) - brokerCpu0;
        if (name === 'raw') {
          const r = result as { records: number; bytes: number };
          if (r.records !== n) throw new Error(`raw consume read ${r.records} records, expected ${n}`);
          rawBytes = r.bytes;
          (outcomes.raw ??= []).push({
            runs: [],
            written: { rows: {}, checkouts: 0, notFinal: 0, checksum: '' },
            brokerCpu,
          });
          return;
        }
        if (current === undefined || admin === undefined) return;
        const { schema, runs } = current;
        current = undefined;
        const w = await written(admin, schema);
        (outcomes[name] ??= []).push({ runs, written: w, brokerCpu });
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
      await runWorker(bootstrap, url, schema, `${schema}_group`, join(dir, schema, 'worker-0'), env, [
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
      await a.deleteTopics([topics.clicks, topics.checkouts]).catch(() => undefined);
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
  outcomes: Record<string, Array<{ runs: WorkerRun[]; written: Written; brokerCpu: number }>>,
  privateBroker: boolean,
  profile: string | undefined,
): BenchResult {
  const rate = (name: string) => n / (seconds[name] as number);
  const raw = rate('raw');
  const one = rate('one');
  const two = rate('two');
  const last = (name: string) => outcomes[name]?.at(-1);
  const figures: Record<string, number> = {
    events: n,
    partitions: PARTITIONS,
    import_events_per_s: n / importSeconds,
    raw_events_per_s: raw,
    raw_mb_per_s: rawBytes / 1e6 / (seconds.raw as number),
    one_worker_events_per_s: one,
    two_workers_events_per_s: two,
    one_to_raw: one / raw,
    scaling_two_to_one: two / one,
  };
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
  ];
  const checks: string[] = [];
  for (const [name, label, r] of [
    ['one', '(b) flowmark run --kafka --drain, 1 worker', one],
    ['two', '(c) flowmark run --kafka --drain, 2 workers (one group, one schema)', two],
  ] as const) {
    const secs = seconds[name] as number;
    const out = last(name);
    const rows = Object.values(out?.written.rows ?? {}).reduce((a, b) => a + b, 0);
    const runs = out?.runs ?? [];
    const cpu = runs.reduce((a, w) => a + w.cpuSeconds, 0);
    const reported = Math.max(...runs.map((w) => w.runSeconds));
    figures[`${name}_seconds`] = secs;
    figures[`${name}_rows_written`] = rows;
    figures[`${name}_rows_per_s`] = rows / secs;
    figures[`${name}_worker_cpu_s`] = cpu;
    figures[`${name}_worker_cpu_us_per_event`] = (cpu / n) * 1e6;
    figures[`${name}_broker_cpu_s`] = out?.brokerCpu ?? Number.NaN;
    table.push(
      [`${label}, events/s (spawn → every worker exited)`, fmt(r)],
      [
        `  seconds; as the workers report (reading → drain's end), slowest`,
        `${secs.toFixed(1)} s; ${reported.toFixed(1)} s`,
      ],
      [`  rows written, rows/s`, `${fmtCount(rows)}, ${fmt(rows / secs)}/s`],
      [`  rows by table`, COUNTED_TABLES.map((tb) => `${tb} ${fmtCount(out?.written.rows[tb] ?? 0)}`).join(', ')],
      [
        `  events read per worker (reads of a partition another worker took over are not counted)`,
        runs.map((w) => fmtCount(w.recordsRead)).join(' + '),
      ],
      [
        `  worker CPU (user + sys, all workers), µs per event; peak RSS per worker`,
        Number.isNaN(cpu)
          ? 'not measured (no /usr/bin/time)'
          : `${cpu.toFixed(1)} s, ${((cpu / n) * 1e6).toFixed(0)} µs/event; ${runs.map((w) => `${(w.maxRssKiB / 1024).toFixed(0)} MiB`).join(', ')}`,
      ],
    );
    if (privateBroker) table.push([`  broker CPU during the run`, `${(out?.brokerCpu ?? Number.NaN).toFixed(1)} s`]);
    checks.push(`${name}: ${out?.written.checkouts} checkouts, md5 ${out?.written.checksum}`);
  }
  // Every round of (b) and (c) must agree, not only the last ones.
  const all = [...(outcomes.one ?? []), ...(outcomes.two ?? [])].map((x) => x.written);
  const first = all[0];
  const same =
    first !== undefined &&
    (outcomes.one?.length ?? 0) > 0 &&
    (outcomes.two?.length ?? 0) > 0 &&
    all.every((w) => w.checkouts === first.checkouts && w.checksum === first.checksum && w.notFinal === 0);
  figures.same_attributed_checkouts = same ? 1 : 0;
  table.push(
    ['(b) / (a): 1 worker end to end vs the raw consume', pct(one, raw)],
    ['scaling (c) / (b): 2 workers vs 1', `${(two / one).toFixed(2)}×`],
    [
      `check: (b) and (c) wrote the same attributed_checkouts in all ${ROUNDS} rounds (count, md5 over checkout_id, click_id, is_final; all final)`,
      `${same ? 'yes' : 'NO'} — ${checks.join('; ')}`,
    ],
  );
  if (profile !== undefined) table.push(['(untimed) one more 1-worker run under --cpu-prof', profile]);
  return {
    name: `kafka: flowmark run --kafka --drain over ${fmt(n)} events pre-loaded in a broker (${PARTITIONS} partitions), 1 and 2 workers into PostgreSQL, vs the raw consume`,
    figures,
    rows: table,
  };
}
