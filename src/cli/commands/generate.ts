/**
 * `flowmark generate --out DIR …`: writes a generated data set — `users.csv`, `products.csv` and
 * `events.jsonl` (one click or checkout per line, in arrival order) — with a progress bar on
 * stderr and a summary on stdout. The events are streamed to disk through a pipeline, so the
 * writer's back-pressure bounds memory whatever `--events` is. Each file is written under a
 * `.partial` name and renamed when complete, so a file with its final name is always whole.
 *
 * Flags are checked before anything is written; a bad one is reported naming the flag, with
 * exit code 1 (commander's convention for usage errors, as everywhere in flowmark).
 */

import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Command, CommanderError } from 'commander';
import { parseEventTimeMs } from '../../attribution/events/index.ts';
import { isFlowmarkError, parseDurationMs } from '../../engine/index.ts';
import {
  DEFAULT_TRAFFIC_OPTIONS,
  type DeliveryStats,
  EventGenerator,
  generateCatalog,
  isoTime,
  productsCsvLines,
  resolveTrafficOptions,
  type TrafficOptions,
  usersCsvLines,
} from '../../generator/index.ts';
import { makeDirectory } from '../cli-paths.ts';
import { describeFailure } from '../error-messages.ts';

/** The flags as commander hands them over (strings, or undefined when not given). */
export interface GenerateFlags {
  out?: string;
  users?: string;
  products?: string;
  events?: string;
  seed?: string;
  rate?: string;
  disorder?: string;
  maxDisorder?: string;
  late?: string;
  duplicates?: string;
  malformed?: string;
  start?: string;
}

/** The defaults of the flags, as shown by `flowmark generate --help`. */
export const GENERATE_DEFAULTS = {
  users: 1000,
  products: 200,
  events: 100_000,
  seed: DEFAULT_TRAFFIC_OPTIONS.seed,
  rate: DEFAULT_TRAFFIC_OPTIONS.ratePerSecond,
  maxDisorder: '10s',
  start: isoTime(DEFAULT_TRAFFIC_OPTIONS.startMs),
} as const;

/** What to generate, once the flags are checked. */
export interface GenerateConfig {
  outDir: string;
  users: number;
  products: number;
  events: number;
  traffic: TrafficOptions;
}

/** A flag with a bad value; the message names the flag. */
export class GenerateFlagError extends Error {
  override name = 'GenerateFlagError';
}

const show = (v: string) => JSON.stringify(v);

function positiveInteger(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new GenerateFlagError(`${flag} must be a positive integer, got ${show(value)}`);
  return n;
}

function fraction(flag: string, value: string | undefined): number {
  if (value === undefined) return 0;
  const n = value.trim() === '' ? Number.NaN : Number(value);
  if (!(n >= 0 && n <= 1)) {
    throw new GenerateFlagError(`${flag} must be a fraction between 0 and 1 (0.05 is 5 %), got ${show(value)}`);
  }
  return n;
}

/**
 * Checks the flags and fills in the defaults.
 *
 * @example
 * parseGenerateFlags({ out: 'data', events: '2000', seed: '1' });
 * // { outDir: '/abs/data', users: 1000, products: 200, events: 2000, traffic: { seed: 1, … } }
 * parseGenerateFlags({ out: 'data', events: 'x' });
 * // throws GenerateFlagError: --events must be a positive integer, got "x"
 */
export function parseGenerateFlags(flags: GenerateFlags): GenerateConfig {
  if (flags.out === undefined || flags.out.trim() === '') {
    throw new GenerateFlagError(
      '--out is required: the directory to write users.csv, products.csv and events.jsonl into',
    );
  }
  const users = positiveInteger('--users', flags.users, GENERATE_DEFAULTS.users);
  const products = positiveInteger('--products', flags.products, GENERATE_DEFAULTS.products);
  const events = positiveInteger('--events', flags.events, GENERATE_DEFAULTS.events);
  let seed: number = GENERATE_DEFAULTS.seed;
  if (flags.seed !== undefined) {
    seed = /^\s*\d+\s*$/.test(flags.seed) ? Number(flags.seed) : Number.NaN;
    if (!Number.isSafeInteger(seed)) {
      throw new GenerateFlagError(`--seed must be a non-negative integer, got ${show(flags.seed)}`);
    }
  }
  let ratePerSecond: number = GENERATE_DEFAULTS.rate;
  if (flags.rate !== undefined) {
    ratePerSecond = flags.rate.trim() === '' ? Number.NaN : Number(flags.rate);
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
      throw new GenerateFlagError(`--rate must be a positive number of events per second, got ${show(flags.rate)}`);
    }
  }
  const maxDisorderText = flags.maxDisorder ?? GENERATE_DEFAULTS.maxDisorder;
  const maxDisorderMs = parseDurationMs(maxDisorderText);
  if (maxDisorderMs === undefined) {
    throw new GenerateFlagError(
      `--max-disorder must be a duration such as 10s, 500ms or 1m, got ${show(maxDisorderText)}`,
    );
  }
  let startMs = DEFAULT_TRAFFIC_OPTIONS.startMs;
  if (flags.start !== undefined) {
    const parsed = parseEventTimeMs(flags.start);
    if (parsed === undefined) {
      throw new GenerateFlagError(
        `--start must be a time such as 2026-03-01T00:00:00Z or "2026-03-01 00:00:00" (UTC), got ${show(flags.start)}`,
      );
    }
    startMs = parsed;
  }
  const disorder = fraction('--disorder', flags.disorder);
  const late = fraction('--late', flags.late);
  if (disorder + late > 1) {
    throw new GenerateFlagError(
      `--disorder + --late must be at most 1 (an event is either out of order or late), got ${disorder} + ${late}`,
    );
  }
  const traffic = resolveTrafficOptions({
    seed,
    startMs,
    ratePerSecond,
    disorder,
    maxDisorderMs,
    late,
    duplicates: fraction('--duplicates', flags.duplicates),
    malformed: fraction('--malformed', flags.malformed),
  });
  return { outDir: resolve(flags.out), users, products, events, traffic };
}

/** Where `flowmark generate` writes its progress and summary, and how it reads the time. */
export interface GenerateIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** Wall-clock milliseconds, for rates and the ETA only. */
  nowMs(): number;
}

const processIo: GenerateIo = { stdout: process.stdout, stderr: process.stderr, nowMs: () => performance.now() };

/** What was written. */
export interface GenerateSummary {
  outDir: string;
  users: number;
  products: number;
  events: DeliveryStats;
  bytes: { users: number; products: number; events: number };
  seconds: number;
}

/** Characters per chunk handed to the file stream (about 400 lines of events). */
const CHUNK_CHARS = 64 * 1024;

/** Joins lines into chunks, reporting each chunk's line count. */
function* chunked(lines: Iterable<string>, onChunk: (lines: number) => void): Generator<string> {
  let buf = '';
  let n = 0;
  for (const line of lines) {
    buf += `${line}\n`;
    n++;
    if (buf.length >= CHUNK_CHARS) {
      yield buf;
      buf = '';
      onChunk(n);
      n = 0;
    }
  }
  if (buf.length > 0) yield buf;
  onChunk(n);
}

/** Writes `chunks` to `path` through a `.partial` file, with back-pressure; returns the bytes written. */
async function writeFile(path: string, chunks: Iterable<string>): Promise<number> {
  const partial = `${path}.partial`;
  try {
    await pipeline(Readable.from(chunks), createWriteStream(partial));
    await rename(partial, path);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  return (await stat(path)).size;
}

const int = (n: number) => n.toLocaleString('en-US');

function bytesText(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

function rateText(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '–';
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(0)} k`;
  return perSecond.toFixed(0);
}

function durationText(seconds: number): string {
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
}

/**
 * Reports the progress of writing `total` events: a bar redrawn in place (at most ten times a
 * second) when stderr is a terminal, otherwise one line per 10 %.
 */
class Progress {
  private done = 0;
  private lastDrawMs = Number.NEGATIVE_INFINITY;
  private lastTenth = 0;
  private readonly startMs: number;
  private readonly io: GenerateIo;
  private readonly total: number;

  constructor(io: GenerateIo, total: number) {
    this.io = io;
    this.total = total;
    this.startMs = io.nowMs();
  }

  add(lines: number): void {
    this.done += lines;
    const now = this.io.nowMs();
    const elapsedS = (now - this.startMs) / 1000;
    const rate = this.done / elapsedS;
    const eta = (this.total - this.done) / rate;
    const pct = Math.floor((100 * this.done) / this.total);
    if (this.io.stderr.isTTY === true) {
      if (now - this.lastDrawMs < 100 && this.done < this.total) return;
      this.lastDrawMs = now;
      const width = 24;
      const filled = Math.round((width * this.done) / this.total);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      const text = `events.jsonl ${bar} ${String(pct).padStart(3)}%  ${int(this.done)}/${int(this.total)} events  ${rateText(rate)} events/s  ETA ${durationText(eta)}`;
      // Cut to the terminal's width: a wrapped line could not be redrawn in place.
      const columns = this.io.stderr.columns ?? 0;
      this.io.stderr.write(`\r${columns > 20 ? text.slice(0, columns - 1) : text}\x1b[K`);
      if (this.done >= this.total) this.io.stderr.write('\n');
      return;
    }
    const tenth = Math.floor((10 * this.done) / this.total);
    if (tenth <= this.lastTenth) return;
    this.lastTenth = tenth;
    const eta2 = this.done >= this.total ? 'done' : `ETA ${durationText(eta)}`;
    this.io.stderr.write(
      `generate: ${String(pct).padStart(3)}%  ${int(this.done)}/${int(this.total)} events  ${rateText(rate)} events/s  ${eta2}\n`,
    );
  }
}

/**
 * Generates and writes the data set of `config` into `config.outDir` (created if needed).
 *
 * @example
 * const summary = await runGenerate(parseGenerateFlags({ out: 'data', events: '2000' }));
 * summary.events.lines; // 2000
 */
export async function runGenerate(config: GenerateConfig, io: GenerateIo = processIo): Promise<GenerateSummary> {
  const t0 = io.nowMs();
  // Not fs.mkdir({ recursive }): it spins forever on a path under /proc (cli-paths.ts).
  makeDirectory({ flag: '--out', path: config.outDir });
  const catalog = generateCatalog({ users: config.users, products: config.products, seed: config.traffic.seed });
  const usersBytes = await writeFile(join(config.outDir, 'users.csv'), usersCsvLines(catalog.users));
  const productsBytes = await writeFile(join(config.outDir, 'products.csv'), productsCsvLines(catalog.products));
  const generator = new EventGenerator(catalog, { ...config.traffic, events: config.events });
  const progress = new Progress(io, config.events);
  const eventsBytes = await writeFile(
    join(config.outDir, 'events.jsonl'),
    chunked(generator.lines(), (n) => progress.add(n)),
  );
  const summary: GenerateSummary = {
    outDir: config.outDir,
    users: catalog.users.length,
    products: catalog.products.length,
    events: { ...generator.stats },
    bytes: { users: usersBytes, products: productsBytes, events: eventsBytes },
    seconds: (io.nowMs() - t0) / 1000,
  };
  io.stdout.write(summaryText(summary, config));
  return summary;
}

const boundText = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/** The summary printed at the end. */
export function summaryText(s: GenerateSummary, config: GenerateConfig): string {
  const e = s.events;
  const total = s.bytes.users + s.bytes.products + s.bytes.events;
  const col = (name: string, what: string, bytes: number) =>
    `  ${name.padEnd(13)}${what.padEnd(58)}${bytesText(bytes)}`;
  const timeSpan = !Number.isNaN(e.minEventTimeMs)
    ? `event time ${isoTime(e.minEventTimeMs)} … ${isoTime(e.maxEventTimeMs)} (${config.traffic.ratePerSecond} events/s)`
    : 'no well-formed event';
  return [
    `flowmark generate: wrote ${s.outDir} in ${s.seconds.toFixed(1)} s (seed ${config.traffic.seed})`,
    col('users.csv', `${int(s.users)} users`, s.bytes.users),
    col('products.csv', `${int(s.products)} products`, s.bytes.products),
    col(
      'events.jsonl',
      `${int(e.lines)} lines: ${int(e.clicks)} clicks, ${int(e.checkouts)} checkouts`,
      s.bytes.events,
    ),
    `  ${''.padEnd(13)}${int(e.duplicates)} duplicate deliveries, ${int(e.malformed)} malformed lines; ${int(e.outOfOrder)} out of order, ${int(e.beyondBound)} beyond the ${boundText(config.traffic.maxDisorderMs)} bound`,
    `  ${''.padEnd(13)}${timeSpan}`,
    `  ${'total'.padEnd(13)}${`${bytesText(total)} in ${s.seconds.toFixed(2)} s (${int(Math.round(e.lines / s.seconds))} events/s)`}`,
    '',
  ].join('\n');
}

/**
 * The action of `flowmark generate` (main.ts declares the flags): a bad flag or an I/O error
 * becomes a message on stderr and exit code 1, through commander.
 */
export async function generateAction(flags: GenerateFlags, command: Command): Promise<void> {
  let config: GenerateConfig;
  try {
    config = parseGenerateFlags(flags);
  } catch (err) {
    if (err instanceof GenerateFlagError)
      command.error(`error: ${err.message}`, { exitCode: 1, code: 'flowmark.invalidFlag' });
    throw err;
  }
  try {
    await runGenerate(config);
  } catch (err) {
    if (process.stderr.isTTY) process.stderr.write('\n'); // below the progress bar
    // One line: a path mistake names --out itself; anything else (a full disk) says what failed.
    const { message } = describeFailure(err, { writesTo: [config.outDir] });
    const text = isFlowmarkError(err) ? message : `could not write the data set into ${config.outDir}: ${message}`;
    process.stderr.write(`flowmark generate: ${text}\n`);
    throw new CommanderError(1, 'flowmark.generateFailed', text);
  }
}
