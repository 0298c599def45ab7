/**
 * The dashboard of a job shows what its pipeline accepts: the summary's bound of future event
 * time is `attribution.max_future_skew`, not the summary's own 1 h default. A checkout dated 90
 * minutes ahead, accepted by a pipeline whose skew is 3 h, is among the latest checkouts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { attributionOptions } from '../../src/attribution/attribution-options.ts';
import { logEventQueue, openStores, runAttribution } from '../../src/cli/modes/embedded.ts';
import { systemClock } from '../../src/engine/index.ts';

test('a live job serves the summary with its own max_future_skew as the bound of future event time', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fm-dashboard-skew-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const stores = await openStores({ dataDir: dir });
  t.after(() => stores.close());
  const at = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();
  const queue = logEventQueue(stores.log);
  await queue.append(
    'click',
    JSON.stringify({
      type: 'click',
      click_id: 'k1',
      user_id: 'u1',
      product_id: 'p1',
      source: 'google_ads',
      event_time: at(89),
    }),
    'u1',
    1,
  );
  await queue.append(
    'checkout',
    JSON.stringify({
      type: 'checkout',
      checkout_id: 'c-ahead',
      user_id: 'u1',
      product_id: 'p1',
      quantity: 1,
      discount: 0,
      shipping_cost: 0,
      payment_method: 'visa',
      payment_status: 'success',
      payment_description: 'None',
      event_time: at(90),
    }),
    'u1',
    2,
  );
  await queue.flush();
  await queue.close();

  const controller = new AbortController();
  let url: string | undefined;
  const running = runAttribution(stores, {
    attribution: attributionOptions({ provisional: true, maxFutureSkewMs: 3 * 3_600_000 }),
    clock: systemClock,
    drain: false,
    signal: controller.signal,
    serve: { host: '127.0.0.1', port: 0, onServing: (u) => (url = u) },
  });
  let latest: string[] = [];
  try {
    // Until the row is shown, or the run ends (a failure), or a minute has passed (the bug: never).
    for (let i = 0; i < 240 && !latest.includes('c-ahead'); i++) {
      await sleep(250);
      if (url === undefined) continue;
      const res = await fetch(`${url}api/summary`);
      if (res.status !== 200) continue;
      const s = (await res.json()) as { latestCheckouts: Array<{ checkoutId: string }> };
      latest = s.latestCheckouts.map((c) => c.checkoutId);
    }
  } finally {
    controller.abort();
    await running;
  }
  assert.ok(latest.includes('c-ahead'), `latest checkouts: ${JSON.stringify(latest)}`);
});
