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
 */
import {
  type Clock,
  type InvalidRecord,
  type LookupFn,
  Pipeline,
  type SourceReader,
  type Stream,
  tumbling,
  type ValueState,
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
import type { Checkout, ProductRow, UserRow } from './event-types.ts';
import { parseCheckout, parseClick, parseEvent } from './events/index.ts';
import { attributedRow, creditRows, deadLetter, type EnrichedResult } from './output-rows.ts';

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
 */
export function buildAttributionPipeline(
  sources: AttributionSources,
  dims: Dimensions,
  o: AttributionOptions,
  clock: Clock,
  shard: string = ALL_SHARDS,
  placement?: Placement,
): Pipeline {
  const p = new Pipeline();
  const watermarks = { maxOutOfOrdernessMs: o.maxOutOfOrdernessMs, idleTimeoutMs: o.idleTimeoutMs };
  const deadLetters: Stream<ReturnType<typeof deadLetter>>[] = [];
  const invalidToDeadLetter = (id: string, s: Stream<InvalidRecord<string>>) =>
    deadLetters.push(s.map(id, (r) => deadLetter(r.source, r.reason, r.raw, r.detail, clock.nowMs())));

  let checkouts: Stream<Checkout>;
  let clicks: Stream<AttributionInput>;
  if ('events' in sources) {
    const { out, invalid } = p.source<string, AttributionInput>('events', {
      reader: sources.events,
      decode: (raw) => {
        const e = parseEvent(raw);
        if (!('type' in e)) return e;
        return e.type === 'click' ? { kind: 'click', click: e.click } : { kind: 'checkout', checkout: e.checkout };
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
        return 'clickId' in k ? { kind: 'click', click: k } : k;
      },
      eventTimeMs: (e) => (e.kind === 'click' ? e.click.eventTimeMs : Number.NaN),
      ...watermarks,
    });
    const k = p.source<string, Checkout>('checkouts', {
      reader: sources.checkouts,
      decode: parseCheckout,
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
    .process<Delivery, { seen: ValueState<boolean> }>('dedupe', {
      state: (s) => ({ seen: s.value<boolean>('seen', { ttlMs: o.dedupeWindowMs }) }),
      onElement: (c, ctx, st) => {
        ctx.emit({ checkout: c, duplicate: st.seen.get() === true });
        st.seen.set(true);
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
  const enriched = attribution.out
    .lookupJoin('enrich-user', {
      key: (r) => r.checkout.userId,
      lookup: dims.users,
      join: (result, user): EnrichedResult => ({ result, user, product: undefined }),
      ...lookupOptions,
    })
    .lookupJoin('enrich-product', {
      key: (e) => e.result.checkout.productId,
      lookup: dims.products,
      join: (e, product): EnrichedResult => ({ ...e, product }),
      ...lookupOptions,
    });

  const rows = enriched.map('rows', (e) => attributedRow(e, o.model));
  rows.sink(SINK.attributed);
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

function lateDetail(kind: string, eventTimeMs: number): string {
  return `${kind} at ${new Date(eventTimeMs).toISOString()} arrived after the watermark had passed it (more than max_out_of_orderness behind the latest event)`;
}
