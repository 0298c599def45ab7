/**
 * Whether the simulated shop's produce loop (./demo-shop.ts) keeps up with the rate asked. The
 * loop polls the website up to the clock's now (the batch is *due* then), writes the batch and
 * waits for the queue; it keeps up while each batch is written soon after it was due. When the
 * machine or the broker cannot sustain the rate, batches grow and are written ever later: the
 * status line then says so, with the rate achieved beside the one asked (issue 16: a load
 * generator that silently delivers less than asked makes every latency figure wrong).
 *
 * @example
 * const pace = new ProducePacing(10_000, clock.nowMs());
 * pace.polled(clock.nowMs()); // … append the batch, await queue.ready() …
 * pace.written(clock.nowMs());
 * describePace(pace.report(clock.nowMs(), produced)); // "9990 events/s in the last 2.0 s (10000 asked)"
 */

/** A loop further behind the clock than this is not keeping up (a batch is polled every 100 ms). */
export const BEHIND_LIMIT_MS = 1000;

/** One status interval: the rate achieved in it, the one asked, and how far behind the clock the loop is. */
export interface PaceReport {
  eventsPerSecond: number;
  askedPerSecond: number;
  intervalMs: number;
  /** How long after it was due the last batch was written (or, while one is being written, since it was due). */
  behindMs: number;
  keepingUp: boolean;
}

export class ProducePacing {
  readonly askedPerSecond: number;
  #reportedMs: number;
  #reportedEvents = 0;
  /** When the batch being written was due; undefined between batches. */
  #dueMs: number | undefined;
  #lastBehindMs = 0;

  constructor(askedPerSecond: number, startedMs: number) {
    this.askedPerSecond = askedPerSecond;
    this.#reportedMs = startedMs;
  }

  /** A batch was polled from the website up to `dueMs`. */
  polled(dueMs: number): void {
    this.#dueMs = dueMs;
  }

  /** The batch polled last is written and the queue is ready for more, at `nowMs`. */
  written(nowMs: number): void {
    if (this.#dueMs === undefined) return;
    this.#lastBehindMs = Math.max(0, nowMs - this.#dueMs);
    this.#dueMs = undefined;
  }

  /** The interval since the previous report (or the start), with `produced` events in all so far. */
  report(nowMs: number, produced: number): PaceReport {
    const intervalMs = Math.max(1, nowMs - this.#reportedMs);
    const eventsPerSecond = ((produced - this.#reportedEvents) * 1000) / intervalMs;
    this.#reportedMs = nowMs;
    this.#reportedEvents = produced;
    const behindMs = this.#dueMs === undefined ? this.#lastBehindMs : Math.max(0, nowMs - this.#dueMs);
    return {
      eventsPerSecond,
      askedPerSecond: this.askedPerSecond,
      intervalMs,
      behindMs,
      keepingUp: behindMs <= BEHIND_LIMIT_MS,
    };
  }
}

/** "9990 events/s in the last 2.0 s (10000 asked)", and why not when the loop falls behind. */
export function describePace(r: PaceReport): string {
  const rate = `${r.eventsPerSecond.toFixed(0)} events/s in the last ${(r.intervalMs / 1000).toFixed(1)} s (${r.askedPerSecond} asked)`;
  if (r.keepingUp) return rate;
  return (
    `${rate}; CANNOT KEEP UP: ${(r.behindMs / 1000).toFixed(1)} s behind the clock ` +
    '(this process or the queue cannot write the traffic as fast as it is asked: a lower --rate, more CPU, or several producers)'
  );
}
