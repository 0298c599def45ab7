/**
 * One variant of the lookback suite in a process of its own (its peak heap and RSS are its own):
 * `node --expose-gc bench/support/workers/lookback-variant.ts '<LookbackVariant JSON>'`. Prints one
 * JSON line.
 *
 * `run`: the attribution's access pattern on its `clicks` time-bucketed table, without the rest
 * of the pipeline: per click a duplicate-id check (`findId`) and an insert, every
 * `checkoutEvery` clicks a checkout's first-click look-up over the lookback (timed; those that
 * return an entry read from disk are the "cold" look-ups), the watermark 15 s behind, a checkpoint
 * (`takeChunk`, the chunk written to a file as a store would, expired chunk files deleted) every
 * `checkpointEvery` clicks. Clicks are spread evenly over `spanMs` of event time; a click's key
 * (user × product) and id derive from its number, so a checkout can look up the key of any
 * earlier click without keeping them. With `budgetBytes`, the table has a local store in `dir`.
 * `restart`: a fresh table restored from the chunk files (and the local store the run left).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sqliteSegmentStore } from '../../../src/connectors/local-state/index.ts';
import { ColdStorage, TimeBucketedTable } from '../../../src/engine/index.ts';

export interface LookbackVariant {
  phase: 'run' | 'restart';
  clicks: number;
  spanMs: number;
  lookbackMs: number;
  /** null: everything in memory. */
  budgetBytes: number | null;
  dir: string;
  checkoutEvery: number;
  checkpointEvery: number;
}

export interface LookbackRunResult {
  clicks: number;
  checkouts: number;
  seconds: number;
  eventsPerS: number;
  /** Over the process's heap before the first click (its code, the runtime). */
  peakHeapMiB: number;
  baselineHeapMiB: number;
  /** The largest `measure().bytes` of the table: what the budget bounds (the heap also holds garbage). */
  peakTableMiB: number;
  /** The largest heap + array buffers right after a full GC (every 100 k clicks): what is live. */
  peakLiveHeapMiB: number;
  peakRssMiB: number;
  coldLookups: number;
  p99ColdLookupUs: number;
  p99LookupUs: number;
  segments: number;
  stateEntries: number;
}

export interface LookbackRestartResult {
  restartS: number;
  chunks: number;
  chunkMiB: number;
  reusedSegments: number;
  chunksSkipped: number;
  stateEntries: number;
  peakRssMiB: number;
}

const v = JSON.parse(process.argv[2] as string) as LookbackVariant;
const T0 = Date.UTC(2026, 0, 1);
const SOURCES = ['google_ads', 'facebook', 'email', 'direct', 'tiktok', 'instagram'];
const USERS = Math.max(1000, Math.floor(v.clicks / 20));
const PRODUCTS = 500;

function mix(x: number): number {
  let h = Math.imul(x ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
const keyOf = (i: number) => `user-${mix(i) % USERS}\u0000product-${mix(i + 0x51ed27) % PRODUCTS}`;
const hex = (n: number) => n.toString(16).padStart(8, '0');
function idOf(i: number): string {
  const a = hex(mix(i * 4 + 1));
  const b = hex(mix(i * 4 + 2));
  const c = hex(mix(i * 4 + 3));
  const d = hex(mix(i * 4 + 4));
  return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
}
const spec = {
  name: 'clicks',
  retentionMs: v.lookbackMs,
  idColumn: 'clickId',
  columns: { clickId: 'uuid', source: 'string' },
} as const;
const chunkDir = join(v.dir, 'chunks');
const localDir = join(v.dir, 'local');

function newTable(): TimeBucketedTable<(typeof spec)['columns']> {
  const t = new TimeBucketedTable(spec);
  if (v.budgetBytes !== null) {
    const storage = new ColdStorage({
      memoryBudgetBytes: v.budgetBytes,
      dir: localDir,
      segments: sqliteSegmentStore,
      log: (l) => process.stderr.write(`[lookback] ${l}\n`),
    });
    t.useColdStorage(storage, storage.tableDir('attribute', 'clicks'));
  }
  return t;
}

let peakHeap = 0;
let peakRss = 0;
let peakTable = 0;
let peakLive = 0;
let measured: { measure(): { bytes: number } } | undefined;
const sample = () => {
  if (measured !== undefined) peakTable = Math.max(peakTable, measured.measure().bytes);
  const m = process.memoryUsage();
  peakHeap = Math.max(peakHeap, m.heapUsed + m.arrayBuffers);
  peakRss = Math.max(peakRss, m.rss);
};
const p99 = (xs: number[]) => {
  if (xs.length === 0) return 0;
  const s = Float64Array.from(xs).sort();
  return s[Math.floor(0.99 * (s.length - 1))] as number;
};

if (v.phase === 'run') {
  mkdirSync(chunkDir, { recursive: true });
  const table = newTable();
  measured = table;
  const stored: Array<{ file: string; expiresAtMs: number }> = [];
  const checkpoint = () => {
    const c = table.takeChunk();
    if (c !== undefined) {
      const file = join(chunkDir, `${c.seq}.chunk`);
      writeFileSync(file, c.bytes);
      stored.push({ file, expiresAtMs: c.expiresAtMs });
    }
    for (let i = stored.length - 1; i >= 0; i--) {
      const s = stored[i] as { file: string; expiresAtMs: number };
      if (s.expiresAtMs < table.watermarkMs) {
        rmSync(s.file, { force: true });
        stored.splice(i, 1);
      }
    }
  };
  const step = v.spanMs / v.clicks;
  const lookbackClicks = Math.max(1, Math.floor(v.lookbackMs / step));
  const all: number[] = [];
  const cold: number[] = [];
  let checkouts = 0;
  globalThis.gc?.();
  const baseline = process.memoryUsage();
  const baselineHeap = baseline.heapUsed + baseline.arrayBuffers;
  sample();
  const started = performance.now();
  for (let i = 0; i < v.clicks; i++) {
    const t = Math.floor(T0 + i * step);
    const key = keyOf(i);
    const id = idOf(i);
    if (table.findId(key, id) < 0) table.insert(key, t, { clickId: id, source: SOURCES[i % SOURCES.length] as string });
    if (i % v.checkoutEvery === 0 && i > 0) {
      // A checkout of a user-product that clicked somewhen in the lookback.
      const j = i - (mix(i ^ 0xabcdef) % Math.min(i, lookbackClicks));
      const s = performance.now();
      const ref = table.first(keyOf(j), t - v.lookbackMs, t);
      const us = (performance.now() - s) * 1000;
      all.push(us);
      if (ref >= 2 ** 31) cold.push(us);
      checkouts++;
    }
    table.advanceWatermark(t - 15_000);
    if (i % v.checkpointEvery === v.checkpointEvery - 1) checkpoint();
    if (i % 10_000 === 0) sample();
    if (i % 100_000 === 0 && globalThis.gc !== undefined) {
      globalThis.gc();
      const m = process.memoryUsage();
      peakLive = Math.max(peakLive, m.heapUsed + m.arrayBuffers);
    }
  }
  checkpoint();
  sample();
  const seconds = (performance.now() - started) / 1000;
  writeFileSync(join(v.dir, 'watermark.json'), JSON.stringify(table.watermarkMs));
  const result: LookbackRunResult = {
    clicks: v.clicks,
    checkouts,
    seconds,
    eventsPerS: (v.clicks + checkouts) / seconds,
    peakHeapMiB: (peakHeap - baselineHeap) / 2 ** 20,
    baselineHeapMiB: baselineHeap / 2 ** 20,
    peakTableMiB: peakTable / 2 ** 20,
    peakLiveHeapMiB: (peakLive - baselineHeap) / 2 ** 20,
    peakRssMiB: peakRss / 2 ** 20,
    coldLookups: cold.length,
    p99ColdLookupUs: p99(cold),
    p99LookupUs: p99(all),
    segments: table.coldStats().segments,
    stateEntries: table.size,
  };
  table.closeColdStorage();
  console.log(JSON.stringify(result));
} else {
  const watermark = JSON.parse(readFileSync(join(v.dir, 'watermark.json'), 'utf8')) as number;
  const started = performance.now();
  let bytes = 0;
  const chunks = readdirSync(chunkDir).map((name) => {
    const b = readFileSync(join(chunkDir, name));
    bytes += b.byteLength;
    return { bytes: b, name };
  });
  const table = newTable();
  table.restore(chunks, watermark);
  const restartS = (performance.now() - started) / 1000;
  sample();
  const stats = table.coldStats();
  const result: LookbackRestartResult = {
    restartS,
    chunks: chunks.length,
    chunkMiB: bytes / 2 ** 20,
    reusedSegments: stats.reused.segments,
    chunksSkipped: stats.reused.chunksSkipped,
    stateEntries: table.size,
    peakRssMiB: peakRss / 2 ** 20,
  };
  table.closeColdStorage();
  console.log(JSON.stringify(result));
}
