/**
 * Every metric that the Grafana system dashboard and the alert rules query exists in flowmark's
 * /metrics after a short real run (with a sample, not just a HELP line), and so does every series
 * they select by a literal label value (`operator="attribute"`). A renamed metric or step breaks
 * this test, not a dashboard in production.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/engine/index.ts';
import { ALERT_RULES, grafanaSystemDashboard } from '../../src/observability/index.ts';
import { monitorOf, shopJob, shopLines } from '../observability/observability-fixtures.ts';

/** Synthesized by Prometheus itself, not scraped. */
const PROMETHEUS_OWN = new Set(['ALERTS', 'ALERTS_FOR_STATE']);

/** The PromQL of every target of every panel of a dashboard. */
function dashboardQueries(dashboard: Record<string, unknown>): string[] {
  const panels = dashboard.panels as { targets: { expr: string }[] }[];
  return panels.flatMap((p) => p.targets.map((t) => t.expr));
}

/** Metric names in PromQL: identifiers of flowmark's, Node's or the process's metrics. */
function metricNames(promql: string): string[] {
  return [...promql.matchAll(/\b(flowmark_\w+|process_\w+|nodejs_\w+|ALERTS)\b/g)].map((m) => m[1] as string);
}

/** Selectors with literal label values: `name{a="x", b=~"$v"}` gives [name, {a: 'x'}]. */
function literalSelectors(promql: string): [string, Record<string, string>][] {
  return [...promql.matchAll(/\b(flowmark_\w+)\{([^}]*)\}/g)].map((m) => {
    const labels: Record<string, string> = {};
    for (const l of (m[2] as string).matchAll(/(\w+)="([^"$]*)"/g)) labels[l[1] as string] = l[2] as string;
    return [m[1] as string, labels];
  });
}

/** The series of a text exposition: name and labels of every sample line. */
function exposedSeries(text: string): { name: string; labels: Record<string, string> }[] {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\w+)(?:\{([^}]*)\})? /.exec(l);
      assert.ok(m, `unparsable line ${l}`);
      const labels: Record<string, string> = {};
      for (const p of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[p[1] as string] = p[2] as string;
      return { name: m[1] as string, labels };
    });
}

test('every metric and literal series in the system dashboard and the alert rules exists after a short real run', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 2, 1));
  const job = shopJob({ clock, lines: shopLines(2000) });
  const monitor = monitorOf(t, job, clock);
  await job.runtime.run();
  const series = exposedSeries(await monitor.metricsText());
  const names = new Set(series.map((s) => s.name));

  const queries = [...dashboardQueries(grafanaSystemDashboard()), ...ALERT_RULES.map((r) => r.expr)];
  const used = new Set(queries.flatMap(metricNames));
  assert.ok(used.size >= 15, `found the metric names in the queries (${[...used].join(', ')})`);
  const missing = [...used].filter((n) => !PROMETHEUS_OWN.has(n) && !names.has(n));
  assert.deepEqual(missing, [], 'queried but not exposed by flowmark');

  for (const q of queries) {
    for (const [name, labels] of literalSelectors(q)) {
      const found = series.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      assert.ok(found, `no series ${name}${JSON.stringify(labels)} (in: ${q})`);
    }
  }
});

test('the required metrics of issue 5 are all exposed', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 2, 1));
  const job = shopJob({ clock, lines: shopLines(500) });
  const monitor = monitorOf(t, job, clock);
  await job.runtime.run();
  const names = new Set(exposedSeries(await monitor.metricsText()).map((s) => s.name));
  for (const name of [
    'flowmark_events_in_total',
    'flowmark_events_out_total',
    'flowmark_late_events_total',
    'flowmark_dead_letters_total',
    'flowmark_watermark_lag_seconds',
    'flowmark_end_to_end_latency_seconds_bucket',
    'flowmark_state_entries',
    'flowmark_state_bytes',
    'flowmark_checkpoint_duration_seconds_bucket',
    'flowmark_last_checkpoint_timestamp_seconds',
    'flowmark_consumer_lag_records',
    'flowmark_backpressure_seconds_total',
    'process_cpu_seconds_total',
    'nodejs_eventloop_lag_seconds',
  ]) {
    assert.ok(names.has(name), name);
  }
});
