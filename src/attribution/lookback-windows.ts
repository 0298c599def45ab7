/**
 * The lookback of a click, per click source (ARCHITECTURE §3.3, docs/semantics.md): a click of
 * source s counts for a checkout at t_c iff t_c − lookback(s) ≤ t_k ≤ t_c, both ends inclusive,
 * where lookback(s) is `lookbackBySource[s]` when configured and the default `lookback` for every
 * other source (and for a click with no source). The one place that decides a click's window.
 */
import { FlowmarkError, parseDurationMs } from '../engine/index.ts';

const DAY_MS = 86_400_000;

/**
 * The longest lookback accepted: 90 days, the longest window of the analytics products (GA4,
 * Adobe). Clicks are held for the longest configured lookback, so the bound is also a bound on
 * state (docs/attribution.md, "What a long lookback costs").
 */
export const MAX_LOOKBACK_MS = 90 * DAY_MS;

/** Source (trimmed, lower-cased, as clicks carry it) → lookback in ms. */
export type LookbackBySource = Readonly<Record<string, number>>;

/** Why `ms` is not a lookback, or undefined when it is one: > 0 and ≤ 90 days. */
export function lookbackProblem(ms: number): string | undefined {
  if (!Number.isFinite(ms) || ms <= 0) return `must be a duration > 0 (such as 1h, 7d or 30d), got ${ms} ms`;
  if (ms > MAX_LOOKBACK_MS) return `must be at most 90d (${MAX_LOOKBACK_MS} ms), got ${ms} ms (${ms / DAY_MS} days)`;
  return undefined;
}

/**
 * Reads per-source lookbacks from a YAML map (`{ email: 30d, google_ads: 7d }`) or its text form
 * (`email=30d,google_ads=7d`, for a flag or an environment variable). Source names are trimmed and
 * lower-cased, as clicks' sources are. Throws FM_CONFIG_INVALID naming `key` and the bad entry.
 *
 * @example
 * parseLookbackBySource('Email=30d, google_ads=7d', '--lookback-by-source')
 * // { email: 2592000000, google_ads: 604800000 }
 */
export function parseLookbackBySource(raw: unknown, key: string): Record<string, number> {
  const bad = (why: string): never => {
    throw new FlowmarkError('FM_CONFIG_INVALID', `${key} ${why}`);
  };
  const form =
    'a map of source → duration (email: 30d), or source=duration pairs separated by commas (email=30d,direct=1d)';
  let entries: Array<[string, unknown]>;
  if (raw === null || raw === undefined) return {};
  if (typeof raw === 'string') {
    entries = [];
    for (const part of raw.split(',')) {
      if (part.trim() === '') continue;
      const eq = part.indexOf('=');
      if (eq < 0) bad(`must be ${form}: entry "${part.trim()}" has no "="`);
      entries.push([part.slice(0, eq), part.slice(eq + 1).trim()]);
    }
  } else if (typeof raw === 'object' && !Array.isArray(raw)) {
    entries = Object.entries(raw as Record<string, unknown>);
  } else {
    return bad(`must be ${form}, got ${JSON.stringify(raw)}`);
  }
  // A Map, not an object: a source may be named anything, `__proto__` included.
  const out = new Map<string, number>();
  for (const [name, value] of entries) {
    const source = name.trim().toLowerCase();
    if (source === '') bad(`has an entry with no source name (${JSON.stringify(name)}: ${JSON.stringify(value)})`);
    const ms = typeof value === 'string' || typeof value === 'number' ? parseDurationMs(value) : undefined;
    if (ms === undefined) bad(`entry ${source}: ${JSON.stringify(value)} is not a duration (such as 1d, 7d or 30d)`);
    const why = lookbackProblem(ms as number);
    if (why !== undefined) bad(`entry ${source}: ${why}`);
    if (out.has(source)) bad(`names source ${source} twice (source names are compared lower-case)`);
    out.set(source, ms as number);
  }
  return Object.fromEntries(out);
}

/** The windows of one configuration: what the attribution step, its tests and docs agree on. */
export interface LookbackWindows {
  /** The lookback of a click of `source` (null: no source → the default). */
  of(source: string | null): number;
  /** The longest lookback: how long a click is held, and how far back a checkout looks at most. */
  readonly maxMs: number;
  /** Some source has its own window: candidates need a per-click check, not a time range alone. */
  readonly perSource: boolean;
}

/**
 * @example
 * const w = lookbackWindows(3_600_000, { email: 30 * 86_400_000 });
 * w.of('email') // 2592000000
 * w.of('google_ads') // 3600000
 * w.maxMs // 2592000000
 */
export function lookbackWindows(lookbackMs: number, bySource: LookbackBySource): LookbackWindows {
  const table = new Map(Object.entries(bySource));
  let maxMs = lookbackMs;
  for (const ms of table.values()) maxMs = Math.max(maxMs, ms);
  // A source whose window equals the default needs no per-click check.
  const perSource = [...table.values()].some((ms) => ms !== lookbackMs);
  return {
    of: (source) => (source === null ? lookbackMs : (table.get(source) ?? lookbackMs)),
    maxMs,
    perSource,
  };
}
