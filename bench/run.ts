/**
 * `npm run bench [-- NAME…] [--json] [--events N] [--no-record]`
 * (postgres: `[--database-url URL] [--rows N] [--clicks 1e5,1e6,1e7] [--reps N] [--restart-heap-mib N]`)
 *
 * Prints a table per benchmark (figures and ratios measured side by side in one run) and appends
 * them to docs/BENCHMARKS.md with the machine, the date and the command. With --json, prints one
 * JSON object per benchmark per line instead of tables. Benchmarks never pass or fail on time.
 */
import { parseArgs } from 'node:util';
import { appendToBenchmarksMd, type BenchResult, printTable } from './bench-lib.ts';
import { ceilingBenchmarks } from './ceiling-bench.ts';
import { embeddedBenchmarks } from './embedded-bench.ts';
import { engineBenchmarks } from './engine-bench.ts';
import { httpBenchmarks } from './http-bench.ts';
import { DEFAULT_CLICKS, NO_SERVER_MESSAGE, postgresBenchmarks } from './postgres-bench.ts';
import { replayBenchmarks } from './replay-bench.ts';

const SUITES: Record<string, (events: number) => Promise<BenchResult[]>> = {
  engine: (events) => engineBenchmarks(events),
  replay: (events) => replayBenchmarks(Math.max(events, 5_000_000)),
  postgres: () => postgresBenchmarks(postgresOptions()), // options checked before anything runs
  http: () => httpBenchmarks(),
  ceiling: (events) => ceilingBenchmarks(eventsGiven ? events : 2_000_000),
  embedded: (events) => embeddedBenchmarks({ events: eventsGiven ? events : 500_000, databaseUrl }),
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'boolean', default: false },
    events: { type: 'string' },
    'no-record': { type: 'boolean', default: false },
    'database-url': { type: 'string' },
    rows: { type: 'string', default: '200000' },
    clicks: { type: 'string', default: DEFAULT_CLICKS.join(',') },
    reps: { type: 'string', default: '5' },
    'restart-heap-mib': { type: 'string' },
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
            unnest vs multi-row INSERT (--rows, default 200 k); incremental checkpoint duration as the
            state grows (--clicks, default 1e5,1e6, about 5 min; 1e5,1e6,1e7 takes about 20 min;
            --reps, default 5); restart time at the largest state (--restart-heap-mib: the restart
            child processes' --max-old-space-size, default Node's, retried larger if it does not fit)
    ceiling   JSON.parse alone vs a hand-written parse + first-click loop (plain Map) vs flowmark
            replay, on the same in-order generated lines (--events, default 2 M); checks the
            hand loop's attributed clicks against replay's
    embedded  flowmark run --drain over events pre-loaded in the embedded log, into PGlite and, with
            --database-url or $FLOWMARK_TEST_PG_URL, into PostgreSQL (a fresh schema
            fm_bench_e2e_*, dropped afterwards); events/s, rows/s, ratio to replay of the same
            events (--events, default 500 k)
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

const databaseUrl = values['database-url'] ?? (process.env.FLOWMARK_TEST_PG_URL || undefined);
if (names.includes('postgres') && databaseUrl === undefined) {
  console.error(NO_SERVER_MESSAGE);
  const others = Object.keys(SUITES).filter((n) => n !== 'postgres');
  if (positionals.length === 0) console.error(`  (or run the others alone: npm run bench -- ${others.join(' ')})`);
  process.exit(2);
}
const clicks = values.clicks.split(',').map((c) => count('clicks', c.trim()));
if (clicks.some((c, i) => i > 0 && c <= (clicks[i - 1] as number))) {
  console.error(`--clicks must be increasing sizes, got "${values.clicks}"`);
  process.exit(2);
}
function postgresOptions() {
  const heap = values['restart-heap-mib'];
  return {
    url: databaseUrl as string,
    rows: count('rows', values.rows),
    clicks,
    reps: count('reps', values.reps),
    ...(heap === undefined ? {} : { restartHeapMiB: count('restart-heap-mib', heap) }),
  };
}
if (names.includes('postgres')) postgresOptions();

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
