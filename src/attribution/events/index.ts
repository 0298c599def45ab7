/**
 * Event parsing: one line of a click, checkout or mixed source → a parsed event or a `Rejected`
 * with a reason and a detail (ARCHITECTURE §3.1, §3.6).
 */
export {
  CHECKOUT_TIME_FIELDS,
  CLICK_TIME_FIELDS,
  type ParsedEvent,
  parseCheckout,
  parseClick,
  parseEvent,
} from './event-parser.ts';
export { type EventKind, type RoutedLine, routeLine, type UnroutableLine } from './event-routing.ts';
export { EVENT_TIME_FORMS, parseEventTimeMs } from './event-time.ts';
