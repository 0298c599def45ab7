/**
 * Event time and processing time.
 *
 * Event time is milliseconds since the epoch, as carried by the records. Watermarks are event
 * times too, with two extra values: `MIN_WATERMARK` (−∞, nothing seen yet) and `MAX_WATERMARK`
 * (+∞, the input has ended). A record is late iff its event time is < the watermark of the
 * operator it arrives at (ARCHITECTURE §3.2).
 *
 * Processing time is read only through a {@link Clock}, so that the engine never calls
 * `Date.now()` itself and tests drive time by hand.
 */

/** The watermark before every input has produced data. */
export const MIN_WATERMARK = Number.NEGATIVE_INFINITY;
/** The watermark at the end of a bounded input. */
export const MAX_WATERMARK = Number.POSITIVE_INFINITY;

/** A source of processing time. The engine reads time only through this interface. */
export interface Clock {
  /** Processing time in milliseconds since the epoch. */
  nowMs(): number;
  /** Resolves after `ms` of processing time (used only to wait for idle sources). */
  sleep(ms: number): Promise<void>;
}

/** The wall clock. Only the CLI and connectors should construct it; tests use {@link ManualClock}. */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * A clock that moves only when told to. `sleep` advances the clock instead of waiting, so a
 * test that waits for an idle timeout finishes at once and deterministically.
 */
export class ManualClock implements Clock {
  #nowMs: number;
  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }
  nowMs(): number {
    return this.#nowMs;
  }
  advance(ms: number): void {
    this.#nowMs += ms;
  }
  sleep(ms: number): Promise<void> {
    this.#nowMs += ms;
    return Promise.resolve();
  }
}

/** Formats an event time or watermark for humans: ISO-8601 UTC, or ±∞. */
export function formatEventTime(ms: number): string {
  if (ms === MIN_WATERMARK) return '-inf';
  if (ms === MAX_WATERMARK) return '+inf';
  return new Date(ms).toISOString();
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration such as `15s`, `1h`, `90m`, `250ms`, `7d` (or a plain number of ms).
 * Returns undefined for anything else, so that callers can name the bad key in their error.
 *
 * @example parseDurationMs('1h') // 3600000
 */
export function parseDurationMs(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$/.exec(text);
  if (!m) return undefined;
  const unit = DURATION_UNITS[m[2] ?? 'ms'];
  if (unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}
