import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AttributionInput,
  type AttributionResult,
  attributionFunction,
  attributionKey,
} from '../../src/attribution/attribution-function.ts';
import { type AttributionOptions, attributionOptions } from '../../src/attribution/attribution-options.ts';
import type { Checkout, Click } from '../../src/attribution/event-types.ts';
import { KeyedProcessOperator } from '../../src/engine/operators/keyed-process-operator.ts';
import { OperatorHarness } from '../engine/operator-harness.ts';
import { checkout, click, MIN, T0 } from './attribution-fixtures.ts';

function harness(options: Partial<AttributionOptions> = {}): OperatorHarness & {
  click(c: Click): ReturnType<typeof harness>;
  checkout(c: Checkout): ReturnType<typeof harness>;
  results(): AttributionResult[];
  answer(id: string): string | null | undefined;
} {
  const o = attributionOptions(options);
  const h = new OperatorHarness(
    () =>
      new KeyedProcessOperator<AttributionInput, AttributionResult, unknown>(
        (e) =>
          e.kind === 'click'
            ? attributionKey(e.click.userId, e.click.productId, o.scope)
            : attributionKey(e.checkout.userId, e.checkout.productId, o.scope),
        attributionFunction(o) as never,
      ),
  ) as ReturnType<typeof harness>;
  h.click = (c) => h.element({ kind: 'click', click: c }, c.eventTimeMs) as ReturnType<typeof harness>;
  h.checkout = (c) => h.element({ kind: 'checkout', checkout: c }, c.eventTimeMs) as ReturnType<typeof harness>;
  h.results = () => h.out<AttributionResult>();
  h.answer = (id) => {
    const finals = h.results().filter((r) => r.isFinal && r.checkout.checkoutId === id);
    if (finals.length === 0) return undefined;
    assert.equal(finals.length, 1, `checkout ${id} has ${finals.length} final results`);
    const cs = (finals[0] as AttributionResult).credits;
    return cs.length === 0 ? null : (cs[0] as { click: { clickId: string } }).click.clickId;
  };
  return h;
}

const tc = T0 + 2 * 60 * MIN;

/** The clicks the state holds, over every key (the TTL drops keys; pruning drops clicks). */
/** The clicks the state still holds (not expired), by id. */
function clicksHeld(h: OperatorHarness): string[] {
  const table = h.timeTable('clicks');
  assert.ok(table !== undefined, 'the clicks table');
  const ids: string[] = [];
  for (const key of table.keys()) {
    for (const ref of table.range(key, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY)) {
      ids.push(table.value(ref, 'clickId') as string);
    }
  }
  return ids.sort();
}

describe('first-click attribution (§3.3)', () => {
  for (const order of ['clicks first', 'checkout first'] as const) {
    it(`both window edges are inclusive (${order})`, () => {
      const h = harness();
      const events = () => {
        h.click(click('too-old', tc - 60 * MIN - 1));
        h.click(click('edge', tc - 60 * MIN));
        h.click(click('at-checkout', tc));
        h.click(click('after', tc + 1));
      };
      if (order === 'clicks first') {
        events();
        h.checkout(checkout('c1', tc));
      } else {
        h.checkout(checkout('c1', tc));
        events();
      }
      h.watermark(tc + 1);
      assert.equal(h.answer('c1'), 'edge');
      const cands = h.results()[0]?.credits.map((c) => c.click.clickId);
      assert.deepEqual(cands, ['edge']);
    });
  }

  it('the smallest (t_k, click_id) wins on equal times, whatever the arrival order', () => {
    const h = harness()
      .click(click('k-b', tc - MIN))
      .click(click('k-a', tc - MIN))
      .checkout(checkout('c1', tc));
    h.watermark(tc + 1);
    assert.equal(h.answer('c1'), 'k-a');
  });

  it('keeps every click in the window: clicks at −70, −50, −10 min → −50', () => {
    const h = harness()
      .click(click('m70', tc - 70 * MIN))
      .click(click('m50', tc - 50 * MIN))
      .click(click('m10', tc - 10 * MIN))
      .watermark(tc - 5 * MIN) // the watermark passes −70 + 60 = −10 min before the checkout comes
      .checkout(checkout('c1', tc))
      .watermark(tc + 1);
    assert.equal(h.answer('c1'), 'm50');
  });

  it('a click arriving after its checkout (on time) still counts; the result is final only when W > t_c', () => {
    const h = harness().checkout(checkout('c1', tc)).watermark(tc);
    assert.equal(h.answer('c1'), undefined, 'not final at W = t_c');
    h.click(click('late-arriving', tc - 30 * MIN + 0)); // t < W would be late: only t ≥ W is on time
    assert.equal(h.out('late').length, 1, 'a click behind the watermark is late, not used');
    h.click(click('on-time', tc)).watermark(tc + 1);
    assert.equal(h.answer('c1'), 'on-time');
  });

  it('a checkout with no click in its window is output with no click', () => {
    const h = harness()
      .click(click('other-product', tc - MIN, { productId: 'p2' }))
      .checkout(checkout('c1', tc));
    h.watermark(tc + 1);
    assert.equal(h.answer('c1'), null);
  });

  it('scope user: any click of the user counts, with or without a product', () => {
    const h = harness({ scope: 'user' })
      .click(click('no-product', tc - 20 * MIN, { productId: null }))
      .click(click('other-product', tc - 10 * MIN, { productId: 'p9' }))
      .checkout(checkout('c1', tc))
      .watermark(tc + 1);
    assert.equal(h.answer('c1'), 'no-product');
  });

  it('excluded sources are never credited; a checkout with only excluded clicks has no click', () => {
    const h = harness({ excludedSources: ['Direct'] })
      .click(click('direct', tc - 30 * MIN, { source: 'direct' }))
      .click(click('ad', tc - 10 * MIN))
      .checkout(checkout('c1', tc))
      .click(click('direct2', tc - 50 * MIN, { source: 'direct', userId: 'u2' }))
      .checkout(checkout('c2', tc, { userId: 'u2' }))
      .watermark(tc + 1);
    assert.equal(h.answer('c1'), 'ad');
    assert.equal(h.answer('c2'), null);
  });

  it('a click delivered twice earns credit once', () => {
    const h = harness({ model: 'linear' })
      .click(click('k1', tc - 20 * MIN))
      .click(click('k1', tc - 20 * MIN))
      .click(click('k2', tc - 10 * MIN))
      .checkout(checkout('c1', tc))
      .watermark(tc + 1);
    assert.deepEqual(
      h.results()[0]?.credits.map((c) => [c.click.clickId, c.credit]),
      [
        ['k1', 0.5],
        ['k2', 0.5],
      ],
    );
  });

  it('provisional rows come first and are replaced by exactly one final row', () => {
    const h = harness({ provisional: true })
      .click(click('k2', tc - 10 * MIN))
      .checkout(checkout('c1', tc));
    h.click(click('k1', tc - 20 * MIN)); // earlier: changes the provisional answer
    const provisional = h.results().filter((r) => !r.isFinal);
    assert.deepEqual(
      provisional.map((r) => r.credits[0]?.click.clickId),
      ['k2', 'k1'],
    );
    h.watermark(tc + 1);
    assert.equal(h.answer('c1'), 'k1');
  });

  it('state is kept only while a click can match, and is empty once the watermark passes', () => {
    const h = harness()
      .click(click('k1', tc - 50 * MIN))
      .checkout(checkout('c1', tc));
    h.watermark(tc - 50 * MIN + 60 * MIN + 1); // W − lookback passed k1, but the pending checkout holds it
    assert.equal(h.answer('c1'), 'k1');
    assert.equal(h.stateEntries(), 0, 'the checkout is final, the click can match nothing more');
    const h2 = harness().click(click('lonely', tc));
    h2.watermark(tc + 60 * MIN);
    assert.ok(h2.stateEntries() > 0, 'still within the lookback of a future checkout at W');
    h2.watermark(tc + 60 * MIN + 1);
    assert.equal(h2.stateEntries(), 0, 'a click no checkout can reach any more is dropped');
  });

  it('a restart mid-case gives the same results', () => {
    const run = (restart: boolean) => {
      const h = harness({ model: 'position_based' })
        .click(click('a', tc - 40 * MIN))
        .click(click('b', tc - 30 * MIN))
        .watermark(tc - 20 * MIN);
      if (restart) h.restart();
      h.click(click('c', tc - 10 * MIN))
        .checkout(checkout('c1', tc))
        .watermark(tc + 1);
      return h.results().map((r) => r.credits.map((c) => [c.click.clickId, c.credit]));
    };
    assert.deepEqual(run(true), run(false));
  });

  it('without provisional, only final rows: a click arriving after its checkout emits nothing', () => {
    const h = harness()
      .checkout(checkout('c1', tc))
      .click(click('k1', tc - 10 * MIN));
    assert.deepEqual(h.results(), []);
    h.watermark(tc + 1);
    assert.deepEqual(
      h.results().map((r) => [r.checkout.checkoutId, r.isFinal]),
      [['c1', true]],
    );
  });

  it('a timer makes final only the checkouts at or before its time, each once', () => {
    const h = harness()
      .click(click('k1', tc - 30 * MIN))
      .checkout(checkout('c1', tc - 10 * MIN))
      .checkout(checkout('c2', tc));
    h.watermark(tc - 10 * MIN + 1);
    assert.equal(h.answer('c1'), 'k1');
    assert.equal(h.answer('c2'), undefined, 'c2 is not final while W ≤ its time');
    h.watermark(tc + 1);
    assert.equal(h.answer('c2'), 'k1', 'one final row, at its own timer');
  });

  it("a watermark jumping past two checkouts keeps the later one's clicks until its own timer", () => {
    // The first timer fires with W far ahead: the pending checkout c2 must hold its window.
    const h = harness()
      .click(click('k1', tc - 50 * MIN))
      .checkout(checkout('c1', tc - 30 * MIN))
      .checkout(checkout('c2', tc))
      .watermark(tc + 5 * 60 * MIN);
    assert.equal(h.answer('c1'), 'k1');
    assert.equal(h.answer('c2'), 'k1');
  });

  it('pruning keeps the clicks a future checkout (t_c ≥ W) can reach', () => {
    // A timer prunes the key with W just past c0: k1 is 40 min old, still in reach of a checkout at W.
    const h = harness()
      .click(click('k1', tc - 40 * MIN))
      .checkout(checkout('c0', tc - 20 * MIN))
      .watermark(tc - 20 * MIN + 1)
      .checkout(checkout('c1', tc))
      .watermark(tc + 1);
    assert.equal(h.answer('c0'), 'k1');
    assert.equal(h.answer('c1'), 'k1');
  });

  it('a key clicked without pause holds only the clicks still in reach (expired as the watermark passes them)', () => {
    // The key is never quiet (the last click is always recent): expiry by time alone bounds it.
    const h = harness();
    for (let i = 0; i < 12; i++) h.click(click(`k${i}`, tc + i * 20 * MIN)).watermark(tc + i * 20 * MIN);
    // W = tc + 220 min: reachable from a checkout at W ≥ … are clicks ≥ tc + 160 min (k8 …).
    assert.deepEqual(clicksHeld(h), ['k10', 'k11', 'k8', 'k9']);
    h.checkout(checkout('c1', tc + 230 * MIN)).watermark(tc + 231 * MIN);
    assert.equal(h.answer('c1'), 'k9');
    assert.deepEqual(clicksHeld(h), ['k10', 'k11', 'k9']);
    // Memory follows: whole buckets (lookback / 8 wide) are dropped, so what is held in memory is
    // the reachable clicks plus at most one bucket's worth.
    assert.ok((h.timeTable('clicks')?.size ?? 0) <= 4, `held ${h.timeTable('clicks')?.size}`);
  });

  it("the result keeps the checkout's raw line: a row the database refuses is a dead letter with it (§3.6)", () => {
    const h = harness({ provisional: true })
      .click(click('k1', tc - 10 * MIN))
      .checkout(checkout('c1', tc, { raw: '{"checkout_id":"c1"}' }))
      .watermark(tc + 1);
    assert.deepEqual(
      h.results().map((r) => [r.isFinal, r.checkout.raw]),
      [
        [false, '{"checkout_id":"c1"}'],
        [true, '{"checkout_id":"c1"}'],
      ],
    );
  });
});

describe('per-source windows (§3.3: lookback_by_source)', () => {
  const HOUR = 60 * MIN;
  const windows = { lookbackMs: HOUR, lookbackBySource: { email: 2 * HOUR, direct: 30 * MIN } };
  const email = { source: 'email' };
  const direct = { source: 'direct' };

  for (const order of ['clicks first', 'checkout first'] as const) {
    for (const model of ['first_click', 'last_click', 'linear', 'time_decay', 'position_based'] as const) {
      it(`${model}: each click within its own source's window, edges inclusive (${order})`, () => {
        const h = harness({ ...windows, model });
        const events = () => {
          h.click(click('email-early', tc - 2 * HOUR - 1, email)); // 1 ms outside email's 2 h
          h.click(click('email-edge', tc - 2 * HOUR, email)); // outside the default 1 h: counts
          h.click(click('ads-early', tc - HOUR - 1)); // google_ads: the default, 1 ms outside
          h.click(click('nosource-edge', tc - HOUR, { source: null })); // no source: the default
          h.click(click('direct-early', tc - 30 * MIN - 1, direct)); // inside 1 h, outside direct's 30 m
          h.click(click('direct-edge', tc - 30 * MIN, direct));
          h.click(click('email-after', tc + 1, email));
        };
        if (order === 'clicks first') {
          events();
          h.checkout(checkout('c1', tc));
        } else {
          h.checkout(checkout('c1', tc));
          events();
        }
        h.watermark(tc + 1);
        const credited = h
          .results()
          .filter((r) => r.isFinal)
          .flatMap((r) => r.credits.map((c) => c.click.clickId));
        const all = ['email-edge', 'nosource-edge', 'direct-edge'];
        const want = model === 'first_click' ? ['email-edge'] : model === 'last_click' ? ['direct-edge'] : all;
        assert.deepEqual(credited, want);
      });
    }
  }

  it('clicks are held for the longest window, then dropped', () => {
    const h = harness(windows)
      .click(click('e', tc, email))
      .click(click('d', tc, direct));
    h.watermark(tc + 2 * HOUR);
    assert.deepEqual(clicksHeld(h), ['d', 'e'], 'a checkout at W could still reach the email click');
    h.checkout(checkout('c1', tc + 2 * HOUR)).watermark(tc + 2 * HOUR + 1);
    assert.equal(h.answer('c1'), 'e', 'the direct click is held, but outside its own window');
    assert.deepEqual(clicksHeld(h), [], 'nothing can reach either any more');
  });

  it('a click updates a provisional row only for the checkouts within its own window', () => {
    const h = harness({ ...windows, provisional: true }).checkout(checkout('c1', tc));
    h.clearOutputs();
    h.click(click('direct-far', tc - 45 * MIN, direct)); // inside 1 h, outside direct's 30 m
    assert.deepEqual(h.results(), [], 'no provisional update: c1 is out of its reach');
    h.click(click('email-far', tc - 90 * MIN, email));
    assert.deepEqual(
      h.results().map((r) => [r.isFinal, r.credits[0]?.click.clickId]),
      [[false, 'email-far']],
    );
    h.watermark(tc + 1);
    assert.equal(h.answer('c1'), 'email-far');
  });

  it('a restart mid-case gives the same results with per-source windows', () => {
    const run = (restart: boolean) => {
      const h = harness({ ...windows, model: 'linear' })
        .click(click('e', tc - 100 * MIN, email))
        .click(click('d', tc - 40 * MIN, direct))
        .watermark(tc - 30 * MIN);
      if (restart) h.restart();
      h.click(click('a', tc - 10 * MIN))
        .checkout(checkout('c1', tc))
        .watermark(tc + 1);
      return h.results().map((r) => r.credits.map((c) => c.click.clickId));
    };
    assert.deepEqual(run(false), [['e', 'a']]);
    assert.deepEqual(run(true), run(false));
  });
});
