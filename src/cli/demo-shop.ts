/**
 * The simulated shop of `demo` and `produce`: its catalog (the same seed every run, so that the
 * catalog in the database matches the traffic), a little realistic mess, and the one loop that
 * writes its live traffic into a queue of events (./event-queue.ts) — the log or Kafka alike.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type RoutedLine, routeLine, type UnroutableLine } from '../attribution/events/index.ts';
import { type SqlClient, upsertProducts, upsertUsers } from '../connectors/sql/index.ts';
import type { Clock } from '../engine/index.ts';
import type { LiveTraffic, ShopCatalog } from '../generator/index.ts';
import type { EventQueue } from './event-queue.ts';
import type { ProducePacing } from './produce-pacing.ts';

/** The demo shop's catalog seed: the same every run. */
export const CATALOG_SEED = 1;
/** A little realistic mess, so that the dead letters and late handling show. */
export const DEMO_MESS = { disorder: 0.05, maxDisorderMs: 5000, late: 0.001, duplicates: 0.01, malformed: 0.002 };
/** How often the website's new lines are written. */
const PRODUCE_EVERY_MS = 100;

/** Writes the simulated shop's users and products into flowmark's tables (upsert). */
export async function loadCatalog(database: { db: SqlClient; schema: string }, catalog: ShopCatalog): Promise<void> {
  const schema = database.schema;
  await upsertUsers(database.db, catalog.users, { schema });
  await upsertProducts(
    database.db,
    catalog.products.map((p) => ({
      productId: p.productId,
      name: p.productName,
      category: p.category,
      price: p.price,
      commissionRate: p.commissionRate,
    })),
    { schema },
  );
}

/** What the loop has written so far (read while it runs, for status lines). */
export interface ProducedCounts {
  produced: number;
  clicks: number;
  checkouts: number;
  /** Lines that could not be routed by kind, written as clicks without a key. */
  unroutable: number;
}

export interface ProduceLoopOptions {
  signal: AbortSignal;
  clock: Clock;
  /** Stop after this many lines. */
  maxEvents?: number | undefined;
  /** Stop after this long. */
  durationMs?: number | undefined;
  /** The pause between two batches (default 100 ms; 0 in tests, where a manual clock moves). */
  pauseMs?: number;
  /** Told when each batch was due and when it was written (for `produce`'s status lines). */
  pacing?: ProducePacing | undefined;
}

/**
 * The one produce loop: the website's lines into `queue` until the signal (or a bound), then
 * flushed. A line that cannot be routed still goes in (as a click, unkeyed), so that the
 * pipeline's parser turns it into a dead letter through the same exactly-once path as everything
 * else. `queue.ready()` after each batch: a slow queue slows the website down rather than memory
 * growing, and a failure of the queue ends the loop (rejects).
 */
export async function produceTraffic(
  traffic: LiveTraffic,
  queue: EventQueue,
  counts: ProducedCounts,
  o: ProduceLoopOptions,
): Promise<void> {
  const startedMs = o.clock.nowMs();
  while (!o.signal.aborted) {
    const dueMs = o.clock.nowMs();
    o.pacing?.polled(dueMs);
    let lines = traffic.pollDelivered(dueMs);
    if (o.maxEvents !== undefined) lines = lines.slice(0, o.maxEvents - counts.produced);
    for (const l of lines) {
      // A generated line says what it is and whose; only a broken one is parsed to route it.
      const r: RoutedLine | UnroutableLine =
        l.userId === undefined ? routeLine(l.line) : { kind: l.kind === 'click' ? 'click' : 'checkout', key: l.userId };
      let appended: void | Promise<void>;
      if ('reason' in r) {
        appended = queue.append('click', l.line, undefined, counts.produced);
        counts.unroutable++;
      } else {
        appended = queue.append(r.kind, l.line, r.key, counts.produced);
        if (r.kind === 'click') counts.clicks++;
        else counts.checkouts++;
      }
      if (appended !== undefined) await appended;
      counts.produced++;
    }
    await queue.ready();
    o.pacing?.written(o.clock.nowMs());
    if (o.maxEvents !== undefined && counts.produced >= o.maxEvents) break;
    if (o.durationMs !== undefined && o.clock.nowMs() - startedMs >= o.durationMs) break;
    await sleep(o.pauseMs ?? PRODUCE_EVERY_MS, undefined, { signal: o.signal }).catch(() => undefined);
  }
  await queue.flush();
}
