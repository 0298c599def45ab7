/**
 * The attribution pipeline, top to bottom. Every step has an id (the dashboard draws the graph
 * from them); every side output ends in `dead_letters`, so nothing is lost:
 *
 *   clicks ─┐ (parse; bad lines → dead_letters)
 *           ├─ union ─ keyBy(user[, product]) ─ attribute ─ enrich-user ─ enrich-product ─ rows
 *   checkouts ─ dedupe (duplicates → dead_letters)                                       │
 *               (late events → dead_letters)          attributed_checkouts ◄─────────────┤
 *                                                     attribution_credits ◄──────────────┤
 *                                   analytics_minute ◄─ 1-minute windows ◄─ final rows ──┘
 *
 * At the door (the sources' decode): a line that is not a valid event, or holds a value the
 * outputs cannot store, or is dated more than max_future_skew ahead of processing time, is a
 * dead letter and never moves a watermark. Dimension rows are checked as they are looked up: an
 * unstorable value is null in the output and one dead letter names the row; an order value
 * beyond numeric(14,2) is null, with a dead letter naming the checkout.
 */
import {
  type Clock,
  type InvalidRecord,
  type LookupFn,
  Pipeline,
  Rejected,
  type SourceReader,
  type Stream,
  type TimeTableDeclaration,
  type TimeTableState,
  tumbling,
} from '../engine/index.ts';
import {
  ALL_SHARDS,
  ANALYTICS_WINDOW_MS,
  analyticsAggregate,
  analyticsFacts,
  analyticsRow,
  factKey,
} from './analytics.ts';
import { type AttributionInput, attributionFunction, attributionKey } from './attribution-function.ts';
import type { AttributionOptions } from './attribution-options.ts';
import {
  type CheckedRow,
  checkedLookup,
  checkProductRow,
  checkUserRow,
  type DimensionProblem,
} from './dimensions/dimension-checks.ts';
import type { Checkout, ProductRow, UserRow } from './event-types.ts';
import { parseCheckout, parseClick, parseEvent } from './events/index.ts';
import { orderValueProblem } from './money.ts';
import { attributedRow, creditRows, deadLetter, type EnrichedResult } from './output-rows.ts';
import { REFERENCE_ROW, REFERENCE_SINK, type ReferenceTableKind } from './reference-tables.ts';

/** The sink ids, which are also the table names. */
export const SINK = {
  attributed: 'attributed_checkouts',
  credits: 'attribution_credits',
  deadLetters: 'dead_letters',
  analytics: 'analytics_minute',
} as const;

/** Either one source of mixed lines (replay `--events`), or a click and a checkout source. */
export type AttributionSources =
  | { events: SourceReader<string> }
  | { clicks: SourceReader<string>; checkouts: SourceReader<string> };

export interface Dimensions {
  users: LookupFn<UserRow>;
  products: LookupFn<ProductRow>;
  /** Processing-time freshness of cached dimension rows. */
  cacheTtlMs?: number;
  /** Most rows kept in each look-up's cache. */
  cacheEntries?: number;
}

/**
 * When the input is split by partition among jobs (Kafka workers), the partition this job reads
 * and where a producer keyed by user id puts a user: an event found elsewhere would be attributed
 * without the clicks or checkouts of its user, so it becomes a dead letter (`misplaced`) instead.
 */
export interface Placement {
  partition: number;
  partitionOf(userId: string): number;
}

/**
 * @param shard names this job in `analytics_minute.shard` when several jobs split the input by
 *   partition (Kafka workers: `p<N>`); default {@link ALL_SHARDS}.
 * @param references the reference deployments' tables to write too, each to the sink
 *   {@link REFERENCE_SINK}[kind] (reference-tables.ts); none by default.
 */
export function buildAttributionPipeline(
  sources: AttributionSources,
  dims: Dimensions,
  o: AttributionOptions,
  clock: Clock,
  shard: string = ALL_SHARDS,
  placement?: Placement,
  references: readonly ReferenceTableKind[] = [],
): Pipeline {
  const p = new Pipeline();
  const watermarks = { maxOutOfOrdernessMs: o.maxOutOfOrdernessMs, idleTimeoutMs: o.idleTimeoutMs };
  const deadLetters: Stream<ReturnType<typeof deadLetter>>[] = [];
  const invalidToDeadLetter = (id: string, s: Stream<InvalidRecord<string>>) =>
    deadLetters.push(s.map(id, (r) => deadLetter(r.source, r.reason, r.raw, r.detail, clock.nowMs())));

  // §3.2: an event dated more than max_future_skew ahead of processing time is refused here,
  // before its source sees its time, so that one bad clock cannot make every later event late.
  const skewMs = o.maxFutureSkewMs;
  const checksFuture = Number.isFinite(skewMs);
  const notAhead = <T>(value: T, eventTimeMs: number, kind: string): T | Rejected => {
    if (!checksFuture) return value;
    const nowMs = clock.nowMs();
    return eventTimeMs - nowMs > skewMs ? futureEventTime(kind, eventTimeMs, nowMs, skewMs) : value;
  };

  let checkouts: Stream<Checkout>;
  let clicks: Stream<AttributionInput>;
  if ('events' in sources) {
    const { out, invalid } = p.source<string, AttributionInput>('events', {
      reader: sources.events,
      decode: (raw) => {
        const e = parseEvent(raw);
        if (!('type' in e)) return e;
        return e.type === 'click'
          ? notAhead<AttributionInput>({ kind: 'click', click: e.click }, e.click.eventTimeMs, 'click')
          : notAhead<AttributionInput>({ kind: 'checkout', checkout: e.checkout }, e.checkout.eventTimeMs, 'checkout');
      },
      eventTimeMs: (e) => (e.kind === 'click' ? e.click.eventTimeMs : e.checkout.eventTimeMs),
      ...watermarks,
    });
    invalidToDeadLetter('events-invalid', invalid);
    clicks = out.filter('clicks', (e): boolean => e.kind === 'click');
    checkouts = out.flatMap('checkouts', (e) => (e.kind === 'checkout' ? [e.checkout] : []));
  } else {
    const c = p.source<string, AttributionInput>('clicks', {
      reader: sources.clicks,
      decode: (raw) => {
        const k = parseClick(raw);
        return 'clickId' in k ? notAhead<AttributionInput>({ kind: 'click', click: k }, k.eventTimeMs, 'click') : k;
      },
      eventTimeMs: (e) => (e.kind === 'click' ? e.click.eventTimeMs : Number.NaN),
      ...watermarks,
    });
    const k = p.source<string, Checkout>('checkouts', {
      reader: sources.checkouts,
      decode: (raw) => {
        const c = parseCheckout(raw);
        return 'checkoutId' in c ? notAhead(c, c.eventTimeMs, 'checkout') : c;
      },
      eventTimeMs: (e) => e.eventTimeMs,
      ...watermarks,
    });
    invalidToDeadLetter('clicks-invalid', c.invalid);
    invalidToDeadLetter('checkouts-invalid', k.invalid);
    clicks = c.out;
    checkouts = k.out;
    if (placement !== undefined) {
      const here = (userId: string) => placement.partitionOf(userId) === placement.partition;
      const misplaced = (kind: string, userId: string, raw: string) =>
        deadLetter(
          `${kind}s`,
          'misplaced',
          raw,
          `${kind} of user ${userId} arrived in partition ${placement.partition}, but a producer keyed by user_id puts that user in partition ${placement.partitionOf(userId)}: it cannot meet the user's other events here (key the topic by user_id)`,
          clock.nowMs(),
        );
      const clickOf = (e: AttributionInput) => (e.kind === 'click' ? e.click : undefined);
      deadLetters.push(
        clicks.flatMap('clicks-misplaced', (e) => {
          const k = clickOf(e);
          return k === undefined || here(k.userId) ? [] : [misplaced('click', k.userId, k.raw)];
        }),
        checkouts
          .filter('checkouts-misplaced', (c) => !here(c.userId))
          .map('checkouts-misplaced-dead', (c) => misplaced('checkout', c.userId, c.raw)),
      );
      clicks = clicks.filter('clicks-placed', (e) => e.kind !== 'click' || here(e.click.userId));
      checkouts = checkouts.filter('checkouts-placed', (c) => here(c.userId));
    }
  }

  // A checkout id seen again is a duplicate delivery: the first on-time arrival wins (§3.3).
  const dedupe = checkouts
    .keyBy((c) => c.checkoutId)
    .process<Delivery, { seen: IdsSeen }>('dedupe', {
      state: (s) => ({ seen: s.timeTable(seenFor('seen', o.dedupeWindowMs)) }),
      onElement: (c, ctx, st) => {
        ctx.emit({ checkout: c, duplicate: !markSeen(st.seen, ctx.eventTimeMs) });
      },
    });
  deadLetters.push(
    dedupe.late.map('dedupe-late', (c) =>
      deadLetter('checkouts', 'late', c.raw, lateDetail('checkout', c.eventTimeMs), clock.nowMs()),
    ),
    dedupe.out
      .filter('duplicates', (d) => d.duplicate)
      .map('duplicates-dead', (d) =>
        deadLetter(
          'checkouts',
          'duplicate',
          d.checkout.raw,
          `checkout_id ${d.checkout.checkoutId} was already received`,
          clock.nowMs(),
        ),
      ),
  );
  const unique = dedupe.out.flatMap('unique', (d): AttributionInput[] =>
    d.duplicate ? [] : [{ kind: 'checkout', checkout: d.checkout }],
  );

  // A click without a product can match only with scope: user (§3.3).
  const attributable =
    o.scope === 'user'
      ? clicks
      : clicks.filter('clicks-with-product', (e) => e.kind !== 'click' || e.click.productId !== null);
  const attribution = attributable
    .union('clicks-and-checkouts', unique)
    .keyBy((e) =>
      e.kind === 'click'
        ? attributionKey(e.click.userId, e.click.productId, o.scope)
        : attributionKey(e.checkout.userId, e.checkout.productId, o.scope),
    )
    .process('attribute', attributionFunction(o));
  deadLetters.push(
    attribution.late.map('attribute-late', (e) =>
      e.kind === 'click'
        ? deadLetter('clicks', 'late', e.click.raw, lateDetail('click', e.click.eventTimeMs), clock.nowMs())
        : deadLetter(
            'checkouts',
            'late',
            e.checkout.raw,
            lateDetail('checkout', e.checkout.eventTimeMs),
            clock.nowMs(),
          ),
    ),
  );

  const lookupOptions = {
    ...(dims.cacheTtlMs === undefined ? {} : { cacheTtlMs: dims.cacheTtlMs }),
    ...(dims.cacheEntries === undefined ? {} : { cacheEntries: dims.cacheEntries }),
  };
  // Rows are checked as they are looked up: unstorable values are null, and their problems ride
  // along to become dead letters (once per row and field, below).
  const enriched = attribution.out
    .lookupJoin('enrich-user', {
      key: (r) => r.checkout.userId,
      lookup: checkedLookup(dims.users, checkUserRow),
      join: (result, user: CheckedRow<UserRow> | undefined): Enriched => ({
        result,
        user: user?.row,
        product: undefined,
        problems: user?.problems ?? NO_PROBLEMS,
      }),
      ...lookupOptions,
    })
    .lookupJoin('enrich-product', {
      key: (e) => e.result.checkout.productId,
      lookup: checkedLookup(dims.products, checkProductRow),
      join: (e, product: CheckedRow<ProductRow> | undefined): Enriched => ({
        ...e,
        product: product?.row,
        problems:
          product === undefined || product.problems.length === 0 ? e.problems : [...e.problems, ...product.problems],
      }),
      ...lookupOptions,
    });

  // A dimension row's problem is reported by the first final checkout that used it, then not
  // again for dedupe_window of event time (a product bought a million times is one dead letter).
  const rowProblems = enriched
    .flatMap('dimension-problems', (e): FoundProblem[] =>
      e.result.isFinal && e.problems.length > 0
        ? e.problems.map((problem) => ({ problem, checkoutId: e.result.checkout.checkoutId }))
        : [],
    )
    .keyBy((f) => `${f.problem.table}\u0000${f.problem.key}\u0000${f.problem.field}`)
    .process<FoundProblem, { reported: IdsSeen }>('dimension-problems-once', {
      state: (s) => ({ reported: s.timeTable(seenFor('reported', o.dedupeWindowMs)) }),
      onElement: (f, ctx, st) => {
        if (markSeen(st.reported, ctx.eventTimeMs)) ctx.emit(f);
      },
    });
  const problemDeadLetter = (f: FoundProblem) =>
    deadLetter(
      f.problem.table,
      'invalid_field',
      f.problem.raw,
      `${f.problem.detail} (first used by checkout ${JSON.stringify(f.checkoutId)})`,
      clock.nowMs(),
    );
  deadLetters.push(
    rowProblems.out.map('dimension-problems-dead', problemDeadLetter),
    // Emitted before the watermark passes their checkout, so never late; kept so none could vanish.
    rowProblems.late.map('dimension-problems-late', problemDeadLetter),
    enriched.flatMap('order-value-out-of-range', (e) => {
      if (!e.result.isFinal) return [];
      const why = orderValueProblem(e.result.checkout, e.product);
      if (why === undefined) return [];
      // The dead letter carries the values the order value was computed from, the product's
      // price included (which the checkout's line does not have).
      const c = e.result.checkout;
      const raw = JSON.stringify({
        checkout_id: c.checkoutId,
        user_id: c.userId,
        product_id: c.productId,
        event_time: new Date(c.eventTimeMs).toISOString(),
        quantity: c.quantity,
        discount: c.discount,
        price: e.product?.price,
      });
      return [deadLetter('checkouts', 'invalid_field', raw, why, clock.nowMs())];
    }),
  );

  const rows = enriched.map('rows', (e) => attributedRow(e, o.model));
  rows.sink(SINK.attributed);
  // The same rows, in the reference pipelines' own tables (drop-in): the same checkpoints write them.
  for (const kind of references) rows.map(`${kind}-reference-rows`, REFERENCE_ROW[kind]).sink(REFERENCE_SINK[kind]);
  enriched.flatMap('credits', (e) => creditRows(e.result, o.model)).sink(SINK.credits);

  const { out: minutes, late: lateFacts } = rows
    .filter('final-rows', (r) => r.is_final)
    .flatMap('facts', analyticsFacts)
    .keyBy(factKey)
    .window('analytics-minute', tumbling(ANALYTICS_WINDOW_MS), analyticsAggregate);
  minutes.map('analytics-rows', (w) => analyticsRow(w, shard)).sink(SINK.analytics);
  // Final rows carry their checkout's time, which the watermark has not passed when they are
  // emitted, so no fact is ever late here; the sink is kept so that one would not vanish.
  deadLetters.push(
    lateFacts.map('analytics-late', (f) =>
      deadLetter('analytics', 'late', JSON.stringify(f), 'analytics fact behind the watermark', clock.nowMs()),
    ),
  );

  const [first, ...rest] = deadLetters as [
    Stream<ReturnType<typeof deadLetter>>,
    ...Stream<ReturnType<typeof deadLetter>>[],
  ];
  p.union('dead-letters', first, ...rest).sink(SINK.deadLetters);
  return p;
}

interface Delivery {
  checkout: Checkout;
  duplicate: boolean;
}

/** An enriched result and the problems of the dimension rows it was enriched with. */
interface Enriched extends EnrichedResult {
  problems: readonly DimensionProblem[];
}

interface FoundProblem {
  problem: DimensionProblem;
  checkoutId: string;
}

const NO_PROBLEMS: readonly DimensionProblem[] = [];

/**
 * `click at 2099-01-01T00:00:00.000Z is 26 689 days ahead of processing time (…), more than
 * max_future_skew 1h: …`.
 */
function futureEventTime(kind: string, eventTimeMs: number, nowMs: number, skewMs: number): Rejected {
  return new Rejected(
    'future_event_time',
    `${kind} at ${new Date(eventTimeMs).toISOString()} is ${durationText(eventTimeMs - nowMs)} ahead of processing time ` +
      `(${new Date(nowMs).toISOString()}), more than max_future_skew ${durationText(skewMs)}: a clock that is wrong, or a ` +
      `mistyped date; it is not processed and does not move the watermark (a replay of data dated in the future: ` +
      `--max-future-skew off)`,
  );
}

/** A duration for a person: `26 689 days`, `3 h`, `90 min`, `42 s`, `250 ms`. */
function durationText(ms: number): string {
  const units: Array<[number, string]> = [
    [86_400_000, 'days'],
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ];
  for (const [size, name] of units) {
    if (ms >= 2 * size || (ms >= size && ms % size === 0)) return `${Math.floor(ms / size)} ${name}`;
  }
  return `${Math.round(ms)} ms`;
}

function lateDetail(kind: string, eventTimeMs: number): string {
  return `${kind} at ${new Date(eventTimeMs).toISOString()} arrived after the watermark had passed it (more than max_out_of_orderness behind the latest event)`;
}

/** A set of ids (the key) seen in the last window of event time: a time-bucketed table with no columns. */
type IdsSeen = TimeTableState<Record<string, never>>;

/**
 * The declaration of an {@link IdsSeen} set: an id is remembered for `windowMs` after its latest
 * delivery. Releases before time-bucketed state kept `true` under the same name, expiring at
 * (latest delivery + window).
 */
function seenFor(name: string, windowMs: number): TimeTableDeclaration<Record<string, never>> {
  return {
    name,
    retentionMs: windowMs,
    columns: {},
    legacy: (_value, expiresAtMs) => (expiresAtMs === undefined ? [] : [[expiresAtMs - windowMs, {}]]),
  };
}

/**
 * Marks the current key seen at `timeMs`; true when it was not seen yet. A later delivery moves
 * the remembering on (as a time-to-live refreshed by each write), an earlier one adds nothing.
 */
function markSeen(seen: IdsSeen, timeMs: number): boolean {
  const latest = seen.last(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY);
  if (latest < 0 || seen.timeOf(latest) < timeMs) seen.insert(timeMs, {});
  return latest < 0;
}
