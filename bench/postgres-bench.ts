/**
 * PostgreSQL in production (issue #4), against a real server (`--database-url`, or
 * FLOWMARK_TEST_PG_URL from `scripts/services.sh postgres`):
 *
 * 1. **sink**: attributed_checkouts rows written by flowmark's strategy (`writeRows`: one
 *    `INSERT … SELECT FROM unnest($1::text[], …) ON CONFLICT … DO UPDATE` per batch) next to a
 *    plain multi-row `INSERT … VALUES ($1, …), (…) ON CONFLICT … DO UPDATE` (at most 65 535
 *    parameters per statement), both one transaction per batch of the committer's default size,
 *    into a fresh schema each, alternating which goes first. COPY is not measured: it needs
 *    pg-copy-streams, which flowmark does not depend on.
 * 2. **checkpoint vs state size**: committed state of 1e5, 1e6, 1e7 clicks (bulk-loaded through
 *    `SqlCommitter.commit`, in the shape of the attribution function's `clicks` state), then the
 *    duration of a fixed incremental checkpoint (10 k changed click keys + 1 k sink rows) at each
 *    size. Incremental means flat: the ratio to the smallest size should stay near 1.
 * 3. **restart**: `SqlCommitter.load()` and a full `Runtime.open()` of the attribution pipeline
 *    over the largest state, each in a fresh child process (its memory is its own; a child that
 *    runs out of heap is reported, not fatal), next to the raw SQL read of the same rows.
 *
 * Every schema created here (`fm_bench_<pid>_…`) is dropped at the end.
 */
import { spawn } from 'node:child_process';
import { totalmem } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { attributionOptions } from '../src/attribution/attribution-options.ts';
import { buildAttributionPipeline } from '../src/attribution/attribution-pipeline.ts';
import type { AttributedCheckoutRow } from '../src/attribution/output-rows.ts';
import { outputMigrations, SINK_TABLES } from '../src/attribution/output-schema.ts';
import { MemorySource } from '../src/connectors/memory/memory-source.ts';
import { openPostgresDatabase, type PostgresDatabase } from '../src/connectors/postgres/index.ts';
import {
  DEFAULT_BATCH_ROWS,
  runMigrations,
  type SinkTable,
  type SqlClient,
  SqlCommitter,
  writeRows,
} from '../src/connectors/sql/index.ts';
import { encodeStateKey } from '../src/connectors/sql/sql-committer.ts';
import { columnArrays, lastPerKey, unnestStatement } from '../src/connectors/sql/unnest-writer.ts';
import type {
  Checkpoint,
  CheckpointCommitter,
  RestorePoint,
  SnapshotEntry,
  SnapshotMeta,
} from '../src/engine/index.ts';
import { Runtime, systemClock } from '../src/engine/index.ts';
import { SNAPSHOT_FORMAT_VERSION } from '../src/engine/snapshot.ts';
import { EventGenerator, generateCatalog, SOURCES } from '../src/generator/index.ts';
import { type BenchResult, fmt, median } from './bench-lib.ts';

export interface PostgresBenchOptions {
  /** The server; every schema created is dropped at the end. */
  url: string;
  /** attributed_checkouts rows per sink variant and round. */
  rows: number;
  /** State sizes (clicks), increasing; the restart is measured at the largest. */
  clicks: number[];
  /** Timed incremental checkpoints per state size (after one untimed warm-up). */
  reps: number;
  /** `--max-old-space-size` of the restart child processes (undefined: Node's default). */
  restartHeapMiB?: number;
}

/**
 * The sizes run by default (about 5 minutes on a 2-core box). `--clicks 1e5,1e6,1e7` takes about
 * 20: building 1e7 clicks of state alone takes 7–8 minutes, and its restart does not fit in
 * Node's default heap (measured, then measured again with a larger heap).
 */
export const DEFAULT_CLICKS = [100_000, 1_000_000];

/** What to do when no server is configured (printed by bench/run.ts, which then exits nonzero). */
export const NO_SERVER_MESSAGE = `the postgres benchmark needs a PostgreSQL server (it creates and drops schemas fm_bench_* in it):
  scripts/services.sh postgres -- npm run bench -- postgres     # a throwaway server for this run
  eval "$(scripts/services.sh postgres)"; npm run bench -- postgres   # or keep one running (scripts/services.sh stop)
  npm run bench -- postgres --database-url postgres://user@host:5432/db  # or a server of your own`;

const JOB = 'attribution';
const LOG = (line: string) => process.stderr.write(`[postgres] ${line}\n`);
const ATTRIBUTION = attributionOptions();
const PROGRESS_EVERY_MS = 10_000;

export async function postgresBenchmarks(o: PostgresBenchOptions): Promise<BenchResult[]> {
  const prefix = `fm_bench_${process.pid}`;
  const main = `${prefix}_state`;
  const db = await openPostgresDatabase(o.url, {
    migrations: outputMigrations(main),
    schema: main,
    poolSize: 2,
    applicationName: 'flowmark-bench',
  });
  const created = [main];
  try {
    const server = await serverInfo(db);
    LOG(`server: ${server}`);
    const sink = await sinkBenchmark(db, o, prefix, created, server);
    const { result: cp, keys, clicks } = await checkpointBenchmark(db, o, main);
    const restart = await restartBenchmark(db, o, main, keys, clicks);
    return [sink, cp, restart];
  } finally {
    for (const s of created) await db.exec(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
    await db.close();
  }
}

async function serverInfo(db: SqlClient): Promise<string> {
  const { rows } = await db.query<{ v: string; sb: string; fs: string; sc: string; mw: string }>(
    `SELECT current_setting('server_version') AS v, current_setting('shared_buffers') AS sb,
            current_setting('fsync') AS fs, current_setting('synchronous_commit') AS sc,
            current_setting('max_wal_size') AS mw`,
  );
  const r = rows[0] as { v: string; sb: string; fs: string; sc: string; mw: string };
  return `PostgreSQL ${r.v.split(' ')[0]}, shared_buffers ${r.sb}, max_wal_size ${r.mw}, fsync ${r.fs}, synchronous_commit ${r.sc}`;
}

// ---- deterministic data ---------------------------------------------------------------------

/** A small fast PRNG (mulberry32): the same data on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HEX = '0123456789abcdef';
/** A UUID-shaped id (36 characters), as the generator's click and checkout ids are. */
export function uuid(rnd: () => number): string {
  let s = '';
  for (let i = 0; i < 32; i++) {
    if (i === 8 || i === 12 || i === 16 || i === 20) s += '-';
    s += HEX[(rnd() * 16) | 0];
  }
  return s;
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

const CHECKOUT_T0 = Date.parse('2026-03-01T00:00:00.000Z');
const METHODS = ['Visa', 'Mastercard', 'PayPal', 'Apple Pay', 'Amex'];
const CATEGORIES = ['Books', 'Electronics', 'Home', 'Beauty', 'Toys', 'Sports'];

/** A full attributed_checkouts row (every column, realistic values); `i` makes the id unique. */
function checkoutRow(i: number, rnd: () => number): AttributedCheckoutRow {
  const price = Math.round((5 + rnd() * 300) * 100) / 100;
  const quantity = 1 + ((rnd() * 3) | 0);
  const discount = rnd() < 0.2 ? 0.1 : 0;
  const value = Math.round(price * quantity * (1 - discount) * 100) / 100;
  const failed = rnd() < 0.05;
  const attributed = rnd() < 0.6;
  const t = CHECKOUT_T0 + i * 37;
  return {
    checkout_id: uuid(rnd),
    user_id: `u${pad((rnd() * 1e6) | 0, 6)}`,
    product_id: `p${pad((rnd() * 1e5) | 0, 5)}`,
    quantity,
    discount,
    shipping_cost: value > 50 ? 0 : 4.99,
    payment_method: METHODS[(rnd() * METHODS.length) | 0] as string,
    payment_status: failed ? 'failed' : 'success',
    payment_description: failed ? 'insufficient funds' : null,
    user_name: `User ${(rnd() * 1e6) | 0}`,
    user_gender: rnd() < 0.5 ? 'female' : 'male',
    product_name: `Product ${(rnd() * 1e5) | 0} (Paperback)`,
    product_category: CATEGORIES[(rnd() * CATEGORIES.length) | 0] as string,
    product_price: price,
    commission_rate: 0.14,
    click_id: attributed ? uuid(rnd) : null,
    click_source: attributed ? (SOURCES[(rnd() * SOURCES.length) | 0]?.[0] as string) : null,
    click_time: attributed ? new Date(t - ((rnd() * 3_600_000) | 0)).toISOString() : null,
    checkout_time: new Date(t).toISOString(),
    order_value: value,
    revenue: failed ? 0 : value,
    profit: failed ? 0 : Math.round(value * 0.14 * 100) / 100,
    attribution_model: 'first_click',
    is_final: true,
  };
}

export function checkoutRows(n: number, from: number, seed: number): AttributedCheckoutRow[] {
  const rnd = prng(seed);
  const rows = new Array<AttributedCheckoutRow>(n);
  for (let i = 0; i < n; i++) rows[i] = checkoutRow(from + i, rnd);
  return rows;
}

// ---- 1. sink throughput -----------------------------------------------------------------------

/** Most parameters of one statement in the PostgreSQL protocol (a 16-bit count). */
const MAX_PARAMS = 65_535;

/**
 * The reference: a plain multi-row `INSERT … VALUES ($1, …), (…)` with the same conflict clause
 * as flowmark's `unnest` statement, as many rows per statement as 65 535 parameters allow, the
 * same value conversions and the same de-duplication (last row per key).
 */
async function writeRowsValues(
  client: SqlClient,
  schema: string,
  t: SinkTable,
  rows: readonly unknown[],
): Promise<number> {
  const kept = lastPerKey(t, rows);
  const ncols = t.columns.length;
  const perStatement = Math.floor(MAX_PARAMS / ncols);
  const unnest = unnestStatement(schema, t);
  const head = unnest.slice(0, unnest.indexOf(' SELECT * FROM unnest('));
  const conflict = unnest.includes(' ON CONFLICT') ? unnest.slice(unnest.indexOf(' ON CONFLICT')) : '';
  const texts = new Map<number, string>();
  const textFor = (n: number): string => {
    let s = texts.get(n);
    if (s === undefined) {
      const tuples: string[] = [];
      for (let r = 0; r < n; r++) {
        const ps: string[] = [];
        for (let c = 0; c < ncols; c++) ps.push(`$${r * ncols + c + 1}`);
        tuples.push(`(${ps.join(', ')})`);
      }
      s = `${head} VALUES ${tuples.join(', ')}${conflict}`;
      texts.set(n, s);
    }
    return s;
  };
  for (let from = 0; from < kept.length; from += perStatement) {
    const to = Math.min(kept.length, from + perStatement);
    const arrays = columnArrays(t, kept, from, to);
    const params = new Array<unknown>((to - from) * ncols);
    for (let c = 0; c < ncols; c++) {
      const col = arrays[c] as unknown[];
      for (let r = 0; r < to - from; r++) params[r * ncols + c] = col[r];
    }
    await client.query(textFor(to - from), params);
  }
  return kept.length;
}

type SinkVariant = 'unnest' | 'values';

async function sinkBenchmark(
  db: PostgresDatabase,
  o: PostgresBenchOptions,
  prefix: string,
  created: string[],
  server: string,
): Promise<BenchResult> {
  const table = SINK_TABLES.attributed_checkouts;
  const rows = checkoutRows(o.rows, 0, 7);
  const batch = DEFAULT_BATCH_ROWS;
  const perStatement = Math.floor(MAX_PARAMS / table.columns.length);
  const write = async (variant: SinkVariant, schema: string) => {
    for (let from = 0; from < rows.length; from += batch) {
      const chunk = rows.slice(from, from + batch);
      await db.transaction((tx) =>
        variant === 'unnest' ? writeRows(tx, schema, table, chunk, batch) : writeRowsValues(tx, schema, table, chunk),
      );
    }
  };
  const rounds = 3;
  const insertS: Record<SinkVariant, number[]> = { unnest: [], values: [] };
  const updateS: Record<SinkVariant, number[]> = { unnest: [], values: [] };
  const counts: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    const order: SinkVariant[] = r % 2 === 0 ? ['unnest', 'values'] : ['values', 'unnest'];
    for (const v of order) {
      const schema = `${prefix}_sink_${v}_${r}`;
      created.push(schema);
      await runMigrations(db, schema, outputMigrations(schema));
      globalThis.gc?.();
      let t0 = performance.now();
      await write(v, schema);
      insertS[v].push((performance.now() - t0) / 1000);
      // The same rows again: every row is a conflict, updated in place.
      t0 = performance.now();
      await write(v, schema);
      updateS[v].push((performance.now() - t0) / 1000);
      const { rows: n } = await db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM "${schema}".attributed_checkouts`,
      );
      counts[v] = Number(n[0]?.n);
      await db.exec(`DROP SCHEMA "${schema}" CASCADE`);
      LOG(
        `sink round ${r + 1}/${rounds} ${v}: ${fmt(o.rows / (insertS[v].at(-1) as number))} rows/s insert, ` +
          `${fmt(o.rows / (updateS[v].at(-1) as number))} rows/s update`,
      );
    }
  }
  if (counts.unnest !== o.rows || counts.values !== o.rows) {
    throw new Error(`sink variants wrote ${counts.unnest} and ${counts.values} rows, expected ${o.rows}`);
  }
  const rate = (s: number[]) => o.rows / median(s);
  const u = rate(insertS.unnest);
  const v = rate(insertS.values);
  const uu = rate(updateS.unnest);
  const vu = rate(updateS.values);
  return {
    name: `postgres: sink throughput, ${fmt(o.rows)} attributed_checkouts rows, unnest (flowmark) vs multi-row INSERT … VALUES`,
    figures: {
      rows: o.rows,
      batch_rows: batch,
      values_rows_per_statement: perStatement,
      unnest_rows_per_s: u,
      values_rows_per_s: v,
      unnest_to_values: u / v,
      unnest_update_rows_per_s: uu,
      values_update_rows_per_s: vu,
      unnest_to_values_update: uu / vu,
    },
    rows: [
      ['server (same machine)', server],
      ['rows (24 columns), per variant and round', `${fmt(o.rows)}; median of ${rounds} rounds, order alternating`],
      [
        'transactions',
        `one per ${fmt(batch)} rows (the committer's batchRows); unnest: 1 statement per transaction, VALUES: ${Math.ceil(batch / perStatement)} of ≤ ${fmt(perStatement)} rows (65 535 parameters)`,
      ],
      ['unnest (flowmark writeRows), rows/s into a fresh table', fmt(u)],
      ['multi-row INSERT … VALUES, rows/s into a fresh table', fmt(v)],
      ['unnest / VALUES (insert)', `${(u / v).toFixed(2)}×`],
      ['unnest, rows/s re-writing the same rows (all conflicts → update)', fmt(uu)],
      ['multi-row VALUES, rows/s re-writing the same rows', fmt(vu)],
      ['unnest / VALUES (update)', `${(uu / vu).toFixed(2)}×`],
      ['COPY', 'not measured: needs pg-copy-streams, which flowmark does not depend on'],
    ],
  };
}

// ---- 2. checkpoint duration as the state grows --------------------------------------------------

/** The attribution pipeline over an in-memory source of raw lines (dimensions: none). */
export function attributionPipeline(events: MemorySource<string>) {
  const none = async () => new Map();
  return buildAttributionPipeline({ events }, { users: none, products: none }, ATTRIBUTION, systemClock);
}

/** Keeps the compacted result of every checkpoint in memory. */
class CapturingCommitter implements CheckpointCommitter {
  meta: SnapshotMeta | undefined;
  readonly state = new Map<string, SnapshotEntry>();
  async load(): Promise<RestorePoint | undefined> {
    return undefined;
  }
  async commit(cp: Checkpoint): Promise<void> {
    this.meta = cp.snapshot.meta;
    for (const e of cp.snapshot.entries) {
      const k = `${e.node}\u0000${e.table}\u0000${e.key}`;
      if (e.value === undefined) this.state.delete(k);
      else this.state.set(k, e);
    }
  }
}

/**
 * Runs the real attribution pipeline over generated events (unbounded, stopped once everything
 * was read, so that nothing is finalized by an end of input) and returns its last checkpoint: the
 * metadata every synthetic checkpoint reuses, and real state entries to compare shapes with.
 */
export async function realCheckpoint(events: number): Promise<{ meta: SnapshotMeta; entries: SnapshotEntry[] }> {
  const catalog = generateCatalog({ users: 20_000, products: 2_000, seed: 1 });
  const lines = [...new EventGenerator(catalog, { events, seed: 1, ratePerSecond: 1000 }).lines()];
  const source = MemorySource.of(lines, { bounded: false });
  const committer = new CapturingCommitter();
  const runtime = new Runtime(attributionPipeline(source), {
    committer,
    clock: systemClock,
    checkpointEveryRecords: 5000,
  });
  const ac = new AbortController();
  const poll = setInterval(() => {
    if (source.committed.get(0) === lines.length) ac.abort();
  }, 20);
  try {
    await runtime.run({ signal: ac.signal });
  } finally {
    clearInterval(poll);
    await runtime.close();
  }
  return { meta: committer.meta as SnapshotMeta, entries: [...committer.state.values()] };
}

/**
 * Synthetic `attribute/clicks` entries in the exact shape of the real ones: key
 * `u<6 digits>\0p<5 digits>`, value `[[t, {clickId, source, eventTimeMs}], …]` sorted by time,
 * expiring one lookback after the last click. One key in 12 holds two clicks (1.08 clicks per key
 * on average, as the generator's data has). Products from p02000 up never collide with the real
 * run's keys (products < 2 000). Times lie within the lookback before the watermark `wm`, so that
 * nothing expires when a restored pipeline resumes.
 */
export class ClickState {
  readonly #wm: number;
  constructor(wm: number) {
    this.#wm = wm;
  }
  static clicksOf(i: number): number {
    return i % 12 === 0 ? 2 : 1;
  }
  static key(i: number): string {
    return `u${pad(i % 1_000_000, 6)}\u0000p${pad(2000 + Math.floor(i / 1_000_000), 5)}`;
  }
  /** The entry of key `i` with `n` clicks (`salt` varies the values of re-written keys). */
  entry(i: number, n = ClickState.clicksOf(i), salt = 0): SnapshotEntry {
    const rnd = prng(i * 7919 + salt * 104729 + 1);
    const times: number[] = [];
    for (let c = 0; c < n; c++) times.push(this.#wm - 1000 - Math.floor(rnd() * 50 * 60_000));
    times.sort((a, b) => a - b);
    const value = times.map((t) => [
      t,
      { clickId: uuid(rnd), source: SOURCES[(rnd() * SOURCES.length) | 0]?.[0] as string, eventTimeMs: t },
    ]);
    return {
      node: 'attribute',
      table: 'clicks',
      key: ClickState.key(i),
      value,
      expiresAtMs: (times.at(-1) as number) + ATTRIBUTION.lookbackMs,
    };
  }
}

/** A SqlClient that adds up the time of each kind of statement (for the checkpoint breakdown). */
class TimedClient implements SqlClient {
  readonly times = new Map<string, number>();
  readonly #inner: SqlClient;
  constructor(inner: SqlClient) {
    this.#inner = inner;
  }
  #add(kind: string, ms: number): void {
    this.times.set(kind, (this.times.get(kind) ?? 0) + ms);
  }
  async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]) {
    const t0 = performance.now();
    try {
      return await this.#inner.query<R>(text, params);
    } finally {
      const kind = text.includes('."checkpoints"')
        ? 'fence'
        : /^INSERT INTO \S+\."state"/.test(text.trim())
          ? 'state upsert'
          : /^DELETE FROM \S+\."state"/.test(text.trim())
            ? 'state delete'
            : 'sink';
      this.#add(kind, performance.now() - t0);
    }
  }
  exec(script: string): Promise<void> {
    return this.#inner.exec(script);
  }
  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const t0 = performance.now();
    let inner = 0;
    try {
      return await this.#inner.transaction(async (tx) => {
        const timed = new TimedClient(tx);
        try {
          return await fn(timed);
        } finally {
          for (const [k, ms] of timed.times) {
            this.#add(k, ms);
            inner += ms;
          }
        }
      });
    } finally {
      this.#add('BEGIN/COMMIT', performance.now() - t0 - inner);
    }
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

interface SizePoint {
  clicks: number;
  stateRows: number;
  stateBytes: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** WAL written by the server during the checkpoint's transaction (median; any other session's too). */
  walMiB: number;
  breakdown: Map<string, number>;
}

export const DELTA = { updates: 6000, inserts: 2000, deletes: 2000, sinkRows: 1000 };
const BUILD_KEYS_PER_COMMIT = 200_000;

async function checkpointBenchmark(
  db: PostgresDatabase,
  o: PostgresBenchOptions,
  schema: string,
): Promise<{ result: BenchResult; keys: number; clicks: number }> {
  LOG('running the real pipeline over 20 k generated events for the checkpoint metadata and the state shape');
  const real = await realCheckpoint(20_000);
  const wm = real.meta.nodes.attribute?.watermarkMs as number;
  const gen = new ClickState(wm);
  const timed = new TimedClient(db);
  const committer = new SqlCommitter(timed, { schema, job: JOB, sinks: SINK_TABLES });
  await committer.load();
  let id = 0;
  const commit = (entries: SnapshotEntry[], rows: readonly unknown[] = []) =>
    committer.commit({
      id: ++id,
      snapshot: {
        version: SNAPSHOT_FORMAT_VERSION,
        checkpointId: id,
        kind: id === 1 ? 'full' : 'delta',
        meta: real.meta,
        entries,
      },
      outputs: new Map([['attributed_checkouts', rows]]),
    });
  // The real entries first (every table of the pipeline), then the synthetic clicks.
  await commit(real.entries);
  const realClicks = real.entries.filter((e) => e.table === 'clicks');
  const avgBytes = (es: SnapshotEntry[]) =>
    es.reduce((s, e) => s + encodeStateKey(e.key).length + JSON.stringify(e.value).length, 0) / es.length;
  const synthSample = Array.from({ length: 1000 }, (_, i) => gen.entry(i));
  const realClickCount = realClicks.reduce((s, e) => s + (e.value as unknown[]).length, 0);
  const realClicksPerKey = realClickCount / Math.max(1, realClicks.length);

  let keys = 0; // synthetic keys 0 … keys − 1
  let clicks = realClickCount; // the real run's clicks count too
  let buildS = 0;
  let settleS = 0;
  let newKey = 500_000_000; // keys inserted by the measured checkpoints (products from p02500)
  let sinkRow = 0;
  let salt = 0;
  const points: SizePoint[] = [];
  for (const target of o.clicks) {
    const t0 = performance.now();
    let lastLog = t0;
    const from = clicks;
    while (clicks < target) {
      const entries: SnapshotEntry[] = [];
      while (clicks < target && entries.length < BUILD_KEYS_PER_COMMIT) {
        entries.push(gen.entry(keys));
        clicks += ClickState.clicksOf(keys);
        keys++;
      }
      await commit(entries);
      const now = performance.now();
      if (now - lastLog > PROGRESS_EVERY_MS) {
        lastLog = now;
        LOG(
          `building state: ${fmt(clicks)} / ${fmt(target)} clicks (${fmt((clicks - from) / ((now - t0) / 1000))} clicks/s)`,
        );
      }
    }
    const built = (performance.now() - t0) / 1000;
    buildS += built;
    // What autovacuum does on its own after a bulk load (statistics), and a server checkpoint, so
    // that every size starts measuring from the same situation.
    const t1 = performance.now();
    await db.exec(`ANALYZE "${schema}".state`);
    await db.exec('CHECKPOINT').catch(() => LOG('CHECKPOINT not permitted (not a superuser): skipped'));
    settleS += (performance.now() - t1) / 1000;
    const { rows: sz } = await db.query<{ n: string; bytes: string }>(
      `SELECT count(*)::text AS n, pg_total_relation_size('"${schema}".state')::text AS bytes FROM "${schema}".state`,
    );
    const stateRows = Number(sz[0]?.n);
    const stateBytes = Number(sz[0]?.bytes);
    LOG(
      `state of ${fmt(clicks)} clicks (${fmt(stateRows)} rows, ${(stateBytes / 2 ** 20).toFixed(0)} MiB) built in ${built.toFixed(1)} s; measuring checkpoints`,
    );

    // A typical incremental checkpoint: clicks added to existing keys, new keys, expired keys,
    // and the sink rows of the same interval. Different keys every time (no cache advantage).
    const rnd = prng(target);
    const ms: number[] = [];
    const walBytes: number[] = [];
    for (let rep = 0; rep <= o.reps; rep++) {
      salt++;
      const entries: SnapshotEntry[] = [];
      for (let j = 0; j < DELTA.updates; j++) {
        const i = Math.floor(rnd() * keys);
        entries.push(gen.entry(i, ClickState.clicksOf(i) + 1, salt));
      }
      for (let j = 0; j < DELTA.inserts; j++) entries.push(gen.entry(newKey++));
      for (let j = 0; j < DELTA.deletes; j++) {
        entries.push({
          node: 'attribute',
          table: 'clicks',
          key: ClickState.key(Math.floor(rnd() * keys)),
          value: undefined,
        });
      }
      const rows = checkoutRows(DELTA.sinkRows, 10_000_000 + sinkRow, sinkRow + 1);
      sinkRow += DELTA.sinkRows;
      const lsn0 = await walLsn(db);
      const t = performance.now();
      await commit(entries, rows);
      const took = performance.now() - t;
      const wal = await walBytesSince(db, lsn0);
      if (rep === 0)
        timed.times.clear(); // the warm-up is not counted
      else {
        ms.push(took);
        walBytes.push(wal);
      }
    }
    const breakdown = new Map([...timed.times].map(([k, v]) => [k, v / o.reps]));
    points.push({
      clicks,
      stateRows,
      stateBytes,
      medianMs: median(ms),
      minMs: Math.min(...ms),
      maxMs: Math.max(...ms),
      walMiB: median(walBytes) / 2 ** 20,
      breakdown,
    });
    LOG(
      `checkpoint at ${fmt(clicks)} clicks: median ${median(ms).toFixed(0)} ms (${ms.map((m) => m.toFixed(0)).join(', ')})`,
    );
  }

  const base = points[0] as SizePoint;
  const last = points.at(-1) as SizePoint;
  const figures: Record<string, number> = {
    build_s: buildS,
    build_clicks_per_s: clicks / buildS,
    settle_s: settleS,
    reps: o.reps,
    delta_state_changes: DELTA.updates + DELTA.inserts + DELTA.deletes,
    delta_sink_rows: DELTA.sinkRows,
  };
  const rows: Array<[string, string]> = [
    [
      'state shape (real run of the pipeline vs synthetic)',
      `clicks entry: real ${avgBytes(realClicks).toFixed(0)} B (key + JSON value, ${realClicksPerKey.toFixed(2)} clicks/key), ` +
        `synthetic ${avgBytes(synthSample).toFixed(0)} B (1.08 clicks/key)`,
    ],
    [
      'state built through SqlCommitter.commit',
      `${fmt(clicks)} clicks in ${buildS.toFixed(0)} s (${fmt(clicks / buildS)} clicks/s, ${fmt(BUILD_KEYS_PER_COMMIT)} keys per commit); then ANALYZE + CHECKPOINT per size (${settleS.toFixed(0)} s)`,
    ],
    [
      'the measured checkpoint',
      `${DELTA.updates + DELTA.inserts + DELTA.deletes} changed click keys (${DELTA.updates} updated, ${DELTA.inserts} new, ${DELTA.deletes} deleted, random over the whole state) + ${fmt(DELTA.sinkRows)} attributed_checkouts rows; median of ${o.reps} after a warm-up`,
    ],
  ];
  for (const p of points) {
    const tag = String(p.clicks);
    figures[`state_rows_${tag}`] = p.stateRows;
    figures[`state_bytes_${tag}`] = p.stateBytes;
    figures[`checkpoint_ms_${tag}`] = p.medianMs;
    figures[`checkpoint_ratio_${tag}`] = p.medianMs / base.medianMs;
    figures[`checkpoint_wal_mib_${tag}`] = p.walMiB;
    rows.push([
      `checkpoint with ${fmt(p.clicks)} clicks of state (${fmt(p.stateRows)} rows, ${(p.stateBytes / 2 ** 20).toFixed(0)} MiB with indexes)`,
      `${(p.medianMs / base.medianMs).toFixed(2)}× the first size: ${p.medianMs.toFixed(0)} ms median (${p.minMs.toFixed(0)}–${p.maxMs.toFixed(0)}), ${p.walMiB.toFixed(0)} MiB of WAL`,
    ]);
  }
  const parts = (p: SizePoint) =>
    ['state upsert', 'state delete', 'sink', 'fence', 'BEGIN/COMMIT']
      .map((k) => `${k} ${(p.breakdown.get(k) ?? 0).toFixed(0)}`)
      .join(', ');
  rows.push([`where a checkpoint's ms go at ${fmt(base.clicks)} clicks (mean)`, parts(base)]);
  if (last !== base) rows.push([`where a checkpoint's ms go at ${fmt(last.clicks)} clicks (mean)`, parts(last)]);
  figures.checkpoint_ratio_largest_to_smallest = last.medianMs / base.medianMs;
  return {
    result: {
      name: `postgres: incremental checkpoint duration as the state grows (${o.clicks.map(fmt).join(' → ')} clicks)`,
      figures,
      rows,
    },
    keys,
    clicks,
  };
}

async function walLsn(db: SqlClient): Promise<string> {
  const { rows } = await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return (rows[0] as { lsn: string }).lsn;
}

async function walBytesSince(db: SqlClient, lsn: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text AS n', [lsn]);
  return Number(rows[0]?.n);
}

// ---- 3. restart -------------------------------------------------------------------------------

interface ChildResult {
  mode: 'load' | 'open';
  /** load: entries yielded by load(). */
  entries?: number;
  rawReadMs?: number;
  rawReadRows?: number;
  /** load: load() and the iteration of every entry it yields. */
  loadMs?: number;
  /** open: Runtime.open(), load and restore into the state tables. */
  openMs?: number;
  /** Garbage collection during the step, s. */
  gcSeconds: number;
  heapUsedMiB: number;
  rssMiB: number;
  maxRssMiB: number;
  heapLimitMiB: number;
}

async function restartBenchmark(
  db: PostgresDatabase,
  o: PostgresBenchOptions,
  schema: string,
  keys: number,
  clicks: number,
): Promise<BenchResult> {
  const { rows: sz } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${schema}".state`);
  const stateRows = Number(sz[0]?.n);
  const run = async (mode: 'load' | 'open', heapMiB: number | undefined) => {
    const heap = heapMiB === undefined ? "Node's default heap" : `--max-old-space-size=${heapMiB}`;
    LOG(`restart (${mode}) over ${fmt(clicks)} clicks in a child process (${heap})…`);
    const r = await runChild(o, schema, mode, heapMiB);
    LOG('error' in r ? `restart (${mode}) failed: ${r.error}` : `restart (${mode}): ${JSON.stringify(r)}`);
    return r;
  };
  const load = await run('load', o.restartHeapMiB);
  const firstOpen = await run('open', o.restartHeapMiB);
  // Out of heap with Node's default limit: say so, and measure again with a larger heap.
  const retryHeapMiB = Math.floor((totalmem() / 2 ** 20) * 0.5);
  const retried = 'error' in firstOpen && firstOpen.oom && o.restartHeapMiB === undefined;
  const open = retried ? await run('open', retryHeapMiB) : firstOpen;
  const figures: Record<string, number> = { clicks, state_keys: keys, state_rows: stateRows };
  const rows: Array<[string, string]> = [
    ['state', `${fmt(clicks)} clicks in ${fmt(stateRows)} state rows`],
    [
      'each step in a fresh child process, heap limit',
      o.restartHeapMiB === undefined ? "Node's default" : `--max-old-space-size=${o.restartHeapMiB}`,
    ],
  ];
  if (retried) {
    figures.default_heap_open_failed_after_s = (firstOpen as ChildFailure).seconds;
    rows.push([
      "Runtime.open() with Node's default heap",
      `${(firstOpen as ChildFailure).error}; measured again with --max-old-space-size=${retryHeapMiB}`,
    ]);
  }
  const s = (ms: number) => (ms / 1000).toFixed(1);
  let raw: number | undefined;
  let loaded: number | undefined;
  if ('error' in load) rows.push(['SqlCommitter.load()', `failed: ${load.error}`]);
  else {
    raw = load.rawReadMs as number;
    loaded = load.loadMs as number;
    figures.raw_read_s = raw / 1000;
    figures.load_s = loaded / 1000;
    figures.load_to_raw_read = loaded / raw;
    figures.load_heap_used_mib = load.heapUsedMiB;
    figures.load_max_rss_mib = load.maxRssMiB;
    figures.load_gc_s = load.gcSeconds;
    figures.heap_limit_mib = load.heapLimitMiB;
    rows.push(
      [
        'reference: raw SQL read of the rows (the same keyset pages, no JSON.parse), s',
        `${s(raw)} (${fmt((load.rawReadRows as number) / (raw / 1000))} rows/s)`,
      ],
      [
        'SqlCommitter.load() + every entry read (JSON.parse, key decoding), s',
        `${s(loaded)} (${fmt((load.entries as number) / (loaded / 1000))} entries/s)`,
      ],
      ['load / raw SQL read', `${(loaded / raw).toFixed(2)}×`],
      [
        'after load(): heap used with the RestorePoint held, peak RSS; GC in the child (raw read + load)',
        `${load.heapUsedMiB.toFixed(0)} MiB, ${load.maxRssMiB.toFixed(0)} MiB (heap limit ${load.heapLimitMiB.toFixed(0)} MiB); GC ${load.gcSeconds.toFixed(1)} s`,
      ],
    );
  }
  if ('error' in open) rows.push(['Runtime.open() of the attribution pipeline', `failed: ${open.error}`]);
  else {
    const openMs = open.openMs as number;
    figures.open_s = openMs / 1000;
    figures.open_heap_used_mib = open.heapUsedMiB;
    figures.open_max_rss_mib = open.maxRssMiB;
    figures.open_heap_limit_mib = open.heapLimitMiB;
    figures.open_gc_s = open.gcSeconds;
    rows.push([
      'Runtime.open() of the attribution pipeline (load + restore into its state tables), s',
      loaded === undefined ? s(openMs) : `${s(openMs)} (restore ≈ ${s(openMs - loaded)}: open − load, two processes)`,
    ]);
    if (raw !== undefined && loaded !== undefined) {
      figures.restore_s = (openMs - loaded) / 1000;
      figures.open_to_raw_read = openMs / raw;
      rows.push(['open / raw SQL read', `${(openMs / raw).toFixed(2)}×`]);
    }
    rows.push([
      'after open(): heap used (the restored state tables), peak RSS; GC during open()',
      `${open.heapUsedMiB.toFixed(0)} MiB, ${open.maxRssMiB.toFixed(0)} MiB (heap limit ${open.heapLimitMiB.toFixed(0)} MiB); GC ${open.gcSeconds.toFixed(1)} s`,
    ]);
  }
  return { name: `postgres: restart from a checkpoint with ${fmt(clicks)} clicks of state`, figures, rows };
}

interface ChildFailure {
  error: string;
  oom: boolean;
  seconds: number;
}

function runChild(
  o: PostgresBenchOptions,
  schema: string,
  mode: 'load' | 'open',
  heapMiB: number | undefined,
): Promise<ChildResult | ChildFailure> {
  const args = ['--expose-gc'];
  if (heapMiB !== undefined) args.push(`--max-old-space-size=${heapMiB}`);
  args.push(fileURLToPath(import.meta.url), CHILD_FLAG, mode, schema);
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    env: { ...process.env, FM_BENCH_PG_URL: o.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
    for (const line of String(d).split('\n')) if (line.startsWith('[postgres]')) process.stderr.write(`${line}\n`);
  });
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line.startsWith('{')) return resolve(JSON.parse(line) as ChildResult);
      const seconds = (performance.now() - started) / 1000;
      if (code === 3 && line.startsWith('{')) {
        const h = JSON.parse(line) as { heapUsedMiB: number; heapLimitMiB: number; seconds: number };
        return resolve({
          oom: true,
          seconds,
          error:
            `does not fit in a ${h.heapLimitMiB.toFixed(0)} MiB heap: stopped after ${h.seconds.toFixed(0)} s with ` +
            `${h.heapUsedMiB.toFixed(0)} MiB used (${HEAP_STOP * 100} % of the limit; beyond it V8 collects garbage for minutes, then dies)`,
        });
      }
      const oom = /heap out of memory|Allocation failed/i.test(err);
      resolve({
        oom,
        seconds,
        error: oom
          ? `ran out of heap after ${seconds.toFixed(0)} s (JavaScript heap out of memory)`
          : `exit ${code ?? signal} after ${seconds.toFixed(0)} s: ${err.trim().split('\n').slice(-3).join(' ')}`,
      });
    });
  });
}

const CHILD_FLAG = '--postgres-bench-restart-child';
/** The share of the heap limit at which a restart child gives up (see the watchdog). */
const HEAP_STOP = 0.92;

/** In the child: measures one restart and prints its result as one JSON line. */
async function restartChild(mode: 'load' | 'open', schema: string): Promise<void> {
  const url = process.env.FM_BENCH_PG_URL as string;
  const db = await openPostgresDatabase(url, {
    migrations: outputMigrations(schema),
    schema,
    poolSize: 2,
    applicationName: 'flowmark-bench-restart',
  });
  const { default: v8 } = await import('node:v8');
  // Near the heap limit V8 spends minutes in garbage collection before it gives up: stop early
  // and say why (the parent reports it as "does not fit in this heap").
  const started = performance.now();
  const watchdog = setInterval(() => {
    const h = v8.getHeapStatistics();
    if (h.used_heap_size < HEAP_STOP * h.heap_size_limit) return;
    const line = {
      mode,
      heapStop: true,
      heapUsedMiB: h.used_heap_size / 2 ** 20,
      heapLimitMiB: h.heap_size_limit / 2 ** 20,
      seconds: (performance.now() - started) / 1000,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`, () => process.exit(3));
  }, 250);
  watchdog.unref();
  // Time spent collecting garbage (a large retained state makes every major GC longer).
  let gcMs = 0;
  const gcs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  gcs.observe({ entryTypes: ['gc'] });
  const mem = () => {
    for (const e of gcs.takeRecords()) gcMs += e.duration;
    gcs.disconnect();
    const gcSeconds = gcMs / 1000;
    globalThis.gc?.();
    const m = process.memoryUsage();
    return {
      gcSeconds,
      heapUsedMiB: m.heapUsed / 2 ** 20,
      rssMiB: m.rss / 2 ** 20,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      heapLimitMiB: v8.getHeapStatistics().heap_size_limit / 2 ** 20,
    };
  };
  try {
    if (mode === 'load') {
      // The reference: the same keyset-paginated queries as load(), rows dropped as they come.
      const t0 = performance.now();
      const rawReadRows = await rawRead(db, schema, 10_000);
      const rawReadMs = performance.now() - t0;
      process.stderr.write(`[postgres] child: raw read of ${rawReadRows} rows in ${(rawReadMs / 1000).toFixed(1)} s\n`);
      // load() and every entry it yields (read, JSON.parse, key decoding), restored nowhere.
      const committer = new SqlCommitter(db, { schema, job: JOB, sinks: SINK_TABLES });
      const t1 = performance.now();
      const point = await committer.load();
      let entries = 0;
      for await (const _e of point?.entries ?? []) entries++;
      const loadMs = performance.now() - t1;
      const m = mem(); // `point` is still referenced: an in-memory list of entries would count here
      console.log(JSON.stringify({ mode, entries, rawReadMs, rawReadRows, loadMs, ...m }));
      if (point === undefined) process.exitCode = 1;
    } else {
      const committer = new SqlCommitter(db, { schema, job: JOB, sinks: SINK_TABLES });
      const runtime = new Runtime(attributionPipeline(new MemorySource<string>({ bounded: false })), {
        committer,
        clock: systemClock,
      });
      const t0 = performance.now();
      await runtime.open();
      const openMs = performance.now() - t0;
      const m = mem(); // the restored state tables
      console.log(JSON.stringify({ mode, openMs, ...m }));
      await runtime.close();
    }
  } finally {
    clearInterval(watchdog);
    await db.close();
  }
}

/** Reads every state row of the job as load() does, without building entries. */
async function rawRead(db: SqlClient, schema: string, page: number): Promise<number> {
  const t = `"${schema}".state`;
  const cols = 'node, tbl, key, value::text AS value, expires_at_ms';
  const order = 'ORDER BY node, tbl, key';
  let n = 0;
  let last: { node: string; tbl: string; key: string } | undefined;
  for (;;) {
    const { rows } = await db.query<{ node: string; tbl: string; key: string }>(
      last === undefined
        ? `SELECT ${cols} FROM ${t} WHERE job = $1 ${order} LIMIT $2`
        : `SELECT ${cols} FROM ${t} WHERE job = $1 AND (node, tbl, key) > ($3, $4, $5) ${order} LIMIT $2`,
      last === undefined ? [JOB, page] : [JOB, page, last.node, last.tbl, last.key],
    );
    n += rows.length;
    if (rows.length < page) return n;
    last = rows.at(-1);
  }
}

if (process.argv[2] === CHILD_FLAG) {
  await restartChild(process.argv[3] as 'load' | 'open', process.argv[4] as string);
}
