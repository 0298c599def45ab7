/**
 * The knobs of the website simulator, their defaults, and their validation. An invalid value is
 * a `FlowmarkError` with code `FM_CONFIG_INVALID` whose message names the option and says what
 * it must be (the CLI checks its flags first, so that its messages name the flags).
 */
import { FlowmarkError } from '../engine/index.ts';
import type { DeliveryOptions } from './delivery-schedule.ts';

/** 2026-03-01T00:00:00.000Z, the day of the reference pipelines' seed events. */
export const DEFAULT_START_MS = Date.UTC(2026, 2, 1);

export interface TrafficOptions extends DeliveryOptions {
  /** Event time of the first event, epoch ms. */
  startMs: number;
  /** Events per second of event time (distinct events; duplicate deliveries come on top). */
  ratePerSecond: number;
  /** Multiplies the conversion probability of every source (1: a few percent of sessions). */
  conversionScale: number;
}

/** The defaults. Late delays are 1–5 min unless given, and in any case ≥ 2× and 4× `maxDisorderMs`. */
export const DEFAULT_TRAFFIC_OPTIONS: TrafficOptions = {
  seed: 1,
  startMs: DEFAULT_START_MS,
  ratePerSecond: 100,
  conversionScale: 1,
  disorder: 0,
  maxDisorderMs: 10_000,
  late: 0,
  lateMinDelayMs: 60_000,
  lateMaxDelayMs: 300_000,
  duplicates: 0,
  malformed: 0,
};

function invalid(key: string, what: string, value: unknown): FlowmarkError {
  return new FlowmarkError(
    'FM_CONFIG_INVALID',
    `${key} must be ${what}, got ${JSON.stringify(value) ?? String(value)}`,
  );
}

function fraction(o: TrafficOptions, key: 'disorder' | 'late' | 'duplicates' | 'malformed'): void {
  const v = o[key];
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw invalid(key, 'a fraction between 0 and 1', v);
}

/**
 * The options with defaults filled in, checked.
 *
 * @example
 * resolveTrafficOptions({ seed: 7, disorder: 0.1 }); // { seed: 7, disorder: 0.1, ratePerSecond: 100, … }
 * resolveTrafficOptions({ late: 2 }); // throws FlowmarkError FM_CONFIG_INVALID: late must be a fraction between 0 and 1, got 2
 */
export function resolveTrafficOptions(partial: Partial<TrafficOptions> = {}): TrafficOptions {
  const o: TrafficOptions = { ...DEFAULT_TRAFFIC_OPTIONS };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  // Late delays follow a wider bound unless given: late must stay beyond the bound of disorder.
  if (partial.lateMinDelayMs === undefined) o.lateMinDelayMs = Math.max(60_000, 2 * o.maxDisorderMs);
  if (partial.lateMaxDelayMs === undefined) o.lateMaxDelayMs = Math.max(300_000, 2 * o.lateMinDelayMs);
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw invalid('seed', 'a non-negative integer', o.seed);
  if (!Number.isSafeInteger(o.startMs)) throw invalid('startMs', 'an integer number of milliseconds', o.startMs);
  if (typeof o.ratePerSecond !== 'number' || !(o.ratePerSecond > 0) || !Number.isFinite(o.ratePerSecond)) {
    throw invalid('ratePerSecond', 'a positive number', o.ratePerSecond);
  }
  if (typeof o.conversionScale !== 'number' || !(o.conversionScale >= 0) || !Number.isFinite(o.conversionScale)) {
    throw invalid('conversionScale', 'a number ≥ 0', o.conversionScale);
  }
  fraction(o, 'disorder');
  fraction(o, 'late');
  fraction(o, 'duplicates');
  fraction(o, 'malformed');
  if (o.disorder + o.late > 1) {
    throw invalid('disorder + late', 'at most 1 (an event is either out of order or late)', o.disorder + o.late);
  }
  if (!Number.isSafeInteger(o.maxDisorderMs) || o.maxDisorderMs < 0) {
    throw invalid('maxDisorderMs', 'a non-negative integer', o.maxDisorderMs);
  }
  if (!Number.isSafeInteger(o.lateMinDelayMs) || o.lateMinDelayMs <= o.maxDisorderMs) {
    throw invalid('lateMinDelayMs', `an integer greater than maxDisorderMs (${o.maxDisorderMs})`, o.lateMinDelayMs);
  }
  if (!Number.isSafeInteger(o.lateMaxDelayMs) || o.lateMaxDelayMs < o.lateMinDelayMs) {
    throw invalid('lateMaxDelayMs', `an integer ≥ lateMinDelayMs (${o.lateMinDelayMs})`, o.lateMaxDelayMs);
  }
  return o;
}
