/**
 * The website simulator: visits (sessions) of the shop's users, each arriving from an ad source,
 * browsing products and sometimes buying. It produces clicks and checkouts in event-time order;
 * how they are delivered (late, twice, broken) is `delivery-schedule.ts`'s business.
 *
 * The model, per session (all draws from one seeded {@link RandomSource}; no faker here):
 * - Sessions start as a Poisson process whose rate gives `ratePerSecond` events per second of
 *   event time on average ({@link meanEventsPerSession}). The user is drawn by activity
 *   (log-normal weights: some users come back far more often than others), the source by the
 *   weights of {@link SOURCES}.
 * - A session clicks 1–12 products (mean ≈ 3), a log-normal 2 s–15 min apart (median 35 s):
 *   the first by popularity (Zipf-like), the next ones mostly in the same category, sometimes
 *   the same product again. Every click carries the session's source.
 * - It converts with the source's probability (1–5 %, ≈ 3 % overall). Then it buys one of the
 *   products it clicked (the last one more often than not): 78 % within minutes of the last
 *   click, 10 % on a return 20–55 min later (both attributable with a 1 h lookback), 12 % on a
 *   return 61 min–4 h later with no new click (no attributable click under a 1 h lookback).
 * - 0.4 % of sessions are checkouts with no click at all (a bookmark, a re-order in the app).
 * - A checkout: quantity mostly 1 (2–5 more often for cheap items), a discount on 20 % of
 *   orders (50 % of those from email), free shipping above 50 most of the time, a payment method,
 *   and a failed payment (5 %) with its reason; after a failure, half the users retry within
 *   minutes with a new checkout of the same order.
 *
 * A warm-up runs the sessions of the 15 minutes before `startMs` up to `startMs` (above two
 * million events' worth, the older ones thinned and each survivor copied), so the rate is steady
 * from the first line on, and the first lines include sessions already under way, as if the shop
 * had been running before the recording began.
 */
import type { GeneratedCheckout, GeneratedClick, GeneratedEvent } from './event-lines.ts';
import { RandomSource, WeightedChoice, WeightedTable } from './random-source.ts';
import { SessionTable } from './session-table.ts';

/** The ad sources: [name, share of sessions, probability that a session converts]. */
export const SOURCES: ReadonlyArray<readonly [string, number, number]> = [
  ['google_ads', 26, 0.035],
  ['organic', 14, 0.03],
  ['facebook', 12, 0.02],
  ['instagram', 11, 0.022],
  ['tiktok_ads', 9, 0.012],
  ['direct', 8, 0.045],
  ['email', 8, 0.05],
  ['affiliate', 4, 0.04],
  ['youtube_ads', 3, 0.01],
  ['bing_ads', 3, 0.03],
  ['pinterest_ads', 2, 0.02],
];

/** Clicks per session, 1…12, and their weights (mean ≈ 3). */
const CLICK_COUNT_WEIGHTS = [30, 22, 15, 10, 7, 5, 4, 3, 2, 1, 0.6, 0.4];
const DIRECT_CHECKOUT_SHARE = 0.004;
const FAILURE_RATE = 0.05;
const RETRY_AFTER_FAILURE = 0.5;
const RETRY_FAILURE_RATE = 0.12;

export const PAYMENT_METHODS: ReadonlyArray<readonly [string, number]> = [
  ['Visa', 34],
  ['Mastercard', 24],
  ['Paypal', 16],
  ['Apple Pay', 9],
  ['Amex', 7],
  ['Google Pay', 5],
  ['Discover', 3],
  ['Klarna', 2],
];

export const FAILURE_REASONS: ReadonlyArray<readonly [string, number]> = [
  ['Insufficient Funds', 35],
  ['Card Declined', 22],
  ['Card Expired', 18],
  ['Incorrect CVV', 10],
  ['Fraud Suspected', 8],
  ['Payment Gateway Timeout', 7],
];

const QUANTITIES = new WeightedChoice<number>([
  [1, 80],
  [2, 11],
  [3, 5],
  [4, 2.5],
  [5, 1.5],
]);
const QUANTITIES_CHEAP = new WeightedChoice<number>([
  [1, 62],
  [2, 20],
  [3, 10],
  [4, 5],
  [5, 3],
]);
const DISCOUNTS = new WeightedChoice<number>([
  [0.05, 25],
  [0.1, 35],
  [0.15, 15],
  [0.2, 15],
  [0.25, 5],
  [0.3, 5],
]);
const SHIPPING = new WeightedChoice<number>([
  [4.99, 55],
  [6.99, 25],
  [9.99, 15],
  [14.99, 5],
]);

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** How far back the warm-up starts sessions, and the most events it runs one by one (≈ 0.5 s of work). */
const WARMUP_MS = 15 * MINUTE;
const WARMUP_EVENTS = 2_000_000;

/** The users the simulator needs: their ids. */
export interface SimulatedUser {
  userId: string;
}

/** The products the simulator needs: id, category (for browsing) and price (for quantities). */
export interface SimulatedProduct {
  productId: string;
  category: string | null;
  price: number | null;
}

export interface TrafficSimulatorOptions {
  users: readonly SimulatedUser[];
  products: readonly SimulatedProduct[];
  /** A non-negative safe integer. */
  seed: number;
  /** Event time of the first event (epoch ms). */
  startMs: number;
  /** Events per second of event time, on average. */
  ratePerSecond: number;
  /** Multiplies every source's conversion probability (default 1: a few percent of sessions). */
  conversionScale?: number;
}

/** What a session does next (plain numbers: enums are not erasable syntax). */
const CLICK = 0;
const CHECKOUT = 1;
const RETRY = 2;
const DONE = -1;

function conversionOf(sourceIndex: number, scale: number): number {
  return Math.min(1, (SOURCES[sourceIndex]![2] as number) * scale);
}

/**
 * The average number of events one session produces (clicks, checkouts and retries), from which
 * the simulator derives how often sessions start.
 */
export function meanEventsPerSession(conversionScale = 1): number {
  const clicks = new WeightedTable(CLICK_COUNT_WEIGHTS);
  let meanClicks = 0;
  for (let i = 0; i < clicks.size; i++) meanClicks += (i + 1) * clicks.probability(i);
  const sources = new WeightedTable(SOURCES.map((s) => s[1]));
  let conversion = 0;
  for (let i = 0; i < sources.size; i++) conversion += sources.probability(i) * conversionOf(i, conversionScale);
  const checkoutEvents = 1 + FAILURE_RATE * RETRY_AFTER_FAILURE;
  return (
    DIRECT_CHECKOUT_SHARE * checkoutEvents + (1 - DIRECT_CHECKOUT_SHARE) * (meanClicks + conversion * checkoutEvents)
  );
}

/**
 * An endless, deterministic stream of clicks and checkouts in event-time order.
 *
 * @example
 * const sim = new TrafficSimulator({ users, products, seed: 1, startMs: Date.UTC(2026, 2, 1), ratePerSecond: 100 });
 * sim.next(); // { type: 'click', clickId: '…', userId: 'u000318', productId: 'p00042', source: 'google_ads', eventTimeMs: 1772323200004 }
 */
export class TrafficSimulator {
  #startMs: number;
  private readonly userIds: string[];
  private readonly productIds: string[];
  private readonly prices: Float64Array;
  private readonly rng: RandomSource;
  private readonly userActivity: WeightedTable;
  private readonly popularity: WeightedTable;
  /** Per product: the products of its category and their popularity. */
  private readonly categoryOf: Int32Array;
  private readonly categoryProducts: Int32Array[];
  private readonly categoryPopularity: WeightedTable[];
  private readonly sources: WeightedTable;
  private readonly conversion: number[];
  private readonly clickCounts: WeightedTable;
  private readonly paymentMethods: WeightedTable;
  private readonly failureReasons: WeightedTable;
  private readonly sessionGapMs: number;
  /** The sessions under way, and the heap of them by the time of their next event. */
  private readonly sessions = new SessionTable();
  // Initialized here, not only in the constructor: a number field first declared as undefined
  // would box every new value (this one changes with every session).
  private nextSessionMs = 0.5;
  private seq = 0;
  #started = false;

  constructor(options: TrafficSimulatorOptions) {
    const { users, products, seed, startMs, ratePerSecond } = options;
    if (users.length === 0) throw new RangeError('the simulator needs at least one user');
    if (products.length === 0) throw new RangeError('the simulator needs at least one product');
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
      throw new RangeError(`ratePerSecond must be a positive number, got ${ratePerSecond}`);
    }
    const scale = options.conversionScale ?? 1;
    this.userIds = users.map((u) => u.userId);
    this.productIds = products.map((p) => p.productId);
    this.prices = Float64Array.from(products, (p) => p.price ?? Number.NaN);
    this.#startMs = startMs;
    this.rng = new RandomSource(seed, 'traffic');
    const rng = this.rng;

    this.userActivity = new WeightedTable(Array.from(users, () => rng.logNormal(1, 1)));
    // Zipf-like popularity over a random ranking of the products.
    const rank = Array.from(products, (_, i) => i);
    for (let i = rank.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [rank[i], rank[j]] = [rank[j]!, rank[i]!];
    }
    const popularity = new Float64Array(products.length);
    for (let r = 0; r < rank.length; r++) popularity[rank[r]!] = 1 / (r + 1) ** 0.9;
    this.popularity = new WeightedTable(popularity);

    const byCategory = new Map<string, number[]>();
    this.categoryOf = new Int32Array(products.length);
    products.forEach((p, i) => {
      const key = p.category ?? '';
      let list = byCategory.get(key);
      if (list === undefined) byCategory.set(key, (list = []));
      list.push(i);
    });
    this.categoryProducts = [];
    this.categoryPopularity = [];
    for (const list of byCategory.values()) {
      const c = this.categoryProducts.length;
      for (const i of list) this.categoryOf[i] = c;
      this.categoryProducts.push(Int32Array.from(list));
      this.categoryPopularity.push(new WeightedTable(list.map((i) => popularity[i]!)));
    }

    this.sources = new WeightedTable(SOURCES.map((s) => s[1]));
    this.conversion = SOURCES.map((_, i) => conversionOf(i, scale));
    this.clickCounts = new WeightedTable(CLICK_COUNT_WEIGHTS);
    this.paymentMethods = new WeightedTable(PAYMENT_METHODS.map((m) => m[1]));
    this.failureReasons = new WeightedTable(FAILURE_REASONS.map((r) => r[1]));
    this.sessionGapMs = (SECOND * meanEventsPerSession(scale)) / ratePerSecond;

    // Warm-up: the sessions that started in the 15 minutes before `startMs` are run on their own,
    // quickly (no ids, no events), up to `startMs`; those still going join the simulation there.
    // Long sessions carry many of the events, so the rate takes minutes to settle: 15 minutes
    // bring it within 1 %. The last `fullMs` of them (all 15 minutes up to ≈ 2 200 events/s; the
    // last two million events' worth above) are run one by one; the older ones, at a higher
    // rate, are thinned: one in `1 / keep` is run and, if still going at `startMs`, stands for
    // `1 / keep` sessions (copies with their own user, their next event within a second of its).
    // Without them the rate would start at a third of the asked one at 100 k events/s and take
    // many minutes to rise (issue 16: `produce --rate 10000` delivered 8.5 k events/s).
    const fullMs = Math.min(WARMUP_MS, (WARMUP_EVENTS / ratePerSecond) * SECOND);
    if (fullMs < WARMUP_MS) this.warmUpThinned(startMs - WARMUP_MS, startMs - fullMs, ratePerSecond);
    let t = startMs - fullMs + rng.exponential(this.sessionGapMs);
    const table = this.sessions;
    for (; t < startMs; t += rng.exponential(this.sessionGapMs)) {
      const session = this.newSession(t);
      while (table.stage[session] !== DONE && (table.timeMs[session] as number) < startMs) this.advance(session, false);
      if (table.stage[session] !== DONE) table.push(session);
      else table.release(session);
    }
    this.nextSessionMs = t;
  }

  /**
   * Runs one in `1 / keep` of the sessions that start in [fromMs, toMs) up to `startMs` (keep
   * bounds the work to {@link WARMUP_EVENTS} events) and puts each one still going, and
   * `1 / keep − 1` copies of it on average, into the simulation.
   */
  private warmUpThinned(fromMs: number, toMs: number, ratePerSecond: number): void {
    const rng = this.rng;
    const keep = Math.min(1, (WARMUP_EVENTS * SECOND) / (ratePerSecond * (toMs - fromMs)));
    const gapMs = this.sessionGapMs / keep;
    const copies = 1 / keep - 1;
    const table = this.sessions;
    for (let t = fromMs + rng.exponential(gapMs); t < toMs; t += rng.exponential(gapMs)) {
      const session = this.newSession(t);
      while (table.stage[session] !== DONE && (table.timeMs[session] as number) < this.#startMs) {
        this.advance(session, false);
      }
      if (table.stage[session] === DONE) {
        table.release(session);
        continue;
      }
      table.push(session);
      const n = Math.floor(copies) + (rng.chance(copies % 1) ? 1 : 0);
      for (let i = 0; i < n; i++) {
        // Its own user and a next event up to a second either side (never before startMs), so
        // that the copies do not arrive as one burst of one user.
        const jitterMs = rng.uniform(-SECOND, SECOND);
        const at = table.timeMs[session] as number;
        const copy = table.copy(session);
        table.timeMs[copy] = at + jitterMs < this.#startMs ? at - jitterMs : at + jitterMs;
        table.seq[copy] = this.seq++;
        table.user[copy] = this.userActivity.pick(rng);
        table.push(copy);
      }
    }
  }

  /** Event time of the first event (epoch ms). */
  get startMs(): number {
    return this.#startMs;
  }

  /**
   * Moves the whole simulation `deltaMs` later, before the first event: the live mode starts the
   * traffic when the warm-up is done (seconds at 100 k events/s), not when it began, so that the
   * first poll is not a burst of the warm-up's time. The model does not depend on the hour, so
   * the stream is the same one, later.
   */
  shiftStart(deltaMs: number): void {
    if (this.#started) throw new Error('shiftStart moves a simulation that has not produced an event yet');
    this.#startMs += deltaMs;
    this.nextSessionMs += deltaMs;
    this.sessions.shift(deltaMs);
  }

  /** The next event, in event-time order (ties: the order the simulation reached them). */
  next(): GeneratedEvent {
    return this.step(Number.POSITIVE_INFINITY)!;
  }

  /**
   * The next event if its event time is ≤ `limitMs`; otherwise undefined, and nothing is
   * consumed (the live mode asks for everything up to the clock's now).
   */
  nextUpTo(limitMs: number): GeneratedEvent | undefined {
    return this.step(limitMs);
  }

  /** Starts the sessions due before the next pending event, then runs that event if it is due by `limitMs`. */
  private step(limitMs: number): GeneratedEvent | undefined {
    const table = this.sessions;
    while (table.size === 0 || this.nextSessionMs < table.peekTime()) {
      if (Math.floor(this.nextSessionMs) > limitMs) return undefined;
      table.push(this.newSession(this.nextSessionMs));
      this.nextSessionMs += this.rng.exponential(this.sessionGapMs);
    }
    const s = table.peekSlot();
    if (Math.floor(table.timeMs[s] as number) > limitMs) return undefined;
    const event = this.advance(s, true)!;
    this.#started = true;
    if (table.stage[s] === DONE) {
      table.pop();
      table.release(s);
    } else table.updateTop();
    return event;
  }

  /** A new session (its slot) starting at `timeMs`. */
  private newSession(timeMs: number): number {
    const rng = this.rng;
    const t = this.sessions;
    const s = t.alloc();
    t.timeMs[s] = timeMs;
    t.seq[s] = this.seq++;
    t.user[s] = this.userActivity.pick(rng);
    t.source[s] = this.sources.pick(rng);
    t.stage[s] = CLICK;
    t.clicksLeft[s] = 0;
    t.converts[s] = 0;
    t.product[s] = 0;
    t.quantity[s] = 1;
    t.discount[s] = 0;
    t.shippingCost[s] = 0;
    t.paymentMethod[s] = 0;
    if (rng.chance(DIRECT_CHECKOUT_SHARE)) {
      this.prepareOrder(s, this.popularity.pick(rng));
    } else {
      t.clicksLeft[s] = this.clickCounts.pick(rng) + 1;
      t.converts[s] = rng.chance(this.conversion[t.source[s] as number]!) ? 1 : 0;
    }
    return s;
  }

  /**
   * Runs the session's next event and moves it to the time of the one after (or to DONE). The
   * event is built only when `emit` (the warm-up skips ids and objects).
   */
  private advance(s: number, emit: boolean): GeneratedEvent | undefined {
    return this.sessions.stage[s] === CLICK ? this.click(s, emit) : this.checkout(s, emit);
  }

  /** One of the products session `s` clicked, at random (as `rng.pick` over the list). */
  private pickClicked(s: number): number {
    const t = this.sessions;
    return t.clickedAt(s, Math.floor(this.rng.next() * (t.clickedCount[s] as number)));
  }

  private click(s: number, emit: boolean): GeneratedClick | undefined {
    const rng = this.rng;
    const t = this.sessions;
    let product: number;
    const r = rng.next();
    const clicks = t.clickedCount[s] as number;
    if (clicks === 0) product = this.popularity.pick(rng);
    else if (r < 0.18) product = this.pickClicked(s);
    else if (r < 0.7) {
      const c = this.categoryOf[t.clickedAt(s, clicks - 1)]!;
      product = this.categoryProducts[c]![this.categoryPopularity[c]!.pick(rng)]!;
    } else product = this.popularity.pick(rng);
    t.addClicked(s, product);
    const event: GeneratedClick | undefined = emit
      ? {
          type: 'click',
          clickId: rng.uuid(),
          userId: this.userIds[t.user[s] as number]!,
          productId: this.productIds[product]!,
          source: SOURCES[t.source[s] as number]![0],
          eventTimeMs: Math.floor(t.timeMs[s] as number),
        }
      : undefined;
    const left = (t.clicksLeft[s] as number) - 1;
    t.clicksLeft[s] = left;
    if (left > 0) {
      t.timeMs[s] =
        (t.timeMs[s] as number) + Math.min(15 * MINUTE, Math.max(2 * SECOND, rng.logNormal(35 * SECOND, 0.9)));
    } else if (t.converts[s] === 1) {
      const bought = rng.chance(0.55) ? product : this.pickClicked(s);
      this.prepareOrder(s, bought);
      const outcome = rng.next();
      let gapMs: number;
      if (outcome < 0.78) gapMs = Math.min(20 * MINUTE, Math.max(10 * SECOND, rng.logNormal(90 * SECOND, 0.9)));
      else if (outcome < 0.88) gapMs = rng.uniform(20 * MINUTE, 55 * MINUTE);
      else gapMs = rng.uniform(61 * MINUTE, 4 * HOUR);
      t.timeMs[s] = (t.timeMs[s] as number) + gapMs;
    } else t.stage[s] = DONE;
    return event;
  }

  /** Sets the order a session will check out: product, quantity, discount, shipping, method. */
  private prepareOrder(s: number, product: number): void {
    const rng = this.rng;
    const t = this.sessions;
    const listed = this.prices[product]!;
    const price = Number.isNaN(listed) ? 20 : listed; // a product without a price: a typical one
    t.stage[s] = CHECKOUT;
    t.product[s] = product;
    const quantity = (price < 15 ? QUANTITIES_CHEAP : QUANTITIES).pick(rng);
    t.quantity[s] = quantity;
    const discountChance = SOURCES[t.source[s] as number]![0] === 'email' ? 0.5 : 0.2;
    const discount = rng.chance(discountChance) ? DISCOUNTS.pick(rng) : 0;
    t.discount[s] = discount;
    const subtotal = price * quantity * (1 - discount);
    t.shippingCost[s] = subtotal >= 50 && rng.chance(0.85) ? 0 : SHIPPING.pick(rng);
    t.paymentMethod[s] = this.paymentMethods.pick(rng);
  }

  private checkout(s: number, emit: boolean): GeneratedCheckout | undefined {
    const rng = this.rng;
    const t = this.sessions;
    const retry = t.stage[s] === RETRY;
    if (retry && rng.chance(0.4)) t.paymentMethod[s] = this.paymentMethods.pick(rng);
    const failed = rng.chance(retry ? RETRY_FAILURE_RATE : FAILURE_RATE);
    const reason = failed ? FAILURE_REASONS[this.failureReasons.pick(rng)]![0] : 'None';
    const event: GeneratedCheckout | undefined = emit
      ? {
          type: 'checkout',
          checkoutId: rng.uuid(),
          userId: this.userIds[t.user[s] as number]!,
          productId: this.productIds[t.product[s] as number]!,
          quantity: t.quantity[s] as number,
          discount: t.discount[s] as number,
          shippingCost: t.shippingCost[s] as number,
          paymentMethod: PAYMENT_METHODS[t.paymentMethod[s] as number]![0],
          paymentStatus: failed ? 'failed' : 'success',
          paymentDescription: reason,
          eventTimeMs: Math.floor(t.timeMs[s] as number),
        }
      : undefined;
    if (failed && !retry && rng.chance(RETRY_AFTER_FAILURE)) {
      t.stage[s] = RETRY;
      t.timeMs[s] = (t.timeMs[s] as number) + rng.uniform(20 * SECOND, 4 * MINUTE);
    } else t.stage[s] = DONE;
    return event;
  }
}
