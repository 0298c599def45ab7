import {
  appendFileSync,
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type ReplayFlags, runReplay } from '../src/cli/replay-command.ts';
import {
  EventGenerator,
  type EventGeneratorOptions,
  generateCatalog,
  productsCsvLines,
  usersCsvLines,
} from '../src/generator/index.ts';

/** The timed part of a variant of {@link sideBySide}. */
export type Work = () => unknown | Promise<unknown>;

/** One benchmark's result: a name, figures (snake_case), and lines for the table. */
export interface BenchResult {
  name: string;
  figures: Record<string, number>;
  rows: Array<[label: string, value: string]>;
}

/**
 * Measures variants side by side: `rounds` rounds, each running every variant once in turn, so
 * that a noisy neighbour hurts all variants alike. Each variant is a factory called untimed
 * (to build its input) that returns the work to time. Returns the median seconds per variant,
 * and the last result of each (so that callers can check the variants computed the same thing).
 */
export async function sideBySide(
  variants: Record<string, () => Work | Promise<Work>>,
  rounds = 3,
  /** Called untimed after each run with its result (e.g. to count rows and clean up). */
  afterEach?: (name: string, result: unknown, seconds: number) => unknown | Promise<unknown>,
): Promise<{ seconds: Record<string, number>; results: Record<string, unknown> }> {
  const times: Record<string, number[]> = {};
  const results: Record<string, unknown> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, prepare] of Object.entries(variants)) {
      const work = await prepare();
      globalThis.gc?.();
      const t0 = performance.now();
      results[name] = await work();
      const seconds = (performance.now() - t0) / 1000;
      (times[name] ??= []).push(seconds);
      await afterEach?.(name, results[name], seconds);
    }
  }
  const seconds: Record<string, number> = {};
  for (const [name, ts] of Object.entries(times)) seconds[name] = median(ts);
  return { seconds, results };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(2);
}

/** A count: as is below 1 000, else as {@link fmt}. */
export function fmtCount(n: number): string {
  return n < 1e3 ? String(Math.round(n)) : fmt(n);
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpus().length} × ${cpu.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

export function printTable(r: BenchResult): void {
  const w = Math.max(...r.rows.map(([l]) => l.length));
  console.log(`\n${r.name}`);
  for (const [label, value] of r.rows) console.log(`  ${label.padEnd(w)}  ${value}`);
}

/** Appends a dated section with the results to docs/BENCHMARKS.md. */
export function appendToBenchmarksMd(path: string, command: string, results: BenchResult[]): void {
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  let md = `\n## ${date} UTC — \`${command}\`\n\nMachine: ${machine()}.\n`;
  for (const r of results) {
    md += `\n**${r.name}**\n\n| figure | value |\n|---|---|\n`;
    for (const [label, value] of r.rows) md += `| ${label} | ${value} |\n`;
  }
  if (!existsSync(path) || !readFileSync(path, 'utf8').includes('# Benchmarks')) md = `# Benchmarks\n${md}`;
  appendFileSync(path, md);
}

/** A generated data set on disk: `events.jsonl`, `users.csv` and `products.csv` in a directory. */
export interface DataSet {
  events: string;
  users: string;
  products: string;
  /** Size of `events.jsonl`. */
  bytes: number;
}

/**
 * Writes a generated data set into `dir`: 20 000 users × 2 000 products (seed 1) and `n` events
 * of the website simulator (seed 1, 1 000 events per second of event time, plus `options`).
 */
export function writeDataSet(dir: string, n: number, options: Partial<EventGeneratorOptions> = {}): DataSet {
  const catalog = generateCatalog({ users: 20_000, products: 2_000, seed: 1 });
  const events = join(dir, 'events.jsonl');
  const gen = new EventGenerator(catalog, { seed: 1, ratePerSecond: 1000, ...options, events: n });
  // Written in chunks: 5 M events (~800 MiB) are more than one string can hold.
  const fd = openSync(events, 'w');
  try {
    let text = '';
    for (const line of gen.lines()) {
      text += `${line}\n`;
      if (text.length > 1 << 24) {
        writeSync(fd, text);
        text = '';
      }
    }
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  const users = join(dir, 'users.csv');
  const products = join(dir, 'products.csv');
  writeFileSync(users, `${[...usersCsvLines(catalog.users)].join('\n')}\n`);
  writeFileSync(products, `${[...productsCsvLines(catalog.products)].join('\n')}\n`);
  return { events, users, products, bytes: statSync(events).size };
}

/**
 * `flowmark replay` in process over a data set, first-click with the defaults, output files in
 * `dir` (`out.jsonl`, `dead.jsonl`, plus `extra` such as credits/analytics paths).
 */
export async function replayDataSet(
  ds: Pick<DataSet, 'events' | 'users' | 'products'>,
  dir: string,
  extra: Partial<ReplayFlags> = {},
): Promise<void> {
  await runReplay({
    events: ds.events,
    users: ds.users,
    products: ds.products,
    out: join(dir, 'out.jsonl'),
    deadLetter: join(dir, 'dead.jsonl'),
    model: 'first_click',
    scope: 'product',
    lookback: '1h',
    maxOutOfOrderness: '15s',
    halfLife: '15m',
    quiet: true,
    ...extra,
  });
}

/** `part / whole` as a percentage with no decimals: `"42 %"`. */
export function pct(part: number, whole: number): string {
  return `${((part / whole) * 100).toFixed(0)} %`;
}
