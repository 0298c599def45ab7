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
  // Ctrl-C must leave neither a JVM nor workers behind: kill the workers, stop the broker, then
  // die of the signal as usual.
  const onSignal = (signal: NodeJS.Signals) => {
    for (const pid of live) killGroup(pid);
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

/** CPU time of the whole machine so far, from /proc/stat: busy and total seconds over all cores. */
function machineCpu(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) / 100, total: total / 100 };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/** What a variant's round cost the machine, next to its own CPU. */
interface Cost {
  seconds: number;
  brokerCpu: number;
  /** CPU seconds the whole machine spent (every process: ours, PostgreSQL, the broker, other work). */
  machineBusy: number;
  /** Cores of the machine over the variant's time (machine CPU seconds / wall seconds). */
  cores: number;
}

/** The process groups of the flowmark processes running now (killed on Ctrl-C, failure or timeout). */
const live = new Set<number>();

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Runs `flowmark …` to the end, in a process group of its own (so that /usr/bin/time and the Node
 * under it go together); rejects with the end of its stderr when it fails, and kills it when it
 * has not exited after `timeoutMs` (a worker that hangs must not hang the benchmark).
 */
function flowmark(
  args: string[],
  env: NodeJS.ProcessEnv,
  o: { nodeFlags?: string[]; timeFile?: string; timeoutMs: number },
): Promise<{ stderr: string }> {
  const argv = [...(o.nodeFlags ?? []), BIN, ...args];
  const child =
    o.timeFile === undefined
      ? spawn(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true })
      : spawn(TIME, ['-f', '%U %S %M', '-o', o.timeFile, process.execPath, ...argv], {
          env,
          stdio: ['ignore', 'ignore', 'pipe'],
          detached: true,
        });
  const pid = child.pid as number;
  live.add(pid);
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(pid);
  }, o.timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      live.delete(pid);
      killGroup(pid); // whatever it left behind
      if (code === 0) return resolve({ stderr });
      const tail = stderr.trim().split('\n').slice(-15).join('\n');
      const why = timedOut
        ? `had not exited after ${(o.timeoutMs / 1000).toFixed(0)} s (killed)`
        : `exited with ${code ?? signal}`;
      reject(new Error(`flowmark ${args.join(' ')} ${why}; its stderr ends:\n${tail}`));
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
  timeoutMs: number,
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
    { nodeFlags, timeoutMs, ...(timeFile === undefined ? {} : { timeFile }) },
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
      // Ctrl-C must not leave workers behind (they run in process groups of their own).
      const onSignal = (signal: NodeJS.Signals) => {
        for (const pid of live) killGroup(pid);
        process.kill(process.pid, signal);
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      broker = {
        bootstrap: o.kafka,
        pid: undefined,
        stop: () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        },
      };
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
      { timeoutMs },
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
            runWorker(bootstrap, url, schema, group, join(dir, schema, `worker-${w}`), env, timeoutMs),
          ),
        );
        current = { schema, runs };
        return runs;
      };
    };
    let before = { broker: 0, machine: machineCpu() };
    const variants: Record<string, () => Work | Promise<Work>> = {
      raw: () => () => rawConsume(bootstrap, [topics.clicks, topics.checkouts]),
      one: workers(1),
      two: workers(2),
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
              before = { broker: cpuSecondsOf(broker?.pid), machine: machineCpu() };
              return work();
            };
          },
        ]),
      ),
      ROUNDS,
      async (name, result, seconds) => {
        const m = machineCpu();
        const cost: Cost = {
          seconds,
          brokerCpu: cpuSecondsOf(broker?.pid) - before.broker,
          machineBusy: m.busy - before.machine.busy,
          cores: (m.total - before.machine.total) / seconds,
        };
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
        const w = await written(admin, schema);
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
      await runWorker(bootstrap, url, schema, `${schema}_group`, join(dir, schema, 'worker-0'), env, timeoutMs, [
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
  outcomes: Record<string, Outcome[]>,
  privateBroker: boolean,
  profile: string | undefined,
): BenchResult {
  const rate = (name: string) => n / (seconds[name] as number);
  const raw = rate('raw');
  const one = rate('one');
  const two = rate('two');
  // The round whose time is the median: its CPU figures go with the median time.
  const medianRound = (name: string): Outcome | undefined => {
    const rounds = [...(outcomes[name] ?? [])].sort((a, b) => a.cost.seconds - b.cost.seconds);
    return rounds[(rounds.length - 1) >> 1];
  };
  const roundTimes = (name: string) => (outcomes[name] ?? []).map((o) => o.cost.seconds.toFixed(1)).join(', ');
  const busy = (c: Cost | undefined, workerCpu: number) =>
    c === undefined
      ? '—'
      : `${(c.machineBusy / c.seconds).toFixed(2)} of ${c.cores.toFixed(0)} cores busy` +
        (Number.isNaN(workerCpu) ? '' : `; the workers ${(workerCpu / c.seconds).toFixed(2)}`) +
        (Number.isNaN(c.brokerCpu) ? '' : `, the broker ${(c.brokerCpu / c.seconds).toFixed(2)}`) +
        '; the rest: PostgreSQL and whatever else runs on the machine';
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
    [`  seconds per round; the machine's CPU (median round)`, `${roundTimes('raw')}; ${busy(rawCost, Number.NaN)}`],
  ];
  const checks: string[] = [];
  for (const [name, label, r] of [
    ['one', '(b) flowmark run --kafka --drain, 1 worker', one],
    ['two', '(c) flowmark run --kafka --drain, 2 workers (one group, one schema)', two],
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
        `  worker CPU (user + sys, all workers), µs per event; peak RSS per worker (median round)`,
        Number.isNaN(cpu)
          ? 'not measured (no /usr/bin/time)'
          : `${cpu.toFixed(1)} s, ${((cpu / n) * 1e6).toFixed(0)} µs/event; ${runs.map((w) => `${(w.maxRssKiB / 1024).toFixed(0)} MiB`).join(', ')}`,
      ],
      [`  the machine's CPU (median round)`, busy(out?.cost, cpu)],
    );
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
