/**
 * Broken lines, as real producers write them: each is a generated event gone wrong in one of the
 * ways ARCHITECTURE §3.6 names, so that a consumer must turn it into a dead letter (and never
 * stop on it). Every variant below is refused by flowmark's parser; the tests check that.
 *
 * | kind             | what is wrong                                                          | dead-letter reason   |
 * |------------------|------------------------------------------------------------------------|----------------------|
 * | `truncated_json` | the line is cut short (a producer died mid-write)                      | `malformed_json`     |
 * | `wrong_type`     | a field of the wrong type or out of range (`"quantity":"2"`, `-5`, …)  | `invalid_field`      |
 * | `bad_event_time` | the event time is not an accepted form (`03/01/2026 09:15`, Feb 30, …) | `invalid_event_time` |
 * | `unknown_type`   | `type` is something else (`page_view`, `add_to_cart`, …)              | `unknown_type`       |
 * | `missing_field`  | an id or the event time is absent                                      | `missing_field`      |
 */
import { eventObject, type GeneratedEvent, isoTime } from './event-lines.ts';
import { type RandomSource, WeightedChoice } from './random-source.ts';

export type MalformedKind = 'truncated_json' | 'wrong_type' | 'bad_event_time' | 'unknown_type' | 'missing_field';

const KINDS = new WeightedChoice<MalformedKind>([
  ['truncated_json', 30],
  ['wrong_type', 25],
  ['bad_event_time', 20],
  ['unknown_type', 15],
  ['missing_field', 10],
]);

const UNKNOWN_TYPES = ['page_view', 'add_to_cart', 'impression', 'refund', 'search', ''];

/** A wrong value for one field: [field, value], each refused by the parser. */
type Mutation = readonly [string, unknown];
const CLICK_MUTATIONS: readonly Mutation[] = [
  ['user_id', true],
  ['user_id', { id: 42 }],
  ['click_id', ['k1']],
  ['product_id', 12.5],
  ['source', 7],
  ['event_time', 1772323200000.5],
];
const CHECKOUT_MUTATIONS: readonly Mutation[] = [
  ['quantity', '2'],
  ['quantity', 0],
  ['quantity', -1],
  ['quantity', 1.5],
  ['discount', 1.5],
  ['discount', '10%'],
  ['shipping_cost', -4.99],
  ['shipping_cost', 'free'],
  ['payment_status', 'pending'],
  ['user_id', false],
  ['product_id', { sku: 'p1' }],
];

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** An event time the parser refuses, often derived from the event's real time. */
function badEventTime(ms: number, rng: RandomSource): unknown {
  const iso = isoTime(ms);
  const d = new Date(ms);
  switch (rng.int(0, 7)) {
    case 0: // US-style date
      return `${pad2(d.getUTCMonth() + 1)}/${pad2(d.getUTCDate())}/${d.getUTCFullYear()} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
    case 1: // a day that does not exist
      return `${d.getUTCFullYear()}-02-30T${iso.slice(11)}`;
    case 2: // date only
      return iso.slice(0, 10);
    case 3: // epoch milliseconds as a string
      return String(ms);
    case 4: // epoch seconds with a fraction (not an integer of milliseconds)
      return Math.floor(ms / 1000) + 0.25;
    case 5: // no seconds
      return `${iso.slice(0, 16)}Z`;
    case 6:
      return 'yesterday';
    default: // hour 24
      return `${iso.slice(0, 11)}24${iso.slice(13)}`;
  }
}

/**
 * A broken line made from `event`, and what is wrong with it.
 *
 * @example
 * malformedLine(click, rng);
 * // { kind: 'bad_event_time', line: '{"type":"click",…,"event_time":"03/01/2026 09:15"}' }
 */
export function malformedLine(event: GeneratedEvent, rng: RandomSource): { kind: MalformedKind; line: string } {
  const kind = KINDS.pick(rng);
  const o = eventObject(event);
  switch (kind) {
    case 'truncated_json': {
      // A proper prefix of a JSON object is never valid JSON: its closing brace is missing.
      const line = JSON.stringify(o);
      return { kind, line: line.slice(0, rng.int(1, line.length - 1)) };
    }
    case 'wrong_type': {
      const [field, value] = rng.pick(event.type === 'click' ? CLICK_MUTATIONS : CHECKOUT_MUTATIONS);
      o[field] = value;
      break;
    }
    case 'bad_event_time':
      o.event_time = badEventTime(event.eventTimeMs, rng);
      break;
    case 'unknown_type':
      o.type = rng.pick(UNKNOWN_TYPES);
      break;
    case 'missing_field': {
      const field = rng.pick([event.type === 'click' ? 'click_id' : 'checkout_id', 'user_id', 'event_time']);
      delete o[field];
      break;
    }
  }
  return { kind, line: JSON.stringify(o) };
}
