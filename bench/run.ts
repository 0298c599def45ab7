/**
 * `npm run bench [-- NAME…] [--json] [--events N] [--no-record]`
 *
 * Prints a table per benchmark (figures and ratios measured side by side in one run) and appends
 * them to docs/BENCHMARKS.md with the machine, the date and the command. With --json, prints one
 * JSON object per benchmark per line instead of tables. Benchmarks never pass or fail on time.
 */
import { parseArgs } from 'node:util';
import { appendToBenchmarksMd, type BenchResult, printTable } from './bench-lib.ts';
import { engineBenchmarks } from './engine-bench.ts';
import { replayBenchmarks } from './replay-bench.ts';

const SUITES: Record<string, (events: number) => Promise<BenchResult[]>> = {
  engine: (events) => engineBenchmarks(events),
  replay: (events) => replayBenchmarks(Math.max(events, 2_000_000)),
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'boolean', default: false },
    events: { type: 'string', default: '1000000' },
    'no-record': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(`usage: npm run bench -- [${Object.keys(SUITES).join('|')}…] [--json] [--events N] [--no-record]
  Runs the named benchmarks (default: all), prints figures and ratios measured side by side,
  and appends them to docs/BENCHMARKS.md (unless --no-record).
    engine  keyed tumbling-window count and interval join vs hand-written loops (--events, default 1 M)
    replay  flowmark replay vs JSON.parse alone on the same generated lines (at least 2 M events)`);
  process.exit(0);
}

const names = positionals.length > 0 ? positionals : Object.keys(SUITES);
for (const n of names) {
  if (!(n in SUITES)) {
    console.error(`unknown benchmark "${n}"; known: ${Object.keys(SUITES).join(', ')}`);
    process.exit(2);
  }
}
const events = Number(values.events);
if (!Number.isInteger(events) || events <= 0) {
  console.error(`--events must be a positive integer, got "${values.events}"`);
  process.exit(2);
}

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
