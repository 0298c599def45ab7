/**
 * Readers for the fields of one parsed JSON object. Each returns the value or a `Rejected` whose
 * detail names the field, shows the value and states the rule, so a user can fix the producer.
 * @internal
 */
import { Rejected } from '../../engine/index.ts';
import { EVENT_TIME_FORMS, eventTimeMsOrNaN, eventTimeProblem } from './event-time.ts';
import { fitsText, MAX_ID_BYTES, MAX_LABEL_BYTES, textProblem } from './storage-limits.ts';

export type JsonObject = Record<string, unknown>;

/** Which kind of event is being read, for the wording of details ("every click needs …"). */
export type EventKind = 'click' | 'checkout';

/** A value as it appears in a detail: JSON for scalars (strings quoted), cut at 60 characters. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

const ID_RULE = 'a non-empty string or a non-negative integer';

/**
 * A required id: a non-empty string of at most {@link MAX_ID_BYTES} bytes without U+0000, or a
 * non-negative safe integer taken as its decimal string.
 */
export function readId(o: JsonObject, field: string, kind: EventKind): string | Rejected {
  const v = o[field];
  if (typeof v === 'string' && v.length > 0 && fitsText(v, MAX_ID_BYTES)) return v;
  return idProblem(v, field, kind);
}

/** An optional id: absent, null or empty is null; otherwise as readId. */
export function readOptionalId(o: JsonObject, field: string): string | null | Rejected {
  const v = o[field];
  if (typeof v === 'string')
    return v.length === 0 ? null : fitsText(v, MAX_ID_BYTES) ? v : idProblem(v, field, undefined);
  if (v === undefined || v === null) return null;
  return idProblem(v, field, undefined);
}

function idProblem(v: unknown, field: string, kind: EventKind | undefined): string | Rejected {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'string' && v.length > 0) return tooLong(field, v, MAX_ID_BYTES, 'an id');
  if (kind !== undefined && (v === undefined || v === null || v === '')) {
    const what = v === undefined ? 'missing' : v === null ? 'null' : 'empty';
    return new Rejected('missing_field', `${field} is ${what}: every ${kind} needs a ${field} (${ID_RULE})`);
  }
  return new Rejected('invalid_field', `${field} must be ${ID_RULE}, got ${show(v)}`);
}

/**
 * The event time, from the first of `fields` that is present and not null (canonical
 * `event_time` first, then the seeds' names).
 */
export function readEventTime(o: JsonObject, fields: readonly string[], kind: EventKind): number | Rejected {
  for (const field of fields) {
    const v = o[field];
    if (v === undefined || v === null) continue;
    const ms = eventTimeMsOrNaN(v);
    if (!Number.isNaN(ms)) return ms;
    return new Rejected(
      'invalid_event_time',
      `${field} ${show(v)} is not a valid event time (${eventTimeProblem(v)}); accepted forms: ${EVENT_TIME_FORMS}`,
    );
  }
  const [first, ...aliases] = fields;
  return new Rejected(
    'missing_field',
    `the event time is missing: every ${kind} needs ${first} (or ${aliases.join(', ')}) as ${EVENT_TIME_FORMS}`,
  );
}

/**
 * An optional number with a default for absent or null, checked against [min, max] (max may be
 * Infinity); `integer` requires a safe integer.
 */
export function readNumber(
  o: JsonObject,
  field: string,
  fallback: number,
  min: number,
  max: number,
  integer: boolean,
): number | Rejected {
  const v = o[field];
  if (typeof v === 'number' && v >= min && v <= max && (integer ? Number.isSafeInteger(v) : Number.isFinite(v)))
    return v;
  if (v === undefined || v === null) return fallback;
  return numberProblem(field, v, min, max, integer);
}

/** An optional number with no default: absent or null is null. */
export function readOptionalNumber(o: JsonObject, field: string, min: number, max: number): number | null | Rejected {
  const v = o[field];
  if (typeof v === 'number' && v >= min && v <= max) return v;
  if (v === undefined || v === null) return null;
  return numberProblem(field, v, min, max, false);
}

/** A string that the output columns cannot hold (storage-limits.ts): invalid input, not a poison row. */
function tooLong(field: string, v: string, maxBytes: number, what: string): Rejected {
  return new Rejected('invalid_field', `${field} ${show(v)} ${textProblem(v, maxBytes, what)}`);
}

/** `quantity must be an integer ≥ 1, got 0`; a number in quotes gets a hint. */
function numberProblem(field: string, v: unknown, min: number, max: number, integer: boolean): Rejected {
  const kind = integer ? 'an integer' : 'a number';
  const range = max === Infinity ? `≥ ${min}` : `in [${min}, ${max}]`;
  const hint = typeof v === 'string' ? ' (a string: write the number without quotes)' : '';
  return new Rejected('invalid_field', `${field} must be ${kind} ${range}, got ${show(v)}${hint}`);
}

/** An optional label (at most {@link MAX_LABEL_BYTES} bytes): absent, null or empty is null. */
export function readOptionalLabel(o: JsonObject, field: string): string | null | Rejected {
  const v = o[field];
  if (typeof v === 'string') {
    if (v.length === 0) return null;
    return fitsText(v, MAX_LABEL_BYTES) ? v : tooLong(field, v, MAX_LABEL_BYTES, 'a label');
  }
  if (v === undefined || v === null) return null;
  return new Rejected('invalid_field', `${field} must be a string, got ${show(v)}`);
}

/** `source`: trimmed and lower-cased, then at most {@link MAX_LABEL_BYTES} bytes; absent, null or blank is null. */
export function readSource(o: JsonObject): string | null | Rejected {
  const v = o.source;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s.length === 0) return null;
    return fitsText(s, MAX_LABEL_BYTES) ? s : tooLong('source', s, MAX_LABEL_BYTES, 'a label');
  }
  if (v === undefined || v === null) return null;
  return new Rejected('invalid_field', `source must be a string such as "google_ads", got ${show(v)}`);
}

/** `payment_status`, case-insensitive: success (the default) or failed. */
export function readPaymentStatus(o: JsonObject): 'success' | 'failed' | Rejected {
  const v = o.payment_status;
  if (v === undefined || v === null || v === 'success') return 'success';
  if (v === 'failed') return 'failed';
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'success' || s === 'failed') return s;
  }
  return new Rejected('invalid_field', `payment_status must be "success" or "failed" (any case), got ${show(v)}`);
}

/** `payment_description`: `"None"` (any case), empty or absent is null. */
export function readPaymentDescription(o: JsonObject): string | null | Rejected {
  const v = o.payment_description;
  if (typeof v === 'string') {
    if (v.length === 0 || (v.length === 4 && v.toLowerCase() === 'none')) return null;
    return fitsText(v, MAX_LABEL_BYTES) ? v : tooLong('payment_description', v, MAX_LABEL_BYTES, 'a label');
  }
  if (v === undefined || v === null) return null;
  return new Rejected('invalid_field', `payment_description must be a string, got ${show(v)}`);
}
