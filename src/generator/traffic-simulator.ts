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

interface Session {
  timeMs: number;
  seq: number;
  user: number;
  source: number;
  stage: number;
  clicksLeft: number;
  converts: boolean;
  clicked: number[];
  product: number;
  quantity: number;
  discount: number;
  shippingCost: number;
  paymentMethod: number;
}

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
  private readonly heap: Session[] = [];
  private readonly heapTime: number[] = [];
  private readonly heapSeq: number[] = [];
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
    for (; t < startMs; t += rng.exponential(this.sessionGapMs)) {
      const session = this.newSession(t);
      while (session.stage !== DONE && session.timeMs < startMs) this.advance(session, false);
      if (session.stage !== DONE) this.pushHeap(session);
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
    for (let t = fromMs + rng.exponential(gapMs); t < toMs; t += rng.exponential(gapMs)) {
      const session = this.newSession(t);
      while (session.stage !== DONE && session.timeMs < this.#startMs) this.advance(session, false);
      if (session.stage === DONE) continue;
      this.pushHeap(session);
      const n = Math.floor(copies) + (rng.chance(copies % 1) ? 1 : 0);
      for (let i = 0; i < n; i++) {
        // Its own user and a next event up to a second either side (never before startMs), so
        // that the copies do not arrive as one burst of one user.
        const jitterMs = rng.uniform(-SECOND, SECOND);
        const timeMs =
          session.timeMs + jitterMs < this.#startMs ? session.timeMs - jitterMs : session.timeMs + jitterMs;
        this.pushHeap({
          ...session,
          timeMs,
          seq: this.seq++,
          user: this.userActivity.pick(rng),
          clicked: session.clicked.slice(),
        });
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
    for (let i = 0; i < this.heap.length; i++) {
      this.heap[i]!.timeMs += deltaMs;
      this.heapTime[i] = this.heapTime[i]! + deltaMs;
    }
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
    const heap = this.heap;
    while (heap.length === 0 || this.nextSessionMs < this.heapTime[0]!) {
      if (Math.floor(this.nextSessionMs) > limitMs) return undefined;
      this.pushHeap(this.newSession(this.nextSessionMs));
      this.nextSessionMs += this.rng.exponential(this.sessionGapMs);
    }
    const s = heap[0]!;
    if (Math.floor(s.timeMs) > limitMs) return undefined;
    const event = this.advance(s, true)!;
    this.#started = true;
    if (s.stage === DONE) this.popHeap();
    else this.siftDown(0);
    return event;
  }

  private newSession(timeMs: number): Session {
    const rng = this.rng;
    const s: Session = {
      timeMs,
      seq: this.seq++,
      user: this.userActivity.pick(rng),
      source: this.sources.pick(rng),
      stage: CLICK,
      clicksLeft: 0,
      converts: false,
      clicked: [],
      product: 0,
      quantity: 1,
      discount: 0,
      shippingCost: 0,
      paymentMethod: 0,
    };
    if (rng.chance(DIRECT_CHECKOUT_SHARE)) {
      this.prepareOrder(s, this.popularity.pick(rng));
    } else {
      s.clicksLeft = this.clickCounts.pick(rng) + 1;
      s.converts = rng.chance(this.conversion[s.source]!);
    }
    return s;
  }

  /**
   * Runs the session's next event and moves it to the time of the one after (or to DONE). The
   * event is built only when `emit` (the warm-up skips ids and objects).
   */
  private advance(s: Session, emit: boolean): GeneratedEvent | undefined {
    return s.stage === CLICK ? this.click(s, emit) : this.checkout(s, emit);
  }

  private click(s: Session, emit: boolean): GeneratedClick | undefined {
    const rng = this.rng;
    let product: number;
    const r = rng.next();
    if (s.clicked.length === 0) product = this.popularity.pick(rng);
    else if (r < 0.18) product = rng.pick(s.clicked);
    else if (r < 0.7) {
      const c = this.categoryOf[s.clicked[s.clicked.length - 1]!]!;
      product = this.categoryProducts[c]![this.categoryPopularity[c]!.pick(rng)]!;
    } else product = this.popularity.pick(rng);
    s.clicked.push(product);
    const event: GeneratedClick | undefined = emit
      ? {
          type: 'click',
          clickId: rng.uuid(),
          userId: this.userIds[s.user]!,
          productId: this.productIds[product]!,
          source: SOURCES[s.source]![0],
          eventTimeMs: Math.floor(s.timeMs),
        }
      : undefined;
    s.clicksLeft--;
    if (s.clicksLeft > 0) {
      s.timeMs += Math.min(15 * MINUTE, Math.max(2 * SECOND, rng.logNormal(35 * SECOND, 0.9)));
    } else if (s.converts) {
      const bought = rng.chance(0.55) ? product : rng.pick(s.clicked);
      this.prepareOrder(s, bought);
      const outcome = rng.next();
      if (outcome < 0.78) s.timeMs += Math.min(20 * MINUTE, Math.max(10 * SECOND, rng.logNormal(90 * SECOND, 0.9)));
      else if (outcome < 0.88) s.timeMs += rng.uniform(20 * MINUTE, 55 * MINUTE);
      else s.timeMs += rng.uniform(61 * MINUTE, 4 * HOUR);
    } else s.stage = DONE;
    return event;
  }

  /** Sets the order a session will check out: product, quantity, discount, shipping, method. */
  private prepareOrder(s: Session, product: number): void {
    const rng = this.rng;
    const listed = this.prices[product]!;
    const price = Number.isNaN(listed) ? 20 : listed; // a product without a price: a typical one
    s.stage = CHECKOUT;
    s.product = product;
    s.quantity = (price < 15 ? QUANTITIES_CHEAP : QUANTITIES).pick(rng);
    const discountChance = SOURCES[s.source]![0] === 'email' ? 0.5 : 0.2;
    s.discount = rng.chance(discountChance) ? DISCOUNTS.pick(rng) : 0;
    const subtotal = price * s.quantity * (1 - s.discount);
    s.shippingCost = subtotal >= 50 && rng.chance(0.85) ? 0 : SHIPPING.pick(rng);
    s.paymentMethod = this.paymentMethods.pick(rng);
  }

  private checkout(s: Session, emit: boolean): GeneratedCheckout | undefined {
    const rng = this.rng;
    const retry = s.stage === RETRY;
    if (retry && rng.chance(0.4)) s.paymentMethod = this.paymentMethods.pick(rng);
    const failed = rng.chance(retry ? RETRY_FAILURE_RATE : FAILURE_RATE);
    const reason = failed ? FAILURE_REASONS[this.failureReasons.pick(rng)]![0] : 'None';
    const event: GeneratedCheckout | undefined = emit
      ? {
          type: 'checkout',
          checkoutId: rng.uuid(),
          userId: this.userIds[s.user]!,
          productId: this.productIds[s.product]!,
          quantity: s.quantity,
          discount: s.discount,
          shippingCost: s.shippingCost,
          paymentMethod: PAYMENT_METHODS[s.paymentMethod]![0],
          paymentStatus: failed ? 'failed' : 'success',
          paymentDescription: reason,
          eventTimeMs: Math.floor(s.timeMs),
        }
      : undefined;
    if (failed && !retry && rng.chance(RETRY_AFTER_FAILURE)) {
      s.stage = RETRY;
      s.timeMs += rng.uniform(20 * SECOND, 4 * MINUTE);
    } else s.stage = DONE;
    return event;
  }

  // A binary min-heap of sessions by (timeMs, seq). The keys live in their own arrays, beside
  // the sessions, so that sifting compares numbers in place instead of chasing object pointers
  // (several times faster with thousands of concurrent sessions).

  private pushHeap(s: Session): void {
    const heap = this.heap;
    const time = this.heapTime;
    const seq = this.heapSeq;
    let i = heap.length;
    heap.push(s);
    time.push(s.timeMs);
    seq.push(s.seq);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = time[parent]!;
      if (pt < s.timeMs || (pt === s.timeMs && seq[parent]! < s.seq)) break;
      heap[i] = heap[parent]!;
      time[i] = pt;
      seq[i] = seq[parent]!;
      i = parent;
    }
    heap[i] = s;
    time[i] = s.timeMs;
    seq[i] = s.seq;
  }

  private popHeap(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    this.heapTime.pop();
    this.heapSeq.pop();
    if (heap.length > 0) {
      heap[0] = last;
      this.siftDown(0);
    }
  }

  /** Restores the heap after the session at `i` moved later (or was replaced). */
  private siftDown(i: number): void {
    const heap = this.heap;
    const time = this.heapTime;
    const seqs = this.heapSeq;
    const n = heap.length;
    const s = heap[i]!;
    const t = s.timeMs;
    const q = s.seq;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n) {
        const tr = time[r]!;
        const tl = time[l]!;
        if (tr < tl || (tr === tl && seqs[r]! < seqs[l]!)) c = r;
      }
      const tc = time[c]!;
      if (tc > t || (tc === t && seqs[c]! > q)) break;
      heap[i] = heap[c]!;
      time[i] = tc;
      seqs[i] = seqs[c]!;
      i = c;
    }
    heap[i] = s;
    time[i] = t;
    seqs[i] = q;
  }
}
