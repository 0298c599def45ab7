/**
 * Issue 5: a real Prometheus on 127.0.0.1 scrapes a running `flowmark demo` (its /metrics), with
 * flowmark's alert rules loaded, and PromQL finds the events it has read.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startPrometheus } from '../observability/prometheus-server.ts';
import { startProduct } from './product-fixtures.ts';

const RULES = new URL('../../deploy/prometheus/flowmark-alerts.yml', import.meta.url).pathname;

test('a real Prometheus scrapes `flowmark demo`: flowmark_events_in_total is non-zero, the rules load', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-e2e-prom-'));
  const demo = await startProduct(t, ['demo', '--port', '0', '--rate', '500', '--data-dir', dir]);
  t.after(() => rmSync(dir, { recursive: true, force: true })); // after the demo has stopped
  const target = new URL(demo.url).host;
  const prometheus = await startPrometheus(t, { targets: [target], ruleFiles: [RULES] });
  if (prometheus === undefined) return; // skipped loudly: no Prometheus on this machine
  const answer = await prometheus.waitFor('sum(flowmark_events_in_total)', (r) => (r[0]?.value ?? 0) > 0, 60_000);
  t.diagnostic(`sum(flowmark_events_in_total) = ${answer[0]?.value} (scraped from ${demo.url}metrics)`);
  const latency = await prometheus.waitFor(
    'sum(flowmark_end_to_end_latency_seconds_count)',
    (r) => (r[0]?.value ?? 0) > 0,
    60_000,
  );
  assert.ok((latency[0]?.value ?? 0) > 0);
  const rules = await prometheus.api<{ groups: { rules: { name: string; health: string }[] }[] }>('/api/v1/rules');
  const loaded = rules.groups.flatMap((g) => g.rules);
  assert.ok(loaded.length >= 7, `${loaded.length} rules loaded`);
  assert.ok(
    loaded.every((r) => r.health !== 'err'),
    JSON.stringify(loaded.filter((r) => r.health === 'err')),
  );
  assert.equal(await demo.stop(), 0, 'the demo stops cleanly on Ctrl-C');
});
