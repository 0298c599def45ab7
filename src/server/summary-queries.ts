/**
 * The dashboard's numbers, read from flowmark's output tables: the last hour of
 * `analytics_minute` (totals, a per-minute series, breakdowns), the minutes in progress and the
 * newest rows of `attributed_checkouts`.
 *
 * **"The last hour" is event time, not the wall clock**: data may be from any date (a replay of
 * last year, a generated set of 2026-03-01). It is the hour that ends one minute after the newest
 * closed window of `analytics_minute` **of real data**, i.e. the 60 one-minute windows
 * `[to − 60 min, to)` with `to = newest window_start + 1 min`; the summary says so in `from` and
 * `to`. A window's row exists once the watermark has passed the window's end, so every minute of
 * that hour is complete. "Of real data": a window counts only if it ends at or before the
 * *horizon*, the running job's watermark and at most `maxFutureSkewMs` after the processing time
 * (whichever is earlier). One event dated 2099 that reached the tables (a drained replay ends with
 * the watermark at +∞ and closes its window) would otherwise make the hour 2099-12-31 and hide
 * every real figure; the same bound keeps it off the latest checkouts and the minutes in progress.
 *
 * **The minutes in progress** are those after `to` (every minute, before any window has closed):
 * counted from `attributed_checkouts`, provisional rows included, so a checkout is on the
 * dashboard as soon as its first checkpoint commits, not a minute and a half later when its window
 * closes. They are marked as such (`inProgress`); the hour's figures never include them.
 *
 * Every statement is parameterized and the schema is quoted; the server only reads.
 */
import { checkSchemaName } from '../attribution/output-schema.ts';

/**
 * The one method the summary needs from a database client. flowmark's `SqlClient`
 * (src/connectors/sql) has it, for PGlite and for a PostgreSQL server; the server is written
 * against this shape and never imports a connector.
 */
export interface SummaryDb {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<{ rows: R[] }>;
}

/** Checkouts, revenue and profit of one group. Money in the shop's currency, to the cent. */
export interface Figures {
  checkouts: number;
  revenue: number;
  profit: number;
}

/** One value of a breakdown (`google_ads`, `Electronics`, `female`, …) or the rest, merged. */
export interface BreakdownEntry extends Figures {
  value: string;
  /** True for the `other` entry that merges every value beyond the top N. */
  other?: true;
  /** For `other`: how many values it merges. */
  merged?: number;
}

/** One minute of the series (event time); a minute with no checkout is present, with zeros. */
export interface MinutePoint extends Figures {
  /** Start of the minute, ISO-8601 UTC. */
  minute: string;
}

/** One row of `attributed_checkouts`, as the dashboard lists it. */
export interface LatestCheckout {
  checkoutId: string;
  /** ISO-8601 UTC. */
  checkoutTime: string;
  userName: string | null;
  userGender: string | null;
  productName: string | null;
  category: string | null;
  /** The attributed click's source; null: no click. */
  source: string | null;
  orderValue: number | null;
  revenue: number | null;
  profit: number | null;
  paymentStatus: string;
  paymentDescription: string | null;
  /** False while the row is provisional (the watermark has not passed the checkout yet). */
  isFinal: boolean;
}

/** What the summary needs to know about time when it is read (from the running job's monitor). */
export interface SummaryTime {
  /** Processing time, ms since the epoch. */
  nowMs: number;
  /**
   * The running job's watermark (ms), or null when it has none that bounds anything: no event
   * read yet (−∞), or a bounded input that has ended (+∞). Null leaves only the processing-time
   * bound.
   */
  watermarkMs: number | null;
}

/** What `GET /api/summary` returns and the `summary` event of `/api/stream` carries. */
export interface Summary extends Figures {
  /**
   * The hour, in event time: `[from, to)` (ISO-8601 UTC), with `to` one minute after the newest
   * closed window of real data in `analytics_minute` (see the file's comment). Null, with zeros
   * everywhere, while no window has closed yet.
   */
  from: string | null;
  to: string | null;
  /** Checkouts whose payment failed, in the hour. */
  failedPayments: number;
  /** 60 points, oldest first (empty while there is no data). */
  perMinute: MinutePoint[];
  /** Checkouts by the attributed click's source (`none`: no click), top N by revenue, then `other`. */
  bySource: BreakdownEntry[];
  /** By product category, top N by revenue, then `other`. */
  byCategory: BreakdownEntry[];
  /** Failed payments by reason (the payment description, or `unspecified`), top N by count. */
  failedByReason: BreakdownEntry[];
  /** Checkouts by the customer's gender (`unknown`: user not found), top N by count. */
  byGender: BreakdownEntry[];
  /**
   * The minutes after `to` (all, while `to` is null) up to the minute of the newest checkout, at
   * most `inProgressMinutes`, oldest first: from `attributed_checkouts`, provisional rows included.
   * Incomplete: their figures change until their window closes and they join the hour. Empty
   * while there is no checkout after `to`.
   */
  inProgress: MinutePoint[];
  /** The newest checkouts by checkout time, whatever their hour; provisional ones included. */
  latestCheckouts: LatestCheckout[];
}

export interface SummaryOptions {
  /** flowmark's schema (default `flowmark`). */
  schema?: string;
  /** Length of the window list in minutes (default 60: the last hour). */
  minutes?: number;
  /** How many rows of `attributed_checkouts` to list (default 12). */
  latest?: number;
  /** Entries kept per breakdown before the rest is merged into `other`. */
  top?: Partial<Record<'source' | 'category' | 'failed_reason' | 'gender', number>>;
  /**
   * How far after the processing time event time may be and still be shown (default 1 h, the
   * default of the pipeline's own `max_future_skew`): rows dated later are left out of the hour,
   * the minutes in progress and the latest checkouts.
   */
  maxFutureSkewMs?: number;
  /** Most minutes in progress listed (default 3: the watermark trails by ~15 s, so 1–2 usually). */
  inProgressMinutes?: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DEFAULT_TOP = { source: 10, category: 8, failed_reason: 6, gender: 5 } as const;

/** Quotes an identifier for SQL text: `flowmark` → `"flowmark"`. */
function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

interface GroupRow {
  dimension: string;
  value: string;
  checkouts: number;
  revenue: number;
  profit: number;
}

interface MinuteRow {
  window_ms: number;
  checkouts: number;
  revenue: number;
  profit: number;
}

interface CheckoutRow {
  checkout_id: string;
  checkout_ms: number;
  user_name: string | null;
  user_gender: string | null;
  product_name: string | null;
  product_category: string | null;
  click_source: string | null;
  order_value: number | null;
  revenue: number | null;
  profit: number | null;
  payment_status: string;
  payment_description: string | null;
  is_final: boolean;
}

/** Rounds to cents: sums of numeric(14,2) values read as float8 may carry binary noise. */
function cents(x: number): number {
  return Math.round(x * 100) / 100;
}

/**
 * The first `n` entries sorted by `by` (then by value, for a stable order), and one `other`
 * entry merging the rest, if any. With exactly one value beyond `n` it is kept under its name.
 *
 * @example
 * topN([{ value: 'a', checkouts: 5, … }, { value: 'b', … }, { value: 'c', … }], 1, 'checkouts')
 * // [{ value: 'a', … }, { value: 'other', other: true, merged: 2, checkouts: …, … }]
 */
export function topN(entries: readonly BreakdownEntry[], n: number, by: 'revenue' | 'checkouts'): BreakdownEntry[] {
  const then = by === 'revenue' ? 'checkouts' : 'revenue';
  const sorted = [...entries].sort(
    (a, b) => b[by] - a[by] || b[then] - a[then] || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0),
  );
  if (sorted.length <= n + 1) return sorted;
  const rest = sorted.slice(n);
  const other: BreakdownEntry = {
    value: 'other',
    other: true,
    merged: rest.length,
    checkouts: 0,
    revenue: 0,
    profit: 0,
  };
  for (const e of rest) {
    other.checkouts += e.checkouts;
    other.revenue += e.revenue;
    other.profit += e.profit;
  }
  other.revenue = cents(other.revenue);
  other.profit = cents(other.profit);
  return [...sorted.slice(0, n), other];
}

/**
 * Reads the summary of the last hour (see the file's comment for what "last hour" and "real data"
 * mean). Six statements; none touches more than the hour's windows and the newest checkouts.
 * `time` is the processing time and the job's watermark (default: the wall clock, no watermark).
 *
 * @example
 * const s = await querySummary(db, { schema: 'flowmark' }, { nowMs: Date.now(), watermarkMs });
 * // { from: '2026-03-01T09:01:00.000Z', to: '2026-03-01T10:01:00.000Z', checkouts: 812,
 * //   revenue: 40321.5, profit: 4210.33, perMinute: [60 points], inProgress: [1 point], bySource: [...], ... }
 */
export async function querySummary(
  db: SummaryDb,
  options: SummaryOptions = {},
  time: SummaryTime = { nowMs: Date.now(), watermarkMs: null },
): Promise<Summary> {
  const s = quoteIdent(checkSchemaName(options.schema ?? 'flowmark'));
  const minutes = options.minutes ?? 60;
  const top = { ...DEFAULT_TOP, ...options.top };
  // Event time beyond this is not real data yet (a producer's clock in the future, a typo'd year).
  const latestRealMs = time.nowMs + (options.maxFutureSkewMs ?? HOUR_MS);
  // A window is closed once the watermark has passed its end: one ending beyond the watermark (or
  // the future bound) in the table is not this job's real data.
  const horizonMs = Math.min(latestRealMs, time.watermarkMs ?? Number.POSITIVE_INFINITY);

  const latest = await queryLatest(db, s, options.latest ?? 12, latestRealMs);
  const newest = await db.query<{ newest_ms: number | null }>(
    `SELECT (extract(epoch FROM max(window_start)) * 1000)::float8 AS newest_ms FROM ${s}.analytics_minute
      WHERE window_start <= $1::timestamptz`,
    [isoOrBound(horizonMs - MINUTE_MS)],
  );
  const newestMs = newest.rows[0]?.newest_ms ?? null;
  const toMs = newestMs === null ? null : newestMs + MINUTE_MS;
  const inProgress = await queryInProgress(db, s, toMs, latestRealMs, options.inProgressMinutes ?? 3);
  if (toMs === null) {
    return {
      from: null,
      to: null,
      checkouts: 0,
      revenue: 0,
      profit: 0,
      failedPayments: 0,
      perMinute: [],
      bySource: [],
      byCategory: [],
      failedByReason: [],
      byGender: [],
      inProgress,
      latestCheckouts: latest,
    };
  }
  const fromMs = toMs - minutes * MINUTE_MS;
  const range = [new Date(fromMs).toISOString(), new Date(toMs).toISOString()];

  const groups = await db.query<GroupRow>(
    `SELECT dimension, value, sum(checkouts)::float8 AS checkouts, sum(revenue)::float8 AS revenue,
            sum(profit)::float8 AS profit
       FROM ${s}.analytics_minute
      WHERE window_start >= $1::timestamptz AND window_start < $2::timestamptz
      GROUP BY dimension, value`,
    range,
  );
  const series = await db.query<MinuteRow>(
    `SELECT (extract(epoch FROM window_start) * 1000)::float8 AS window_ms, sum(checkouts)::float8 AS checkouts,
            sum(revenue)::float8 AS revenue, sum(profit)::float8 AS profit
       FROM ${s}.analytics_minute
      WHERE dimension = 'total' AND window_start >= $1::timestamptz AND window_start < $2::timestamptz
      GROUP BY window_start`,
    range,
  );

  const byDimension = new Map<string, BreakdownEntry[]>();
  for (const r of groups.rows) {
    const list = byDimension.get(r.dimension) ?? [];
    list.push({ value: r.value, checkouts: r.checkouts, revenue: cents(r.revenue), profit: cents(r.profit) });
    byDimension.set(r.dimension, list);
  }
  const total = byDimension.get('total')?.[0] ?? { checkouts: 0, revenue: 0, profit: 0 };
  const failedByReason = byDimension.get('failed_reason') ?? [];

  return {
    from: range[0] as string,
    to: range[1] as string,
    checkouts: total.checkouts,
    revenue: total.revenue,
    profit: total.profit,
    failedPayments: failedByReason.reduce((n, e) => n + e.checkouts, 0),
    perMinute: everyMinute(fromMs, toMs, series.rows),
    bySource: topN(byDimension.get('source') ?? [], top.source, 'revenue'),
    byCategory: topN(byDimension.get('category') ?? [], top.category, 'revenue'),
    failedByReason: topN(failedByReason, top.failed_reason, 'checkouts'),
    byGender: topN(byDimension.get('gender') ?? [], top.gender, 'checkouts'),
    inProgress,
    latestCheckouts: latest,
  };
}

/** A bound as a timestamptz parameter: PostgreSQL's `infinity` beyond what a Date can say. */
function isoOrBound(ms: number): string {
  if (ms >= 8.64e15) return 'infinity';
  if (ms <= -8.64e15) return '-infinity';
  return new Date(ms).toISOString();
}

/** Every minute of `[fromMs, toMs)`, with zeros where no row exists (no checkout that minute). */
function everyMinute(fromMs: number, toMs: number, rows: readonly MinuteRow[]): MinutePoint[] {
  const byMinute = new Map(rows.map((r) => [r.window_ms, r]));
  const points: MinutePoint[] = [];
  for (let m = fromMs; m < toMs; m += MINUTE_MS) {
    const r = byMinute.get(m);
    points.push({
      minute: new Date(m).toISOString(),
      checkouts: r?.checkouts ?? 0,
      revenue: cents(r?.revenue ?? 0),
      profit: cents(r?.profit ?? 0),
    });
  }
  return points;
}

/**
 * The minutes from `toMs` (the end of the closed hour; null: none closed) to the minute of the
 * newest real checkout, at most `most`, counted from `attributed_checkouts` as the analytics
 * windows count final rows (every checkout; revenue and profit 0 when unknown).
 */
async function queryInProgress(
  db: SummaryDb,
  s: string,
  toMs: number | null,
  latestRealMs: number,
  most: number,
): Promise<MinutePoint[]> {
  if (most <= 0) return [];
  // Both ends of the index on checkout_time: two short index scans.
  const bounds = await db.query<{ oldest_ms: number | null; newest_ms: number | null }>(
    `SELECT (extract(epoch FROM min(checkout_time)) * 1000)::float8 AS oldest_ms,
            (extract(epoch FROM max(checkout_time)) * 1000)::float8 AS newest_ms
       FROM ${s}.attributed_checkouts WHERE checkout_time <= $1::timestamptz`,
    [isoOrBound(latestRealMs)],
  );
  const { oldest_ms: oldestMs, newest_ms: newestMs } = bounds.rows[0] ?? { oldest_ms: null, newest_ms: null };
  if (newestMs === null || oldestMs === null) return [];
  const endMs = Math.floor(newestMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  // Before any window has closed, from the first checkout's minute (no zeros before the data).
  const firstMs = toMs ?? Math.floor(oldestMs / MINUTE_MS) * MINUTE_MS;
  const startMs = Math.max(firstMs, endMs - most * MINUTE_MS);
  if (startMs >= endMs) return [];
  // Minutes by arithmetic on the epoch, not date_trunc (which truncates in the session's zone).
  const { rows } = await db.query<MinuteRow>(
    `SELECT (floor(extract(epoch FROM checkout_time) / 60) * 60000)::float8 AS window_ms, count(*)::float8 AS checkouts,
            coalesce(sum(revenue), 0)::float8 AS revenue, coalesce(sum(profit), 0)::float8 AS profit
       FROM ${s}.attributed_checkouts
      WHERE checkout_time >= $1::timestamptz AND checkout_time < $2::timestamptz
      GROUP BY 1`,
    [new Date(startMs).toISOString(), new Date(endMs).toISOString()],
  );
  return everyMinute(startMs, endMs, rows);
}

async function queryLatest(db: SummaryDb, s: string, limit: number, latestRealMs: number): Promise<LatestCheckout[]> {
  // The index on checkout_time makes this a short backward index scan.
  const { rows } = await db.query<CheckoutRow>(
    `SELECT checkout_id, (extract(epoch FROM checkout_time) * 1000)::float8 AS checkout_ms, user_name, user_gender,
            product_name, product_category, click_source, order_value::float8 AS order_value,
            revenue::float8 AS revenue, profit::float8 AS profit, payment_status, payment_description, is_final
       FROM ${s}.attributed_checkouts
      WHERE checkout_time <= $2::timestamptz
      ORDER BY checkout_time DESC, checkout_id DESC
      LIMIT $1`,
    [limit, isoOrBound(latestRealMs)],
  );
  return rows.map((r) => ({
    checkoutId: r.checkout_id,
    checkoutTime: new Date(r.checkout_ms).toISOString(),
    userName: r.user_name,
    userGender: r.user_gender,
    productName: r.product_name,
    category: r.product_category,
    source: r.click_source,
    orderValue: r.order_value,
    revenue: r.revenue,
    profit: r.profit,
    paymentStatus: r.payment_status,
    paymentDescription: r.payment_description,
    isFinal: r.is_final,
  }));
}
