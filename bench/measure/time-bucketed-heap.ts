/**
 * A measuring script, not a test (node --test does not pick it up): heap per click held in a
 * TimeBucketedTable vs today's click state (a StateTable of sorted [time, click] lists per
 * user/product key, as the attribution's `clicks` sortedList keeps them), over the same generated
 * clicks (20 k users × 2 k products, 1 000 events/s, seed 1: the catalog of `bench state`), and
 * the cost of a first-click range read in each.
 *
 *   node --expose-gc bench/measure/time-bucketed-heap.ts [clicks=1000000]
 *
 * Heap of a structure = (heapUsed + arrayBuffers) after GC with it − the same once it is released,
 * the generator and everything else unchanged: nothing but the structure is counted. arrayBuffers
 * counts: typed arrays keep their bytes outside the V8 heap, so heapUsed alone would miss them.
 */

import { StateTable } from '../../src/engine/state/state-table.ts';
import { TimeBucketedTable } from '../../src/engine/state/time-bucketed-table.ts';
import { EventGenerator, generateCatalog } from '../../src/generator/index.ts';

const CLICKS = Number(process.argv[2] ?? 1_000_000);
const LOOKBACK_MS = 24 * 3_600_000; // as `bench state`: nothing expires while the state builds

interface Click {
  clickId: string;
  source: string | null;
  eventTimeMs: number;
}

function heap(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** The clicks as compact columns (so that holding them costs little and is not counted anyway). */
const catalog = generateCatalog({ users: 20_000, products: 2_000, seed: 1 });
const keys: string[] = [];
const users: string[] = [];
const products: string[] = [];
const ids: string[] = [];
const sources: Array<string | null> = [];
const times: number[] = [];
for (const line of new EventGenerator(catalog, {
  seed: 1,
  ratePerSecond: 1000,
  events: Math.ceil(CLICKS * 1.2),
}).lines()) {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line);
  } catch {
    continue;
  }
  if (e.type !== 'click' || typeof e.click_id !== 'string') continue;
  keys.push(`${e.user_id}\u0000${e.product_id ?? ''}`);
  users.push(e.user_id as string);
  products.push((e.product_id as string | undefined) ?? '');
  ids.push(e.click_id);
  sources.push((e.source as string | undefined) ?? null);
  times.push(Date.parse(e.event_time as string));
  if (keys.length === CLICKS) break;
}
const n = keys.length;
const distinctKeys = new Set(keys).size;

function buildBucketed(): TimeBucketedTable<{ clickId: 'uuid'; source: 'string' }> {
  const t = new TimeBucketedTable({
    name: 'clicks',
    retentionMs: LOOKBACK_MS,
    idColumn: 'clickId',
    columns: { clickId: 'uuid', source: 'string' },
  });
  for (let i = 0; i < n; i++) {
    t.insert(keys[i] as string, times[i] as number, { clickId: ids[i] as string, source: sources[i] ?? null });
  }
  return t;
}

function buildToday(): StateTable<Array<[number, Click]>> {
  const t = new StateTable<Array<[number, Click]>>('clicks', { ttlMs: LOOKBACK_MS });
  for (let i = 0; i < n; i++) {
    const key = keys[i] as string;
    const ts = times[i] as number;
    const click = { clickId: ids[i] as string, source: sources[i] ?? null, eventTimeMs: ts };
    const list = t.get(key);
    if (list === undefined) t.set(key, [[ts, click]], ts);
    else {
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((list[mid] as [number, Click])[0] <= ts) lo = mid + 1;
        else hi = mid;
      }
      if (lo === list.length) list.push([ts, click]);
      else list.splice(lo, 0, [ts, click]);
      t.set(key, list, ts);
    }
  }
  t.takeChanges(); // as after a checkpoint: the change list is not state
  return t;
}

function measure<T>(build: () => T): { bytes: number; value: T } {
  const before = heap();
  const value = build();
  const withIt = heap();
  return { bytes: withIt - before, value };
}

const byTimeThenId = (a: Click, b: Click) =>
  a.eventTimeMs - b.eventTimeMs || (a.clickId < b.clickId ? -1 : a.clickId > b.clickId ? 1 : 0);

/** Reads: the first click of a key in [t − 1 h, t], for keys and times of the clicks themselves. */
function readToday(t: StateTable<Array<[number, Click]>>, reads: number): number {
  let found = 0;
  for (let r = 0; r < reads; r++) {
    const i = (r * 7919) % n;
    const to = (times[i] as number) + 60_000;
    const from = to - 3_600_000;
    const cands = (t.get(`${users[i]}\u0000${products[i]}`) ?? [])
      .filter(([ts]) => ts >= from && ts <= to)
      .map(([, k]) => k)
      .sort(byTimeThenId);
    if (cands[0] !== undefined && cands[0].source !== 'x') found++;
  }
  return found;
}

function readBucketed(t: TimeBucketedTable<{ clickId: 'uuid'; source: 'string' }>, reads: number): number {
  let found = 0;
  for (let r = 0; r < reads; r++) {
    const i = (r * 7919) % n;
    const to = (times[i] as number) + 60_000;
    const ref = t.first(`${users[i]}\u0000${products[i]}`, to - 3_600_000, to);
    if (ref >= 0 && t.value(ref, 'clickId') !== '' && t.value(ref, 'source') !== 'x') found++;
  }
  return found;
}

function timeReads(read: (reads: number) => number, reads: number): { nsPerRead: number; found: number } {
  read(Math.min(reads, 50_000)); // warm-up
  const t0 = process.hrtime.bigint();
  const found = read(reads);
  return { nsPerRead: Number(process.hrtime.bigint() - t0) / reads, found };
}

const READS = 1_000_000;
const fmt = (b: number) => `${(b / n).toFixed(1)} B per click (${(b / 2 ** 20).toFixed(1)} MiB)`;
const bucketed = measure(buildBucketed);
// A checkpoint of the whole table (the first after an upgrade from legacy rows would be this
// large), and a restore from it: before today's table is built, so that its 300 MB do not slow
// the collector during these.
const t0 = process.hrtime.bigint();
const chunk = bucketed.value.takeChunk();
const t1 = process.hrtime.bigint();
const again = new TimeBucketedTable({
  name: 'clicks',
  retentionMs: LOOKBACK_MS,
  idColumn: 'clickId',
  columns: { clickId: 'uuid', source: 'string' },
});
again.restore(chunk === undefined ? [] : [chunk.bytes], Number.NEGATIVE_INFINITY);
const t2 = process.hrtime.bigint();
if (again.size !== bucketed.value.size) throw new Error('the restored table differs in size');
const today = measure(buildToday);
// Reads alternate, three rounds each, in this one process: the machine is shared, so only
// side-by-side figures compare.
const rounds: Array<[number, number]> = [];
for (let round = 0; round < 3; round++) {
  const a = timeReads((r) => readBucketed(bucketed.value, r), READS);
  const b = timeReads((r) => readToday(today.value, r), READS);
  if (a.found !== b.found) throw new Error(`the two disagree: ${a.found} vs ${b.found} reads found a click`);
  rounds.push([a.nsPerRead, b.nsPerRead]);
}
console.log(`${n} clicks, ${distinctKeys} distinct user/product keys (${(distinctKeys / n).toFixed(3)} per click)`);
console.log(
  `TimeBucketedTable: ${fmt(bucketed.bytes)}; its own estimate (measure()) ${fmt(bucketed.value.measure().bytes)}`,
);
console.log(`today's StateTable of sorted lists: ${fmt(today.bytes)}`);
for (const [a, b] of rounds) {
  console.log(
    `first click in [t − 1 h, t] (key built per read), ${READS} reads: TimeBucketedTable ${a.toFixed(0)} ns/read, ` +
      `today ${b.toFixed(0)} ns/read (${(b / a).toFixed(2)}× faster)`,
  );
}
console.log(
  `one chunk of the whole table: ${((chunk?.bytes.length ?? 0) / n).toFixed(1)} B per click ` +
    `(${((chunk?.bytes.length ?? 0) / 2 ** 20).toFixed(1)} MiB) in ${(Number(t1 - t0) / 1e6).toFixed(0)} ms; ` +
    `restored in ${(Number(t2 - t1) / 1e6).toFixed(0)} ms`,
);
