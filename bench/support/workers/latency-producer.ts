/**
 * The producer of the latency benchmark, in a worker thread so that the pipeline on the main
 * thread cannot starve it: the simulated shop (`LiveTraffic`, event time = now, 5 % out of order
 * by ≤ 5 s) at `workerData.rate` events/s for `workerData.seconds`. Every tick (5 ms) it routes
 * the lines released since the previous tick as `flowmark import` routes them and posts them as
 * one batch `{ sentMs, topics, keys, lines }` to the main thread, which appends them to its log
 * (the log has one writer: the job's process, as in `flowmark demo`). At the end it posts
 * `{ done: true, … }` with its counts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { routeLine } from '../../../src/attribution/events/index.ts';
import { topicOf } from '../../../src/cli/modes/embedded.ts';
import { systemClock } from '../../../src/engine/index.ts';
import { LiveTraffic } from '../../../src/generator/index.ts';
import { benchCatalog } from '../data-sets.ts';

/** A batch of lines, as posted to the main thread. */
export interface ProducedBatch {
  sentMs: number;
  topics: string[];
  keys: Array<string | undefined>;
  lines: string[];
}

const TICK_MS = 5;
const { rate, seconds } = workerData as { rate: number; seconds: number };
const port = parentPort;
if (port === null) throw new Error('latency-producer.ts runs as a worker thread');

const traffic = new LiveTraffic(benchCatalog(), {
  clock: systemClock,
  seed: 1,
  ratePerSecond: rate,
  disorder: 0.05,
  maxDisorderMs: 5000,
});
let sent = 0;
let unroutable = 0;
let ticksBehind = 0;
const endMs = Date.now() + seconds * 1000;
let nextTick = Date.now();
while (Date.now() < endMs) {
  const batch: ProducedBatch = { sentMs: 0, topics: [], keys: [], lines: [] };
  for (const line of traffic.poll()) {
    const r = routeLine(line);
    if ('reason' in r) {
      unroutable++;
      continue;
    }
    batch.topics.push(topicOf(r.kind));
    batch.keys.push(r.key);
    batch.lines.push(line);
  }
  if (batch.lines.length > 0) {
    batch.sentMs = Date.now();
    sent += batch.lines.length;
    port.postMessage(batch);
  }
  nextTick += TICK_MS;
  const wait = nextTick - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  else {
    ticksBehind++;
    nextTick = Date.now(); // behind: no burst of catch-up ticks, the next poll takes all that is due
  }
}
port.postMessage({ done: true, sent, unroutable, ticksBehind });
