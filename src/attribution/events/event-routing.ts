/**
 * Routing of a raw line by its kind, before parsing proper: every queue (flowmark's log, Kafka)
 * keeps clicks and checkouts apart and keyed by user id, so that a user's clicks and checkouts
 * share a partition number. Which topic a kind goes to is the queue's business, not this one's.
 */

/** The kinds of event a line can be routed as. */
export type EventKind = 'click' | 'checkout';

/** A routed line: its kind and the user id it is keyed by (absent: no user id in the line). */
export interface RoutedLine {
  kind: EventKind;
  key: string | undefined;
}

/** A line that cannot be routed: the dead letter's reason and detail. */
export interface UnroutableLine {
  reason: 'malformed_json' | 'unknown_type';
  detail: string;
}

/**
 * Routes one raw line by its `type` (or its id field). Parsing proper happens in the pipeline; a
 * line that cannot be routed is returned as a reason instead. As lenient as the parser: the type
 * in any case, with spaces around it.
 */
export function routeLine(line: string): RoutedLine | UnroutableLine {
  let e: unknown;
  try {
    e = JSON.parse(line.charCodeAt(0) === 0xfeff ? line.slice(1) : line);
  } catch (err) {
    return { reason: 'malformed_json', detail: `not JSON: ${(err as Error).message}` };
  }
  if (typeof e !== 'object' || e === null || Array.isArray(e)) {
    return { reason: 'malformed_json', detail: 'a line must be a JSON object' };
  }
  const o = e as Record<string, unknown>;
  const type =
    typeof o.type === 'string'
      ? o.type.trim().toLowerCase()
      : (o.type ?? ('checkout_id' in o ? 'checkout' : 'click_id' in o ? 'click' : undefined));
  const key = o.user_id === undefined || o.user_id === null ? undefined : String(o.user_id);
  if (type === 'click' || type === 'checkout') return { kind: type, key };
  return {
    reason: 'unknown_type',
    detail: `"type" must be "click" or "checkout" (or the line must have click_id or checkout_id), got ${JSON.stringify(type)}`,
  };
}
