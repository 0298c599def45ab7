/**
 * Flink (issue 17): the same job on the same pre-loaded Kafka topics into PostgreSQL, side by
 * side in one run — flowmark `run --kafka --drain` (one worker) and Apache Flink running the SQL
 * `flowmark flink sql` generates (parallelism 1, submitted with `flowmark flink deploy --bounded`
 * through the SQL Gateway), alternating, each round into a fresh schema:
 *
 * - events/s: flowmark's from the start of its process to its exit; Flink's from its job's own
 *   start to its end (the REST API's `duration`), with the submission (session, statements, job
 *   graph) reported apart as start-up, and the cluster's own start not counted at all;
 * - CPU seconds per million events, of all of each system's processes: flowmark's worker
 *   (/usr/bin/time), Flink's JobManager, TaskManager and SQL Gateway JVMs (/proc), and in both
 *   the PostgreSQL server's CPU in the same interval (the postmaster, its live backends and the
 *   ones it reaped: the work each system's writes and look-ups cause). The broker's is shown
 *   apart (both read the same topics);
 * - peak RSS: flowmark's worker; Flink's JVMs (their RSS at the end, the JVM's heap is
 *   pre-reserved: a peak in all but name);
 * - that both wrote the same attributed_checkouts (checkout → click), which they must on input
 *   whose disorder stays within the bound (docs/flink.md lists where they may differ).
 *
 * Needs a PostgreSQL server (--database-url or $FLOWMARK_TEST_PG_URL) and a running Flink with
 * its SQL Gateway ($FLOWMARK_TEST_FLINK and $FLOWMARK_TEST_FLINK_GATEWAY, as `scripts/services.sh
 * flink` leaves them); Kafka: a private broker unless --kafka.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadProducts, loadUsers } from '../../src/cli/dimension-loading.ts';
import { writeDataSet } from '../support/data-sets.ts';
import { cpuSecondsOf, flowmark, runKafkaWorker } from '../support/flowmark-process.ts';
import { openBroker } from '../support/kafka-broker.ts';
import { writtenBy } from '../support/output-tables.ts';
import { type BenchResult, fmt, median } from '../support/report.ts';
import { shopSchema } from '../support/shop-schema.ts';

export interface FlinkBenchOptions {
  events: number;
  rounds: number;
  databaseUrl: string | undefined;
  kafka: string | undefined;
}

const PARTITIONS = 4;
const LOG = (line: string) => process.stderr.write(`[flink] ${line}\n`);

interface Round {
  seconds: number;
  /** Flink: the submission before the job ran (session, statements, job graph). */
  startupSeconds: number;
  cpuSeconds: number;
  pgCpuSeconds: number;
  brokerCpuSeconds: number;
  rssMiB: number;
  checksum: string;
  checkouts: number;
  /** Why the run did not finish (Flink's job FAILED: its root cause), if it did not. */
  failed?: string;
}

function notMeasured(reason: string): BenchResult[] {
  LOG(reason);
  return [{ name: 'flink: flowmark vs Apache Flink on the same job', figures: {}, rows: [['not measured', reason]] }];
}

/** /proc/<pid>/stat fields after "pid (comm) ". */
function statOf(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\u0000', ' ');
  } catch {
    return '';
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/**
 * CPU seconds of the PostgreSQL server so far: every `postgres` process, plus what the
 * postmaster (a `postgres` whose parent is not one) has reaped of its exited backends.
 */
function postgresCpu(): number {
  const all = pids()
    .map((pid) => ({ pid, stat: statOf(pid), cmd: commandOf(pid) }))
    .filter((p) => p.stat !== undefined && /(^|\/)postgres( |$)/.test(p.cmd.split(' ')[0] ?? ''));
  const ids = new Set(all.map((p) => p.pid));
  let s = 0;
  for (const p of all) {
    const f = p.stat as string[];
    s += Number(f[11]) + Number(f[12]);
    // The postmaster's cutime/cstime: the backends it has waited for.
    if (!ids.has(Number(f[1]))) s += Number(f[13]) + Number(f[14]);
  }
  return s / 100;
}

/** The Flink JVMs of the running cluster (JobManager, TaskManagers, SQL Gateway). */
function flinkJvms(): number[] {
  return pids().filter((pid) => /StandaloneSessionClusterEntrypoint|TaskManagerRunner|SqlGateway/.test(commandOf(pid)));
}

function cpuOf(pidList: number[]): number {
  return pidList.reduce((s, pid) => s + (cpuSecondsOf(pid) || 0), 0);
}

function rssMiBOf(pidList: number[]): number {
  let kib = 0;
  for (const pid of pidList) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      kib += Number(m?.[1] ?? 0);
    } catch {}
  }
  return kib / 1024;
}

async function flinkJob(rest: string, jobId: string): Promise<{ state: string; duration: number }> {
  for (;;) {
    const job = (await (await fetch(`${rest}/jobs/${jobId}`)).json()) as { state: string; duration: number };
    if (['FINISHED', 'FAILED', 'CANCELED'].includes(job.state)) return job;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function flinkBenchmarks(o: FlinkBenchOptions): Promise<BenchResult[]> {
  const url = o.databaseUrl;
  const rest = process.env.FLOWMARK_TEST_FLINK;
  const gateway = process.env.FLOWMARK_TEST_FLINK_GATEWAY;
  if (url === undefined) return notMeasured('no PostgreSQL server: give --database-url or set FLOWMARK_TEST_PG_URL');
  if (rest === undefined || gateway === undefined) {
    return notMeasured(
      'no Flink: start one with `scripts/services.sh flink` and export what it prints (FLOWMARK_TEST_FLINK, FLOWMARK_TEST_FLINK_GATEWAY)',
    );
  }
  const n = o.events;
  const timeoutMs = 300_000 + n / 5;
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-bench-flink-'));
  const id = randomBytes(4).toString('hex');
  const topics = { clicks: `fm_bench_flink_${id}_clicks`, checkouts: `fm_bench_flink_${id}_checkouts` };
  const env = {
    ...process.env,
    FLOWMARK_KAFKA_TOPICS_CLICKS: topics.clicks,
    FLOWMARK_KAFKA_TOPICS_CHECKOUTS: topics.checkouts,
  };
  const schemas: string[] = [];
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const opened = await openBroker(o.kafka, dir);
  if ('error' in opened) {
    await admin.end();
    return notMeasured(opened.error);
  }
  const broker = opened;
  try {
    // As the kafka benchmark: 5 % of events out of order by up to 5 s (within the 15 s bound).
    const ds = writeDataSet(dir, n, { disorder: 0.05, maxDisorderMs: 5000 });
    const [users, products] = await Promise.all([loadUsers(ds.users), loadProducts(ds.products)]);
    const importSchema = `fm_bench_flink_${id}_import`;
    schemas.push(importSchema);
    LOG(`importing ${fmt(n)} events into ${PARTITIONS} partitions per topic…`);
    await flowmark(
      [
        'import',
        '--kafka',
        broker.bootstrap,
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
    let run = 0;
    const fresh = async () => {
      const name = `fm_bench_flink_${id}_${run++}`;
      schemas.push(name);
      await shopSchema(url, name, users, products);
      return name;
    };
    const brokerCpu = () => cpuSecondsOf(broker.pid);

    const runFlowmark = async (): Promise<Round> => {
      const schema = await fresh();
      mkdirSync(join(dir, schema));
      const pg0 = postgresCpu();
      const b0 = brokerCpu();
      const t0 = performance.now();
      const w = await runKafkaWorker(
        broker.bootstrap,
        url,
        schema,
        `${schema}_group`,
        join(dir, schema, 'worker'),
        env,
        timeoutMs,
      );
      const seconds = (performance.now() - t0) / 1000;
      const written = await writtenBy(admin, schema);
      return {
        seconds,
        startupSeconds: Math.max(0, seconds - w.runSeconds),
        cpuSeconds: w.cpuSeconds,
        pgCpuSeconds: postgresCpu() - pg0,
        brokerCpuSeconds: brokerCpu() - b0,
        rssMiB: w.maxRssKiB / 1024,
        checksum: written.checksum,
        checkouts: written.checkouts,
      };
    };

    const runFlink = async (): Promise<Round> => {
      const schema = await fresh();
      const jvms = flinkJvms();
      const flinkEnv = {
        ...env,
        FLOWMARK_KAFKA_BOOTSTRAP: broker.bootstrap,
        FLOWMARK_DATABASE_URL: url,
        FLOWMARK_DATABASE_SCHEMA: schema,
        FLOWMARK_DIMENSIONS_USERS_SCHEMA: schema,
        FLOWMARK_DIMENSIONS_PRODUCTS_SCHEMA: schema,
      };
      const cpu0 = cpuOf(jvms);
      const pg0 = postgresCpu();
      const b0 = brokerCpu();
      const t0 = performance.now();
      const { stdout } = await runCapturing(
        ['flink', 'deploy', '--gateway', gateway, '--bounded'],
        flinkEnv,
        timeoutMs,
      );
      const submitted = (performance.now() - t0) / 1000;
      const jobId = stdout.trim().split('\n').at(-1) ?? '';
      if (!/^[0-9a-f]{32}$/.test(jobId)) throw new Error(`flink deploy printed no job id: ${stdout}`);
      const job = await flinkJob(rest, jobId);
      if (job.state !== 'FINISHED') {
        const text = await (await fetch(`${rest}/jobs/${jobId}/exceptions`)).text();
        const cause = [...text.matchAll(/Caused by: ([^\\\n]*)/g)].map((m) => m[1]).at(-1) ?? text.slice(0, 200);
        LOG(`the Flink job ${jobId} ended ${job.state} after ${(job.duration / 1000).toFixed(0)} s: ${cause}`);
        return {
          seconds: job.duration / 1000,
          startupSeconds: submitted,
          cpuSeconds: cpuOf(jvms) - cpu0,
          pgCpuSeconds: postgresCpu() - pg0,
          brokerCpuSeconds: brokerCpu() - b0,
          rssMiB: rssMiBOf(jvms),
          checksum: '',
          checkouts: 0,
          failed: `${job.state} after ${(job.duration / 1000).toFixed(0)} s of running: ${cause}`,
        };
      }
      const cpu = cpuOf(jvms) - cpu0;
      const written = await writtenBy(admin, schema);
      return {
        seconds: job.duration / 1000,
        startupSeconds: submitted,
        cpuSeconds: cpu,
        pgCpuSeconds: postgresCpu() - pg0,
        brokerCpuSeconds: brokerCpu() - b0,
        rssMiB: rssMiBOf(jvms),
        checksum: written.checksum,
        checkouts: written.checkouts,
      };
    };

    const rounds: { flowmark: Round[]; flink: Round[] } = { flowmark: [], flink: [] };
    for (let r = 0; r < o.rounds; r++) {
      LOG(`round ${r + 1}/${o.rounds}: flowmark…`);
      rounds.flowmark.push(await runFlowmark());
      LOG(`round ${r + 1}/${o.rounds}: Flink…`);
      rounds.flink.push(await runFlink());
      LOG(`round ${r + 1}: ${JSON.stringify({ flowmark: rounds.flowmark.at(-1), flink: rounds.flink.at(-1) })}`);
    }
    return [report(n, rounds)];
  } finally {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
    await admin.end();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `flowmark <args>` with its stdout (the job id); throws with its stderr when it fails. */
async function runCapturing(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ stdout: string }> {
  const bin = join(import.meta.dirname, '..', '..', 'bin', 'flowmark.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout });
      else reject(new Error(`flowmark ${args.join(' ')} exited with ${code}: ${stderr}`));
    });
  });
}

function report(n: number, rounds: { flowmark: Round[]; flink: Round[] }): BenchResult {
  const m = (xs: Round[], f: (r: Round) => number) => median(xs.map(f));
  const perM = (s: number) => s / (n / 1e6);
  const fm = rounds.flowmark;
  const failures = rounds.flink.filter((r) => r.failed !== undefined);
  const fl = rounds.flink.filter((r) => r.failed === undefined);
  if (fl.length === 0) {
    const perM = (x: number) => x / (n / 1e6);
    return {
      name: 'flink: flowmark vs Apache Flink 1.20.3 on the same job (Kafka → first click → PostgreSQL)',
      figures: { events: n, flowmark_events_per_s: n / median(fm.map((r) => r.seconds)) },
      rows: [
        [
          'how',
          `${fmt(n)} events pre-loaded in 2 topics × ${PARTITIONS} partitions; flowmark run --kafka --drain (1 worker), then the SQL of flowmark flink sql on Flink (parallelism 1, --bounded)`,
        ],
        [
          'flowmark',
          `${fmt(n / median(fm.map((r) => r.seconds)))} events/s; ${perM(median(fm.map((r) => r.cpuSeconds + r.pgCpuSeconds))).toFixed(1)} CPU s per million events incl. PostgreSQL; ${median(fm.map((r) => r.rssMiB)).toFixed(0)} MiB peak RSS; ${fm[0]?.checkouts} attributed checkouts`,
        ],
        ['Flink', `did not finish: ${failures.map((r) => r.failed).join('; ')}`],
      ],
    };
  }
  const fmEps = n / m(fm, (r) => r.seconds);
  const flEps = n / m(fl, (r) => r.seconds);
  const fmCpu = m(fm, (r) => r.cpuSeconds + r.pgCpuSeconds);
  const flCpu = m(fl, (r) => r.cpuSeconds + r.pgCpuSeconds);
  const same = fm.every((r) => r.checksum === fm[0]?.checksum) && fl.every((r) => r.checksum === fm[0]?.checksum);
  const figures = {
    events: n,
    flowmark_events_per_s: fmEps,
    flink_events_per_s: flEps,
    flowmark_cpu_s_per_million: perM(fmCpu),
    flink_cpu_s_per_million: perM(flCpu),
    events_per_cpu_second_ratio: flCpu / fmCpu,
    flink_startup_s: m(fl, (r) => r.startupSeconds),
  };
  const line = (r: Round[], name: string) =>
    `${fmt(n / m(r, (x) => x.seconds))} events/s; CPU ${m(r, (x) => x.cpuSeconds).toFixed(1)} s own + ` +
    `${m(r, (x) => x.pgCpuSeconds).toFixed(1)} s PostgreSQL = ${perM(m(r, (x) => x.cpuSeconds + x.pgCpuSeconds)).toFixed(1)} ` +
    `CPU s per million events; ${m(r, (x) => x.rssMiB).toFixed(0)} MiB RSS (${name}); broker ${m(r, (x) => x.brokerCpuSeconds).toFixed(1)} s`;
  return {
    name: 'flink: flowmark vs Apache Flink 1.20.3 on the same job (Kafka → first click → PostgreSQL)',
    figures,
    rows: [
      [
        'how',
        `${fmt(n)} events pre-loaded in 2 topics × ${PARTITIONS} partitions (5 % disorder within 5 s); per round, alternating, a fresh schema: flowmark run --kafka --drain (1 worker), then the SQL of flowmark flink sql on Flink (parallelism 1, deployed --bounded through the SQL Gateway); medians of ${fm.length} rounds`,
      ],
      ['flowmark', line(fm, 'the worker, peak')],
      ['Flink (the job, from its start to its end)', line(fl, 'JobManager + TaskManager + SQL Gateway')],
      ['Flink start-up (submission to running, not in its events/s)', `${figures.flink_startup_s.toFixed(1)} s`],
      ['events per CPU second, flowmark / Flink', `${figures.events_per_cpu_second_ratio.toFixed(2)}× (target ≥ 10×)`],
      ['events/s, flowmark / Flink', `${(fmEps / flEps).toFixed(2)}×`],
      [
        'same attributed_checkouts (checkout → click, final)',
        same
          ? `yes (${fm[0]?.checkouts} rows)`
          : `NO: ${[...fm, ...fl].map((r) => `${r.checkouts}:${r.checksum.slice(0, 8)}`).join(', ')}`,
      ],
    ],
  };
}
