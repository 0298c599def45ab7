/**
 * The data every suite measures on, built the same way each time: the simulated shop (20 000
 * users × 2 000 products, seed 1), generated event files, the same events pre-parsed by the
 * pipeline's own decode, and synthetic keyed events for the engine's operators.
 */
import { closeSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { AttributionInput } from '../../src/attribution/attribution-function.ts';
import { type AttributionOptions, attributionOptions } from '../../src/attribution/attribution-options.ts';
import { buildAttributionPipeline } from '../../src/attribution/attribution-pipeline.ts';
import type { ProductRow, UserRow } from '../../src/attribution/event-types.ts';
import { type ReplayFlags, runReplay } from '../../src/cli/commands/replay.ts';
import { CONFIG_KEYS } from '../../src/cli/config/index.ts';
import { MemorySource } from '../../src/connectors/memory/memory-source.ts';
import {
  type Clock,
  type Pipeline,
  parseDurationMs,
  Rejected,
  type SourceReader,
  type SourceSpec,
  systemClock,
} from '../../src/engine/index.ts';
import {
  EventGenerator,
  type EventGeneratorOptions,
  generateCatalog,
  productsCsvLines,
  type ShopCatalog,
  usersCsvLines,
} from '../../src/generator/index.ts';

/** The attribution of every suite: flowmark's defaults (first click, scope product, 1 h lookback). */
export const BENCH_ATTRIBUTION: AttributionOptions = attributionOptions();

/** `checkpoint.interval`'s default, as the configuration schema declares it (`flowmark run`'s). */
export const DEFAULT_CHECKPOINT_INTERVAL_MS: number = (() => {
  const ms = parseDurationMs(String(CONFIG_KEYS.find((k) => k.path === 'checkpoint.interval')?.default));
  if (ms === undefined)
    throw new Error('the configuration schema declares no duration default for checkpoint.interval');
  return ms;
})();

/** The shop of every suite: 20 000 users × 2 000 products, seed 1 (`users` to vary it). */
export function benchCatalog(users = 20_000): ShopCatalog {
  return generateCatalog({ users, products: 2_000, seed: 1 });
}

/** The website simulator's events over {@link benchCatalog}: seed 1, 1 000 events per second of event time. */
export function benchEvents(n: number, options: Partial<EventGeneratorOptions> = {}): EventGenerator {
  return new EventGenerator(benchCatalog(), { seed: 1, ratePerSecond: 1000, ...options, events: n });
}

/** A generated data set on disk: `events.jsonl`, `users.csv` and `products.csv` in a directory. */
export interface DataSet {
  events: string;
  users: string;
  products: string;
  /** Size of `events.jsonl`. */
  bytes: number;
}

/** Writes {@link benchEvents} (`n` events, plus `options`) and the shop's CSV files into `dir`. */
export function writeDataSet(dir: string, n: number, options: Partial<EventGeneratorOptions> = {}): DataSet {
  const catalog = benchCatalog();
  const events = join(dir, 'events.jsonl');
  // Written in chunks: 5 M events (~800 MiB) are more than one string can hold.
  const fd = openSync(events, 'w');
  try {
    let text = '';
    for (const line of benchEvents(n, options).lines()) {
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
 * `flowmark replay` in process over a data set, with {@link BENCH_ATTRIBUTION}, output files in
 * `dir` (`out.jsonl`, `dead.jsonl`, plus `extra` such as credits/analytics paths).
 */
export async function replayDataSet(
  ds: Pick<DataSet, 'events' | 'users' | 'products'>,
  dir: string,
  extra: Partial<ReplayFlags> = {},
): Promise<void> {
  const a = BENCH_ATTRIBUTION;
  await runReplay({
    events: ds.events,
    users: ds.users,
    products: ds.products,
    out: join(dir, 'out.jsonl'),
    deadLetter: join(dir, 'dead.jsonl'),
    model: a.model,
    scope: a.scope,
    lookback: `${a.lookbackMs}ms`,
    maxOutOfOrderness: `${a.maxOutOfOrdernessMs}ms`,
    halfLife: `${a.halfLifeMs}ms`,
    quiet: true,
    ...extra,
  });
}

/** The shop's users and products as the pipeline's dimension rows, by id (as replay reads them). */
export function catalogDimensions(catalog: ShopCatalog): {
  users: Map<string, UserRow>;
  products: Map<string, ProductRow>;
} {
  const users = new Map(
    catalog.users.map((u): [string, UserRow] => [u.userId, { userId: u.userId, name: u.name, gender: u.gender }]),
  );
  const products = new Map(
    catalog.products.map((p): [string, ProductRow] => [
      p.productId,
      {
        productId: p.productId,
        name: p.productName,
        category: p.category,
        price: p.price,
        commissionRate: p.commissionRate,
      },
    ]),
  );
  return { users, products };
}

/** The attribution pipeline over `events`, with no dimensions (look-ups find nothing). */
export function attributionPipeline(
  events: SourceReader<string>,
  options: AttributionOptions = BENCH_ATTRIBUTION,
  clock: Clock = systemClock,
): Pipeline {
  const none = async () => new Map();
  return buildAttributionPipeline({ events }, { users: none, products: none }, options, clock);
}

/** The source spec of the attribution pipeline's `events` step (to reach its decode). */
export function eventsSpec(p: Pipeline): SourceSpec<unknown, unknown> {
  const spec = p.nodes().find((node) => node.id === 'events')?.source;
  if (spec === undefined) throw new Error('the attribution pipeline has no source "events"');
  return spec;
}

/** Generated events (in event-time order) as the `events` source's decode makes them, and the shop's dimensions. */
export interface AttributionData {
  values: AttributionInput[];
  users: Map<string, UserRow>;
  products: Map<string, ProductRow>;
}

/** `n` of {@link benchEvents}, parsed untimed by the pipeline's own decode. */
export function attributionData(n: number): AttributionData {
  const lines = [...benchEvents(n).lines()];
  const decode = eventsSpec(attributionPipeline(MemorySource.of<string>([]))).decode;
  if (decode === undefined) throw new Error('the events source of the attribution pipeline has no decode');
  const values = lines.map((line) => {
    const v = decode(line);
    if (v instanceof Rejected) throw new Error(`generated line rejected (${v.reason}): ${line}`);
    return v as AttributionInput;
  });
  return { values, ...catalogDimensions(benchCatalog()) };
}

/** A synthetic keyed event of the engine benchmarks: key, event time, join side. */
export interface BenchEvent {
  k: string;
  t: number;
  side: 0 | 1;
}

/** Deterministic events: `n` events over `keys` keys, 1 000 events per event-time second, bounded disorder. */
export function makeEvents(n: number, keys: number, disorderMs = 2000, seed = 42): BenchEvent[] {
  let s = seed >>> 0;
  const rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const out: BenchEvent[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      k: `u${Math.floor(rnd() * keys)}`,
      t: 1_700_000_000_000 + i - Math.floor(rnd() * disorderMs),
      side: rnd() < 0.2 ? 0 : 1,
    };
  }
  return out;
}
