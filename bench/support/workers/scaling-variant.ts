/**
 * One variant of the scaling suite in a process of its own (its peak RSS is its own):
 * `node --expose-gc --max-old-space-size=8192 bench/support/workers/scaling-variant.ts '<Variant JSON>'`.
 * Prints one JSON line ({@link VariantResult}).
 *
 * The attribution pipeline in memory (first click, no dimensions, a committer that drops
 * checkpoints) over generated lines already in memory. Memory figures are over a baseline taken
 * after the lines were generated: the peak heap used (sampled every 50 ms) and the heap still
 * used at the end after a full GC (the state held: the run is stopped once everything was read,
 * without finalizing — a live job's situation).
 */
import { attributionOptions } from '../../../src/attribution/attribution-options.ts';
import { parseEvent } from '../../../src/attribution/events/index.ts';
import { Rejected, Runtime, systemClock } from '../../../src/engine/index.ts';
import { EventGenerator } from '../../../src/generator/index.ts';
import { MeasuringCommitter } from '../committers.ts';
import { attributionPipeline, benchCatalog } from '../data-sets.ts';
import { PullSource } from '../pull-source.ts';

export interface Variant {
  users: number;
  lookbackMs: number;
  ratePerSecond: number;
  conversionScale: number;
  /** Keep one checkout in this many (fewer checkouts, the same clicks). */
  keepCheckoutEvery: number;
  events: number;
}

export interface VariantResult {
  clicks: number;
  checkouts: number;
  spanS: number;
  seconds: number;
  eventsPerS: number;
  peakHeapMiB: number;
  endHeapMiB: number;
  peakRssMiB: number;
  stateEntries: number;
  rows: number;
}

const MiB = 2 ** 20;

async function variantChild(v: Variant): Promise<VariantResult> {
  const gen = new EventGenerator(benchCatalog(v.users), {
    seed: 1,
    events: v.events,
    ratePerSecond: v.ratePerSecond,
    conversionScale: v.conversionScale,
  });
  const lines: string[] = [];
  let clicks = 0;
  let checkouts = 0;
  for (const line of gen.lines()) {
    if (line.startsWith('{"type":"click"')) clicks++;
    else if (checkouts++ % v.keepCheckoutEvery !== 0) continue;
    lines.push(line);
  }
  checkouts = Math.ceil(checkouts / v.keepCheckoutEvery);
  const timeOf = (l: string | undefined) => {
    const e = parseEvent(l ?? '');
    return e instanceof Rejected ? Number.NaN : e.type === 'click' ? e.click.eventTimeMs : e.checkout.eventTimeMs;
  };
  const spanS = (timeOf(lines.at(-1)) - timeOf(lines[0])) / 1000;
  const source = new PullSource(lines);
  const pipeline = attributionPipeline(source, attributionOptions({ lookbackMs: v.lookbackMs }));
  const committer = new MeasuringCommitter(); // drops every checkpoint, counts the rows
  const runtime = new Runtime(pipeline, { committer, clock: systemClock });
  await runtime.open();
  globalThis.gc?.();
  const base = process.memoryUsage();
  let peakHeap = base.heapUsed;
  const sample = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 50);
  const ac = new AbortController();
  source.allow(Number.POSITIVE_INFINITY, () => ac.abort());
  const t0 = performance.now();
  await runtime.run({ signal: ac.signal });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sample);
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  const stateEntries = runtime.stateEntries();
  globalThis.gc?.();
  const end = process.memoryUsage();
  const result: VariantResult = {
    clicks,
    checkouts,
    spanS,
    seconds,
    eventsPerS: source.delivered / seconds,
    peakHeapMiB: (peakHeap - base.heapUsed) / MiB,
    endHeapMiB: (end.heapUsed - base.heapUsed) / MiB,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    stateEntries,
    rows: committer.rowsBySink.get('attributed_checkouts') ?? 0,
  };
  await runtime.close();
  return result;
}

console.log(JSON.stringify(await variantChild(JSON.parse(process.argv[2] as string) as Variant)));
