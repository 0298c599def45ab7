/**
 * A bounded data set: the users, the products, and exactly `events` lines of clicks and
 * checkouts in arrival order. Nothing here does I/O: the lines are yielded one at a time, so a
 * writer can stream millions of them to disk with back-pressure.
 */
import { FlowmarkError } from '../engine/index.ts';
import { type DeliveredLine, DeliverySchedule, type DeliveryStats } from './delivery-schedule.ts';
import { resolveTrafficOptions, type TrafficOptions } from './generator-options.ts';
import { type GeneratedProduct, type GeneratedUser, generateProducts, generateUsers } from './shop-catalog.ts';
import { type SimulatedProduct, type SimulatedUser, TrafficSimulator } from './traffic-simulator.ts';

/** The shop's dimension tables. */
export interface ShopCatalog {
  users: GeneratedUser[];
  products: GeneratedProduct[];
}

/**
 * `users` users and `products` products for `seed` (each table from its own seeded stream: the
 * products do not depend on how many users there are).
 *
 * @example
 * const catalog = generateCatalog({ users: 1000, products: 200, seed: 1 });
 * catalog.users[0]; // { userId: 'u000001', name: '…', gender: 'female' }
 */
export function generateCatalog(options: { users: number; products: number; seed: number }): ShopCatalog {
  return {
    users: generateUsers(options.users, options.seed),
    products: generateProducts(options.products, options.seed),
  };
}

export interface EventGeneratorOptions extends Partial<TrafficOptions> {
  /** How many lines to produce (duplicate deliveries and malformed lines included): a positive integer. */
  events: number;
}

/**
 * The lines of `events.jsonl` for a catalog. Single use: iterate `lines()` or `delivered()` once.
 *
 * @example
 * const gen = new EventGenerator(catalog, { events: 1000, seed: 1, disorder: 0.05 });
 * for (const line of gen.lines()) write(`${line}\n`);
 * gen.stats; // { lines: 1000, clicks: 978, checkouts: 22, duplicates: 0, malformed: 0, outOfOrder: 41, … }
 */
export class EventGenerator {
  readonly options: TrafficOptions;
  readonly events: number;
  private readonly simulator: TrafficSimulator;
  private readonly delivery: DeliverySchedule;
  private started = false;
  private scheduled = 0;

  constructor(
    catalog: { users: readonly SimulatedUser[]; products: readonly SimulatedProduct[] },
    options: EventGeneratorOptions,
  ) {
    const { events, ...traffic } = options;
    if (!Number.isSafeInteger(events) || events < 1) {
      throw new FlowmarkError('FM_CONFIG_INVALID', `events must be a positive integer, got ${events}`);
    }
    this.events = events;
    this.options = resolveTrafficOptions(traffic);
    const o = this.options;
    this.simulator = new TrafficSimulator({ ...o, users: catalog.users, products: catalog.products });
    this.delivery = new DeliverySchedule(o);
  }

  /** Counts of the lines produced so far (final once the iteration has ended). */
  get stats(): Readonly<DeliveryStats> {
    return this.delivery.stats;
  }

  /** The lines in arrival order, with what each one is. */
  *delivered(): Generator<DeliveredLine> {
    const out: DeliveredLine[] = [];
    for (let more: boolean = this.start(); more; out.length = 0) {
      more = this.fill(out);
      for (let i = 0; i < out.length; i++) yield out[i]!;
    }
  }

  /** The lines in arrival order (JSON text without the newline). */
  *lines(): Generator<string> {
    const out: DeliveredLine[] = [];
    for (let more: boolean = this.start(); more; out.length = 0) {
      more = this.fill(out);
      for (let i = 0; i < out.length; i++) yield out[i]!.line;
    }
  }

  private start(): true {
    if (this.started) throw new Error('an EventGenerator can be iterated only once');
    this.started = true;
    return true;
  }

  /** Runs the simulation until some lines are ready (into `out`); false once everything is out. */
  private fill(out: DeliveredLine[]): boolean {
    while (this.scheduled < this.events) {
      this.scheduled += this.delivery.accept(this.simulator.next(), this.events - this.scheduled, out);
      if (out.length > 0) return true;
    }
    this.delivery.flush(out);
    return false;
  }
}
