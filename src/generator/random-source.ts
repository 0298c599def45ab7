/**
 * The seeded pseudo-random numbers of the generator: sfc32 (Chris Doty-Humphrey's Small Fast
 * Counting generator, 128 bits of state, period ≥ 2^32), which passes PractRand to terabytes and
 * costs a few 32-bit operations per number. It is used per event, where faker would be far too
 * slow; faker only names the users and products, once.
 *
 * A `RandomSource` is built from a seed and a stream name, so that independent parts of the
 * simulation (users, products, traffic, delivery) draw from independent sequences: asking for
 * more events never changes the users, and more users never change the products.
 */

const TWO_POW_32 = 4294967296;

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** FNV-1a over the UTF-16 code units of `text`, as an unsigned 32-bit number. */
function fnv1a(text: string, basis = 0x811c9dc5): number {
  let h = basis;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function hex8(n: number): string {
  return HEX[(n >>> 24) & 255]! + HEX[(n >>> 16) & 255]! + HEX[(n >>> 8) & 255]! + HEX[n & 255]!;
}

function hex4(n: number): string {
  return HEX[(n >>> 8) & 255]! + HEX[n & 255]!;
}

/**
 * A deterministic source of random numbers.
 *
 * @example
 * const rng = new RandomSource(42, 'traffic');
 * rng.next();        // 0.7364… (the same on every run and machine)
 * rng.int(1, 6);     // 1…6
 * rng.uuid();        // '3f9c0b1e-…-4…' (a version-4 UUID)
 */
export class RandomSource {
  // The state lives in a typed array: as plain fields, the 32-bit values outside the small-integer
  // range would be boxed on every store (a field first declared as undefined is never unboxed).
  private readonly state = new Int32Array(4);

  /** `seed`: a non-negative safe integer; `stream`: a name that selects an independent sequence. */
  constructor(seed: number, stream = '') {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    this.state[0] = lo ^ fnv1a(stream);
    this.state[1] = hi ^ fnv1a(stream, 0x9e3779b9);
    this.state[2] = fnv1a(`${seed}/${stream}`) ^ 0x6a09e667;
    this.state[3] = 1;
    for (let i = 0; i < 15; i++) this.nextU32();
  }

  /** A uniform unsigned 32-bit integer. */
  nextU32(): number {
    const s = this.state;
    const a = s[0]!;
    const b = s[1]!;
    const c = s[2]!;
    const d = s[3]!;
    const t = (((a + b) | 0) + d) | 0;
    s[3] = d + 1;
    s[0] = b ^ (b >>> 9);
    s[1] = c + (c << 3);
    s[2] = ((c << 21) | (c >>> 11)) + t;
    return t >>> 0;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** A uniform integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** A uniform number in [min, max). */
  uniform(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A uniform element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** A standard normal number (Box–Muller; one draw per call, so the sequence stays simple). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]: log(0) is never taken
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** A log-normal number with the given median and shape `sigma`. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** An exponential number with the given mean (the gaps of a Poisson process). */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  /** A version-4 UUID (RFC 9562 layout) drawn from this source: reproducible, unlike crypto.randomUUID(). */
  uuid(): string {
    const a = this.nextU32();
    const b = this.nextU32();
    const c = this.nextU32();
    const d = this.nextU32();
    return `${hex8(a)}-${hex4(b >>> 16)}-${hex4((b & 0x0fff) | 0x4000)}-${hex4(((c >>> 16) & 0x3fff) | 0x8000)}-${hex4(c)}${hex8(d)}`;
  }
}

/**
 * Picks indices with probability proportional to fixed weights (cumulative sums and a binary
 * search: O(log n) per pick, no allocation).
 *
 * @example
 * const t = new WeightedTable([70, 20, 10]);
 * t.pick(rng); // 0 seven times in ten
 */
export class WeightedTable {
  readonly size: number;
  private readonly cumulative: Float64Array;
  private readonly total: number;

  constructor(weights: ArrayLike<number>) {
    if (weights.length === 0) throw new RangeError('a weighted table needs at least one weight');
    this.size = weights.length;
    this.cumulative = new Float64Array(weights.length);
    let sum = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i] as number;
      if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`weight ${i} is ${w}: weights must be finite and ≥ 0`);
      sum += w;
      this.cumulative[i] = sum;
    }
    if (!(sum > 0)) throw new RangeError('the weights of a weighted table must not all be 0');
    this.total = sum;
  }

  /** An index in [0, size), with probability weight / total. */
  pick(rng: RandomSource): number {
    const x = rng.next() * this.total;
    const c = this.cumulative;
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((c[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** The probability of index `i`. */
  probability(i: number): number {
    const below = i === 0 ? 0 : (this.cumulative[i - 1] as number);
    return ((this.cumulative[i] as number) - below) / this.total;
  }
}

/** Choices with weights, as one table: `weighted([['visa', 35], ['paypal', 15]]).pick(rng)`. */
export class WeightedChoice<T> {
  readonly values: readonly T[];
  private readonly table: WeightedTable;

  constructor(entries: ReadonlyArray<readonly [T, number]>) {
    this.values = entries.map((e) => e[0]);
    this.table = new WeightedTable(entries.map((e) => e[1]));
  }

  pick(rng: RandomSource): T {
    return this.values[this.table.pick(rng)] as T;
  }

  /** The probability of the i-th value. */
  probability(i: number): number {
    return this.table.probability(i);
  }
}
