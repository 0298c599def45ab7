/**
 * A real Prometheus scrapes the /metrics of a real attribution job (served here by a tiny
 * node:http server; the product's own server is tested end to end elsewhere), loads flowmark's
 * committed alert rules, and evaluates them without an error.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { MemoryCommitter } from '../../src/connectors/memory/memory-committer.ts';
import { ManualClock } from '../../src/engine/index.ts';
import { ALERT_RULES } from '../../src/observability/index.ts';
import { monitorOf, shopJob, shopLines } from './observability-fixtures.ts';
import { startPrometheus } from './prometheus-server.ts';

const RULES = fileURLToPath(new URL('../../deploy/prometheus/flowmark-alerts.yml', import.meta.url));

interface RulesApi {
  groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[];
}

test('a real Prometheus scrapes flowmark_events_in_total from a running job and evaluates the alert rules', async (t) => {
  // The job's clock starts a minute back, so its last checkpoint looks a minute old to Prometheus.
  const clock = new ManualClock(Date.now() - 60_000);
  const lines = shopLines(2000);
  const job = shopJob({ clock, lines });
  const monitor = monitorOf(t, job, clock);
  const http = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    monitor.metricsText().then(
      (text) => res.writeHead(200, { 'Content-Type': monitor.metricsContentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  t.after(() => new Promise<void>((resolve) => http.close(() => resolve())));
  const target = `127.0.0.1:${(http.address() as AddressInfo).port}`;

  const prom = await startPrometheus(t, { targets: [target], ruleFiles: [RULES] });
  if (prom === undefined) return; // skipped: no Prometheus on this machine
  await job.runtime.run();

  const [events] = await prom.waitFor('flowmark_events_in_total', (r) => r.some((s) => s.value > 0));
  assert.ok(events !== undefined);
  assert.equal(events.value, lines.length);
  assert.deepEqual(events.metric, {
    __name__: 'flowmark_events_in_total',
    instance: target,
    job: 'flowmark',
    source: 'events',
  });
  const dead = (job.committer as MemoryCommitter).rows('dead_letters').length;
  const [deadLetters] = await prom.waitFor('flowmark_dead_letters_total', (r) => r.length === 1);
  assert.equal(deadLetters?.value, dead);

  // Every rule evaluates without an error (vector matching, functions, labels all line up).
  const rules = await waitForRules(prom.api.bind(prom));
  assert.deepEqual(
    rules.map((r) => r.name),
    ALERT_RULES.map((r) => r.name),
  );
  // The same rule, evaluated by Prometheus: no checkpoint for a minute.
  const alerts = await prom.waitFor('ALERTS{alertname="FlowmarkCheckpointsStalled"}', (r) => r.length === 1);
  assert.equal(alerts[0]?.metric.severity, 'critical');
  assert.equal(alerts[0]?.metric.instance, target);
});

async function waitForRules(api: <T>(path: string) => Promise<T>): Promise<RulesApi['groups'][number]['rules']> {
  const deadline = Date.now() + 30_000;
  let rules: RulesApi['groups'][number]['rules'] = [];
  while (Date.now() < deadline) {
    const data = await api<RulesApi>('/api/v1/rules');
    rules = data.groups.flatMap((g) => g.rules);
    const failing = rules.filter((r) => r.health === 'err');
    assert.deepEqual(failing, [], 'a rule failed to evaluate');
    if (rules.length > 0 && rules.every((r) => r.health === 'ok')) return rules;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the rules were not all evaluated in 30 s: ${JSON.stringify(rules)}`);
}
