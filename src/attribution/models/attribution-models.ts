import type { AttributionOptions } from '../attribution-options.ts';

/** A click that can be credited: the part of a click the attribution state keeps. */
export interface CandidateClick {
  clickId: string;
  source: string | null;
  eventTimeMs: number;
}

export interface Credit {
  click: CandidateClick;
  credit: number;
}

/** Orders clicks by (event time, click id): the order every model is defined on (§3.3). */
export function byTimeThenId(a: CandidateClick, b: CandidateClick): number {
  return a.eventTimeMs - b.eventTimeMs || (a.clickId < b.clickId ? -1 : a.clickId > b.clickId ? 1 : 0);
}

/**
 * The credits of one checkout at `checkoutTimeMs` over its candidate clicks, which must already
 * be the on-time clicks within [t_c − lookback, t_c], not excluded, sorted by (time, id).
 * Credits sum to 1; no candidates → no credits (the checkout is output with no click).
 *
 * - first_click / last_click: the smallest / largest (t_k, click_id): credit 1.
 * - linear: 1/n each.
 * - time_decay: ∝ 2^(−(t_c − t_k)/halfLife), normalized.
 * - position_based: firstWeight to the first, lastWeight to the last, the rest shared equally by
 *   the middle clicks; one click gets 1; two clicks split first:last in proportion
 *   (50/50 with the default 40/40).
 */
export function credits(
  candidates: readonly CandidateClick[],
  checkoutTimeMs: number,
  o: AttributionOptions,
): Credit[] {
  const n = candidates.length;
  if (n === 0) return [];
  const first = candidates[0] as CandidateClick;
  const last = candidates[n - 1] as CandidateClick;
  switch (o.model) {
    case 'first_click':
      return [{ click: first, credit: 1 }];
    case 'last_click':
      return [{ click: last, credit: 1 }];
    case 'linear':
      return candidates.map((click) => ({ click, credit: 1 / n }));
    case 'time_decay': {
      const w = candidates.map((c) => 2 ** (-(checkoutTimeMs - c.eventTimeMs) / o.halfLifeMs));
      const sum = w.reduce((a, b) => a + b, 0);
      return candidates.map((click, i) => ({ click, credit: (w[i] as number) / sum }));
    }
    case 'position_based': {
      if (n === 1) return [{ click: first, credit: 1 }];
      const ends = o.firstWeight + o.lastWeight;
      if (n === 2) {
        // No middle clicks: first and last share everything in proportion to their weights.
        const f = ends === 0 ? 0.5 : o.firstWeight / ends;
        return [
          { click: first, credit: f },
          { click: last, credit: 1 - f },
        ];
      }
      const middle = (1 - ends) / (n - 2);
      return candidates.map((click, i) => ({
        click,
        credit: i === 0 ? o.firstWeight : i === n - 1 ? o.lastWeight : middle,
      }));
    }
  }
}

/** The click a row names for a multi-touch model: the highest credit, the earliest on ties. */
export function headlineClick(cs: readonly Credit[]): CandidateClick | undefined {
  let best: Credit | undefined;
  for (const c of cs) if (best === undefined || c.credit > best.credit + 1e-12) best = c;
  return best?.click;
}
