import { DEFAULT_MAX_OUT_OF_ORDERNESS_MS, FlowmarkError } from '../engine/index.ts';
import { type LookbackBySource, lookbackProblem } from './lookback-windows.ts';

export const ATTRIBUTION_MODELS = ['first_click', 'last_click', 'linear', 'time_decay', 'position_based'] as const;
export type AttributionModel = (typeof ATTRIBUTION_MODELS)[number];

/** Options of the attribution pipeline (ARCHITECTURE §3.3). */
export interface AttributionOptions {
  model: AttributionModel;
  /** `product`: clicks match on (user, product); `user`: any click of the user counts. */
  scope: 'product' | 'user';
  /**
   * How far back a click may be from its checkout (inclusive), for every source not in
   * `lookbackBySource`. Default 1 h; at most 90 days (MAX_LOOKBACK_MS).
   */
  lookbackMs: number;
  /**
   * A source's own lookback (`{ email: 30 d, direct: 1 d }`): a click counts only within its own
   * source's window (lookback-windows.ts). Keys are lower-cased sources. Default: none.
   */
  lookbackBySource: LookbackBySource;
  /** time_decay: credit halves every halfLifeMs between click and checkout. Default 15 min. */
  halfLifeMs: number;
  /** position_based: weights of the first and the last click (the rest share what is left). */
  firstWeight: number;
  lastWeight: number;
  /** Sources never credited (e.g. `direct`), compared lower-case. */
  excludedSources: readonly string[];
  /** Emit a provisional row when a checkout arrives, then the final one (live mode). */
  provisional: boolean;
  /** How long a checkout id is remembered to drop duplicate deliveries (event time). Default 24 h. */
  dedupeWindowMs: number;
  maxOutOfOrdernessMs: number;
  idleTimeoutMs: number;
  /**
   * An event whose time is more than this ahead of processing time (the pipeline's clock) is a
   * dead letter `future_event_time` and never moves a watermark (ARCHITECTURE §3.2). Default 1 h;
   * `Infinity` turns the check off (a replay of data dated in the future, when asked).
   */
  maxFutureSkewMs: number;
}

export const DEFAULT_ATTRIBUTION_OPTIONS: AttributionOptions = {
  model: 'first_click',
  scope: 'product',
  lookbackMs: 3_600_000,
  lookbackBySource: {},
  halfLifeMs: 900_000,
  firstWeight: 0.4,
  lastWeight: 0.4,
  excludedSources: [],
  provisional: false,
  dedupeWindowMs: 86_400_000,
  maxOutOfOrdernessMs: DEFAULT_MAX_OUT_OF_ORDERNESS_MS,
  idleTimeoutMs: 30_000,
  maxFutureSkewMs: 3_600_000,
};

/** Fills defaults and checks every option, naming the bad one. */
export function attributionOptions(partial: Partial<AttributionOptions> = {}): AttributionOptions {
  const o = { ...DEFAULT_ATTRIBUTION_OPTIONS, ...partial };
  const bad = (key: string, why: string): never => {
    throw new FlowmarkError('FM_CONFIG_INVALID', `attribution option ${key}: ${why}`);
  };
  if (!ATTRIBUTION_MODELS.includes(o.model))
    bad('model', `"${o.model}" is not one of ${ATTRIBUTION_MODELS.join(', ')}`);
  if (o.scope !== 'product' && o.scope !== 'user') bad('scope', `"${o.scope}" must be product or user`);
  const lookbackWhy = lookbackProblem(o.lookbackMs);
  if (lookbackWhy !== undefined) bad('lookbackMs', lookbackWhy);
  const bySource = Object.fromEntries(
    Object.entries(o.lookbackBySource).map(([source, ms]) => {
      const why = lookbackProblem(ms);
      if (why !== undefined) bad(`lookbackBySource.${source}`, why);
      return [source.trim().toLowerCase(), ms];
    }),
  );
  for (const key of ['halfLifeMs', 'dedupeWindowMs', 'maxOutOfOrdernessMs', 'idleTimeoutMs'] as const) {
    if (!Number.isFinite(o[key]) || o[key] < 0) bad(key, `must be a duration ≥ 0, got ${o[key]}`);
  }
  if (!(o.maxFutureSkewMs >= 0))
    bad('maxFutureSkewMs', `must be a duration ≥ 0 (Infinity: off), got ${o.maxFutureSkewMs}`);
  if (o.halfLifeMs === 0) bad('halfLifeMs', 'must be > 0');
  for (const key of ['firstWeight', 'lastWeight'] as const) {
    if (!(o[key] >= 0 && o[key] <= 1)) bad(key, `must be in [0, 1], got ${o[key]}`);
  }
  if (o.firstWeight + o.lastWeight > 1)
    bad('firstWeight + lastWeight', `must be ≤ 1, got ${o.firstWeight + o.lastWeight}`);
  return { ...o, lookbackBySource: bySource, excludedSources: o.excludedSources.map((s) => s.toLowerCase()) };
}
