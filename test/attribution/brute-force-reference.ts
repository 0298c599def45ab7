/**
 * A deliberately simple second implementation of ARCHITECTURE §3.2–§3.3 for one source read in
 * line order: no state, no timers, no cleanup — for each checkout, a scan over all clicks.
 * It is slow (quadratic) on purpose: its only job is to be obviously right.
 */
import type { Checkout, Click } from '../../src/attribution/event-types.ts';
import { parseEvent } from '../../src/attribution/events/index.ts';

export interface ReferenceOptions {
  /** The window of a click whose source has none of its own below (and of a click with no source). */
  lookbackMs: number;
  /** Source → its own window: a click counts only within its own source's window. */
  lookbackBySource?: Readonly<Record<string, number>>;
  maxOutOfOrdernessMs: number;
  scope: 'product' | 'user';
}

/** checkout_id → attributed click_id (null: none), for every on-time, first-delivered checkout. */
export function referenceFirstClick(lines: readonly string[], o: ReferenceOptions): Map<string, string | null> {
  const clicks: Click[] = [];
  const checkouts: Checkout[] = [];
  const seen = new Set<string>();
  let maxTs = Number.NEGATIVE_INFINITY;
  for (const line of lines) {
    const e = parseEvent(line);
    if (!('type' in e)) continue;
    const t = e.type === 'click' ? e.click.eventTimeMs : e.checkout.eventTimeMs;
    const watermark = maxTs - o.maxOutOfOrdernessMs; // of the earlier arrivals only
    maxTs = Math.max(maxTs, t);
    if (t < watermark) continue; // late
    if (e.type === 'click') clicks.push(e.click);
    else if (!seen.has(e.checkout.checkoutId)) {
      seen.add(e.checkout.checkoutId);
      checkouts.push(e.checkout);
    }
  }
  // Each click's own window, looked up here from the options as given (sources compared lower-case).
  const own = new Map(Object.entries(o.lookbackBySource ?? {}).map(([s, ms]) => [s.toLowerCase(), ms]));
  const windowOf = (k: Click) => (k.source === null ? undefined : own.get(k.source)) ?? o.lookbackMs;
  const answer = new Map<string, string | null>();
  for (const c of checkouts) {
    let best: Click | undefined;
    for (const k of clicks) {
      if (k.userId !== c.userId) continue;
      if (o.scope === 'product' && k.productId !== c.productId) continue;
      if (k.eventTimeMs < c.eventTimeMs - windowOf(k) || k.eventTimeMs > c.eventTimeMs) continue;
      if (
        best === undefined ||
        k.eventTimeMs < best.eventTimeMs ||
        (k.eventTimeMs === best.eventTimeMs && k.clickId < best.clickId)
      ) {
        best = k;
      }
    }
    answer.set(c.checkoutId, best?.clickId ?? null);
  }
  return answer;
}
