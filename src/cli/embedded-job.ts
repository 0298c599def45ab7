/**
 * Old paths kept for bench/ only, until it imports from the new ones (docs/cli.md): delete this
 * file then. New code imports ./modes/embedded.ts and src/attribution/events.
 */
import { routeLine as routeKind } from '../attribution/events/index.ts';
import { logEventQueue, topicOf } from './modes/embedded.ts';

export { runAttribution, TOPICS } from './modes/embedded.ts';

/** bench/: the log queue under its old name. */
export const logImportQueue = logEventQueue;

/** bench/: a line's topic in the log (the new `routeLine` returns its kind). */
export function routeLine(
  line: string,
): { topic: string; key: string | undefined } | { reason: string; detail: string } {
  const r = routeKind(line);
  return 'reason' in r ? r : { topic: topicOf(r.kind), key: r.key };
}
