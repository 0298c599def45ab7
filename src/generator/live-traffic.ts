/**
 * The live mode of the simulator, for `flowmark demo` and `flowmark produce`: event time is
 * processing time, read from a clock, and each call returns the lines that have "arrived" since
 * the previous call, at `ratePerSecond` events per second on average.
 */
import type { Clock } from '../engine/index.ts';
import { type DeliveredLine, DeliverySchedule, type DeliveryStats } from './delivery-schedule.ts';
import { resolveTrafficOptions, type TrafficOptions } from './generator-options.ts';
import { type SimulatedProduct, type SimulatedUser, TrafficSimulator } from './traffic-simulator.ts';

export interface LiveTrafficOptions extends Partial<TrafficOptions> {
  /** Processing time; the first event is at its now when the object is built (unless `startMs`). */
  clock: Pick<Clock, 'nowMs'>;
}

/**
 * A website that keeps producing traffic as the clock moves.
 *
 * The seed defaults to the start time, so two runs (a demo restarted later) never produce the
 * same click or checkout ids; pass `seed` to make a run reproducible under a manual clock.
 *
 * @example
 * const live = new LiveTraffic(catalog, { clock: systemClock, ratePerSecond: 200 });
 * setInterval(() => log.append(live.poll()), 100); // ≈ 20 lines each time, event time ≤ now
 */
export class LiveTraffic {
  readonly options: TrafficOptions;
  private readonly clock: Pick<Clock, 'nowMs'>;
  private readonly simulator: TrafficSimulator;
  private readonly delivery: DeliverySchedule;

  constructor(
    catalog: { users: readonly SimulatedUser[]; products: readonly SimulatedProduct[] },
    options: LiveTrafficOptions,
  ) {
    const { clock, ...rest } = options;
    const startMs = rest.startMs ?? Math.floor(clock.nowMs());
    this.clock = clock;
    this.options = resolveTrafficOptions({ ...rest, startMs, seed: rest.seed ?? Math.max(0, startMs) });
    const o = this.options;
    this.simulator = new TrafficSimulator({ ...o, users: catalog.users, products: catalog.products });
    // The warm-up took a while (seconds at 100 k events/s): the traffic starts now, not as a
    // burst of the time the warm-up took. A given start stays as it is.
    const warmUpMs = Math.floor(clock.nowMs()) - startMs;
    if (rest.startMs === undefined && warmUpMs > 0) this.simulator.shiftStart(warmUpMs);
    this.delivery = new DeliverySchedule(o);
  }

  /** Counts of the lines produced so far. */
  get stats(): Readonly<DeliveryStats> {
    return this.delivery.stats;
  }

  /**
   * The lines that arrive up to the clock's now (or `nowMs`), in arrival order, with what each
   * one is: all events with event time ≤ now, except those whose delivery delay (disorder,
   * late) puts them after now; they come in a later batch.
   */
  pollDelivered(nowMs: number = this.clock.nowMs()): DeliveredLine[] {
    const out: DeliveredLine[] = [];
    for (let e = this.simulator.nextUpTo(nowMs); e !== undefined; e = this.simulator.nextUpTo(nowMs)) {
      this.delivery.accept(e, 2, out);
    }
    this.delivery.release(nowMs, out);
    return out;
  }

  /** As {@link pollDelivered}, the JSON lines only (without newlines). */
  poll(nowMs?: number): string[] {
    return this.pollDelivered(nowMs).map((d) => d.line);
  }
}
