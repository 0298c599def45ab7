/**
 * `npm run bench [-- NAME…] [--json] [--events N] [--no-record]`
 * (postgres: `[--database-url URL] [--rows N] [--clicks 1e6,1e7] [--reps N] [--chunk-ms 250,300000] [--restart-heap-mib N]`;
 * state: `[--clicks 1e6,1e7] [--reps N] [--state-parts memory,pglite] [--chunk-ms 250,300000]`; scaling: `[--events N] [--reps ROUNDS]`)
 *
 * One suite per file in bench/suites/; what they share (data builders, committers, the child-process
 * harness, services, the table printer and BENCHMARKS.md appender) in bench/support/.
 * Prints a table per benchmark (figures and ratios measured side by side in one run) and appends
 * them to docs/BENCHMARKS.md with the machine, the date and the command. With --json, prints one
 * JSON object per benchmark per line instead of tables. Benchmarks never pass or fail on time.
 */
import { parseArgs } from 'node:util';
import { ceilingBenchmarks } from './suites/ceiling.ts';
import { embeddedBenchmarks } from './suites/embedded.ts';
import { engineBenchmarks } from './suites/engine.ts';
import { flinkBenchmarks } from './suites/flink.ts';
import { httpBenchmarks } from './suites/http.ts';
import { kafkaBenchmarks } from './suites/kafka.ts';
import { latencyBenchmarks } from './suites/latency.ts';
import { kafkaLatencyBenchmarks } from './suites/latency-kafka.ts';
import { DEFAULT_LOOKBACK_CLICKS, lookbackBenchmarks } from './suites/lookback.ts';
import { DEFAULT_CLICKS, postgresBenchmarks } from './suites/postgres.ts';
import { replayBenchmarks } from './suites/replay.ts';
import { scalingBenchmarks } from './suites/scaling.ts';
import { DEFAULT_STATE_CLICKS, stateBenchmarks } from './suites/state.ts';
import { DEFAULT_CHUNK_MS } from './support/chunked-checkpoints.ts';
import { DEFAULT_CHECKPOINT_INTERVAL_MS } from './support/data-sets.ts';
import { appendToBenchmarksMd, type BenchResult, printTable } from './support/report.ts';
import { databaseUrlOf, NO_SERVER_MESSAGE } from './support/services.ts';

const SUITES: Record<string, (events: number) => Promise<BenchResult[]>> = {
  engine: (events) => engineBenchmarks(events),
  replay: (events) => replayBenchmarks(Math.max(events, 5_000_000)),
  postgres: () => postgresBenchmarks(postgresOptions()), // options checked before anything runs
  http: () => httpBenchmarks(),
  ceiling: (events) => ceilingBenchmarks(eventsGiven ? events : 2_000_000),
  embedded: (events) => embeddedBenchmarks({ events: eventsGiven ? events : 500_000, databaseUrl }),
  state: () =>
    stateBenchmarks({
      clicks: clicksOr(DEFAULT_STATE_CLICKS),
      reps: count('reps', values.reps ?? '5'),
      parts: stateParts(),
      chunkMs: chunkMs(),
    }),
  scaling: (events) =>
    scalingBenchmarks({
      events: eventsGiven ? events : 300_000,
      rounds: values.reps === undefined ? 2 : count('reps', values.reps),
    }),
  latency: () => latencyBenchmarks(latencyOptions()), // options checked before anything runs
  'latency-kafka': () =>
    kafkaLatencyBenchmarks({
      rates: latencyOptions().rates,
      seconds: latencyOptions().seconds,
      databaseUrl,
      kafka: values.kafka ?? process.env.FLOWMARK_TEST_KAFKA,
    }),
  lookback: (events) =>
    lookbackBenchmarks({
      clicks: eventsGiven ? events : DEFAULT_LOOKBACK_CLICKS,
      budgetMiB: count('budget-mib', values['budget-mib'] ?? '64'),
    }),
  kafka: (events) =>
    kafkaBenchmarks({
      events: eventsGiven ? events : 500_000,
      databaseUrl,
      kafka: values.kafka,
      ...(values['cpu-prof-dir'] === undefined ? {} : { cpuProfDir: values['cpu-prof-dir'] }),
    }),
  flink: (events) =>
    flinkBenchmarks({
      events: eventsGiven ? events : 2_000_000,
      rounds: values.reps === undefined ? 2 : count('reps', values.reps),
      databaseUrl,
      kafka: values.kafka,
    }),
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'boolean', default: false },
    events: { type: 'string' },
    'no-record': { type: 'boolean', default: false },
    'database-url': { type: 'string' },
    rows: { type: 'string', default: '200000' },
    clicks: { type: 'string' },
    reps: { type: 'string' },
    'restart-heap-mib': { type: 'string' },
    'state-parts': { type: 'string', default: 'memory,pglite' },
    'chunk-ms': { type: 'string', default: DEFAULT_CHUNK_MS.join(',') },
    rates: { type: 'string', default: '1000,10000,50000' },
    seconds: { type: 'string', default: '20' },
    'knee-seconds': { type: 'string', default: '10' },
    'knee-budget': { type: 'string', default: '120' },
    'checkpoint-interval': { type: 'string', default: String(DEFAULT_CHECKPOINT_INTERVAL_MS) },
    kafka: { type: 'string' },
    'cpu-prof-dir': { type: 'string' },
    'budget-mib': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(`usage: npm run bench -- [${Object.keys(SUITES).join('|')}…] [--json] [--events N] [--no-record]
  Runs the named benchmarks (default: all), prints figures and ratios measured side by side,
  and appends them to docs/BENCHMARKS.md (unless --no-record).
    engine  keyed tumbling-window count and interval join vs hand-written loops; the attribution
            pipeline (buildAttributionPipeline, decode = identity over pre-parsed events, memory source
            and committer) vs a hand-written first-click loop with a plain Map, checked to agree
            (--events, default 1 M)
    replay  flowmark replay vs JSON.parse alone on the same generated lines, each in a child process
            (events/s, ratio, peak RSS of each; at least 5 M events, --events for more)
    postgres  against a PostgreSQL server (--database-url, default $FLOWMARK_TEST_PG_URL): sink rows/s,
            unnest vs multi-row INSERT (--rows, default 200 k); the attribution's clicks table
            committed as chunks through the SQL committer up to each size (--clicks, default
            1e6,1e7), one chunk per checkpoint per --chunk-ms of event time (default 250,300000:
            the first layout is measured, the others only restarted), and the duration, chunk
            bytes and WAL of a fixed incremental checkpoint (a chunk of 10 k new clicks + 1 k sink
            rows) at each size (--reps, default 5); restart (load, Runtime.open) at the largest
            state for each layout (--restart-heap-mib: the restart child processes'
            --max-old-space-size, default Node's, retried larger if it does not fit)
    ceiling   JSON.parse alone vs a hand-written parse + first-click loop (plain Map) vs flowmark
            replay, on the same in-order generated lines (--events, default 2 M); checks the
            hand loop's attributed clicks against replay's
    embedded  flowmark run --drain over events pre-loaded in the embedded log, into PGlite and, with
            --database-url or $FLOWMARK_TEST_PG_URL, into PostgreSQL (a fresh schema
            fm_bench_e2e_*, dropped afterwards); events/s, rows/s, ratio to replay of the same
            events (--events, default 500 k)
    state   memory per click held in attribution state (heap and RSS, live pipeline, one child
            process per size; --clicks, default 1e6,1e7); engine checkpoint duration and delta
            bytes for a fixed delta as the state grows; the postgres benchmark's fixed checkpoint
            (a chunk of 10 k new clicks + 1 k sink rows) into PGlite at each size, the clicks
            committed as chunks, one per checkpoint per --chunk-ms of event time (default
            250,300000: the first layout is measured, the others only restarted); restart
            (Runtime.open, Node's default heap) from PGlite at the largest size for each layout
            (--reps, default 5; --state-parts memory or pglite runs one half, and the halves can
            run side by side)
    scaling   the attribution pipeline in memory: events/s, peak heap and RSS as the distinct
            users, the lookback and the clicks per checkout grow (a child process per variant;
            --events per variant, default 300 k; --reps rounds, default 2, best events/s kept)
    latency   a live run (flowmark run, not --drain) following the log while a producer thread
            appends at fixed rates (--rates, default 1000,10000,50000 events/s, --seconds each, default
            20), into PGlite and, with --database-url or $FLOWMARK_TEST_PG_URL, into PostgreSQL:
            p50/p99/p99.9 of arrival → committed and watermark → final row committed, for every
            checkout; the knee (p99 > 1 s) searched in steps of --knee-seconds (default 10) within
            --knee-budget seconds per database (default 120; 0: none); --checkpoint-interval ms
            (default ${DEFAULT_CHECKPOINT_INTERVAL_MS}, flowmark run's)
    latency-kafka  a live flowmark run --kafka worker (default checkpoint settings) while flowmark
            produce --kafka --rate R writes keyed topics of 4 partitions (--rates, --seconds each):
            p50/p99/p99.9 of produce → committed (a deferred trigger times each checkpoint's
            COMMIT); needs PostgreSQL (--database-url or $FLOWMARK_TEST_PG_URL) and a broker
            (--kafka or $FLOWMARK_TEST_KAFKA, else a private one)
    lookback  a simulated month of clicks (--events clicks, default ${DEFAULT_LOOKBACK_CLICKS}; 259 M is 100 clicks/s)
            through the attribution's clicks table with a 30-day lookback and a memory budget
            (--budget-mib, default 64; the rest in segment files on local disk), vs the same data with
            a 1 h lookback in memory: peak heap and RSS vs the budget, events/s ratio, p99 of a
            checkout's look-up into the disk part, restart time (reusing the local store); each in a
            child process
    kafka   end to end over Apache Kafka: the events imported once into two topics of 4 partitions
            keyed by user_id (flowmark import --kafka), then side by side: the client's raw consume
            (KafkaSource.standalone, all partitions, no processing; the reference), flowmark run
            --kafka --drain as 1 worker and as 2 worker processes in one group (fresh group and
            schema each): events/s, rows/s, 1 worker / raw, the scaling 2 / 1, and a check that 1
            and 2 workers wrote the same attributed_checkouts. A private broker (scripts/kafka.sh,
            free ports, stopped at the end) unless --kafka HOST:PORT; PostgreSQL from --database-url
            or $FLOWMARK_TEST_PG_URL (skipped without). --events, default 500 k; --cpu-prof-dir DIR:
            one more 1-worker run under node --cpu-prof, untimed
    flink   flowmark run --kafka --drain (1 worker) vs Apache Flink running the SQL of flowmark flink
            sql (parallelism 1, flink deploy --bounded) on the same pre-loaded topics into PostgreSQL,
            alternating (--reps rounds, default 2): events/s, CPU seconds per million events of all
            of each system's processes plus the PostgreSQL server's in the same interval, peak RSS,
            Flink's start-up apart, and that both wrote the same attributed_checkouts. Needs
            $FLOWMARK_TEST_FLINK and $FLOWMARK_TEST_FLINK_GATEWAY (scripts/services.sh flink) and a
            server (--database-url or $FLOWMARK_TEST_PG_URL); --events, default 2 M
    http    the HTTP server: node:http (shipped) vs Fastify with the same handlers, req/s and p99 of
            GET /metrics and GET /api/summary (32 keep-alive connections from a worker thread)`);
  process.exit(0);
}

const names = positionals.length > 0 ? positionals : Object.keys(SUITES);
for (const n of names) {
  if (!(n in SUITES)) {
    console.error(`unknown benchmark "${n}"; known: ${Object.keys(SUITES).join(', ')}`);
    process.exit(2);
  }
}
const eventsGiven = values.events !== undefined;
const events = Number(values.events ?? '1000000');
if (!Number.isInteger(events) || events <= 0) {
  console.error(`--events must be a positive integer, got "${values.events}"`);
  process.exit(2);
}

/** A positive integer flag (`1e6` and `1_000_000` accepted), or exit 2 naming it. */
function count(flag: string, text: string): number {
  const n = Number(text.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n <= 0) {
    console.error(`--${flag} must be a positive integer, got "${text}"`);
    process.exit(2);
  }
  return n;
}

const databaseUrl = databaseUrlOf(values['database-url']);
if (names.includes('postgres') && databaseUrl === undefined) {
  console.error(NO_SERVER_MESSAGE);
  const others = Object.keys(SUITES).filter((n) => n !== 'postgres');
  if (positionals.length === 0) console.error(`  (or run the others alone: npm run bench -- ${others.join(' ')})`);
  process.exit(2);
}
/** The --clicks sizes, or `defaults` when not given; exits 2 unless increasing positive integers. */
function clicksOr(defaults: number[]): number[] {
  if (values.clicks === undefined) return defaults;
  const clicks = values.clicks.split(',').map((c) => count('clicks', c.trim()));
  if (clicks.some((c, i) => i > 0 && c <= (clicks[i - 1] as number))) {
    console.error(`--clicks must be increasing sizes, got "${values.clicks}"`);
    process.exit(2);
  }
  return clicks;
}
function postgresOptions() {
  const heap = values['restart-heap-mib'];
  return {
    url: databaseUrl as string,
    rows: count('rows', values.rows),
    clicks: clicksOr(DEFAULT_CLICKS),
    reps: count('reps', values.reps ?? '5'),
    chunkMs: chunkMs(),
    ...(heap === undefined ? {} : { restartHeapMiB: count('restart-heap-mib', heap) }),
  };
}
if (names.includes('postgres')) postgresOptions();
function latencyOptions() {
  const rates = values.rates.split(',').map((r) => count('rates', r.trim()));
  const budget = Number(values['knee-budget']);
  if (!Number.isFinite(budget) || budget < 0) {
    console.error(`--knee-budget must be a number of seconds ≥ 0, got "${values['knee-budget']}"`);
    process.exit(2);
  }
  return {
    rates,
    seconds: count('seconds', values.seconds),
    kneeSeconds: count('knee-seconds', values['knee-seconds']),
    kneeBudgetSeconds: budget,
    checkpointIntervalMs: count('checkpoint-interval', values['checkpoint-interval']),
    databaseUrl,
  };
}
if (names.includes('latency') || names.includes('latency-kafka')) latencyOptions();
clicksOr([]); // a bad --clicks fails before anything runs

/** `--state-parts memory,pglite` (both by default), or exit 2 naming the bad part. */
function stateParts(): Array<'memory' | 'pglite'> {
  const parts = values['state-parts'].split(',').map((p) => p.trim());
  for (const p of parts) {
    if (p !== 'memory' && p !== 'pglite') {
      console.error(`--state-parts must be memory and/or pglite, got "${p}"`);
      process.exit(2);
    }
  }
  return parts as Array<'memory' | 'pglite'>;
}
stateParts();

/** `--chunk-ms 250,300000`: event time per chunk of each chunk layout (distinct positive integers). */
function chunkMs(): number[] {
  const ms = values['chunk-ms'].split(',').map((m) => count('chunk-ms', m.trim()));
  if (new Set(ms).size !== ms.length) {
    console.error(`--chunk-ms must list distinct layouts, got "${values['chunk-ms']}"`);
    process.exit(2);
  }
  return ms;
}
chunkMs();

const all: BenchResult[] = [];
for (const n of names) {
  const results = await (SUITES[n] as (e: number) => Promise<BenchResult[]>)(events);
  for (const r of results) {
    if (values.json) console.log(JSON.stringify({ name: r.name, ...r.figures }));
    else printTable(r);
  }
  all.push(...results);
}
if (!values['no-record']) {
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  appendToBenchmarksMd(new URL('../docs/BENCHMARKS.md', import.meta.url).pathname, command, all);
}
