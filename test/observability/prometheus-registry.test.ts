import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Gauge, Registry } from 'prom-client';
import { MemoryCommitter } from '../../src/connectors/memory/memory-committer.ts';
import { ManualClock } from '../../src/engine/index.ts';
import { createPrometheusMetrics } from '../../src/observability/index.ts';
import { shopJob, shopLines } from './observability-fixtures.ts';

/** `name{labels} value` lines of the text exposition, without comments. */
function samples(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

function value(text: string, series: string): number | undefined {
  const line = samples(text).find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('a real run: the engine metrics reach the prom-client registry, with Node process metrics', async () => {
  const clock = new ManualClock(Date.UTC(2026, 2, 1));
  const lines = shopLines(2000);
  const job = shopJob({ clock, lines });
  await job.runtime.run();
  const text = await job.metrics.metricsText();
  assert.equal(value(text, 'flowmark_events_in_total{source="events"}'), lines.length);
  const committer = job.committer as MemoryCommitter;
  const dead = committer.rows('dead_letters').length;
  assert.ok(dead > 0, 'the generated traffic has bad lines');
  assert.equal(value(text, 'flowmark_events_out_total{sink="dead_letters"}'), dead);
  assert.equal(
    value(text, 'flowmark_dead_letters_total'),
    dead,
    'dead letters = committed rows of the dead_letters sink',
  );
  assert.equal(
    value(text, 'flowmark_events_out_total{sink="attributed_checkouts"}'),
    committer.rows('attributed_checkouts').length,
  );
  assert.ok((value(text, 'flowmark_end_to_end_latency_seconds_count') ?? 0) > 0);
  assert.ok((value(text, 'process_start_time_seconds') ?? 0) > 0, 'collectDefaultMetrics');
  assert.match(text, /^nodejs_heap_size_used_bytes \d/m);
  assert.equal(job.metrics.contentType, 'text/plain; version=0.0.4; charset=utf-8');
});

test('several runtimes on one registry reuse the metrics: no duplicate-registration error, counters add up', async () => {
  const metrics = createPrometheusMetrics();
  const clock = new ManualClock(Date.UTC(2026, 2, 1));
  const a = shopJob({ clock, metrics, lines: shopLines(500, 1) });
  const b = shopJob({ clock, metrics, lines: shopLines(700, 2) });
  await a.runtime.run();
  await b.runtime.run();
  assert.equal(metrics.read('flowmark_events_in_total'), 1200);
  assert.equal(value(await metrics.metricsText(), 'flowmark_events_in_total{source="events"}'), 1200);
});

test('two bindings of one prom-client Registry share its metrics; the process metrics are registered once', async () => {
  const register = new Registry();
  const a = createPrometheusMetrics({ register });
  const b = createPrometheusMetrics({ register });
  a.counter('flowmark_events_in_total', 'in', ['source']).inc({ source: 's' }, 2);
  b.counter('flowmark_events_in_total', 'in', ['source']).inc({ source: 's' }, 3);
  const text = await register.metrics();
  assert.equal(value(text, 'flowmark_events_in_total{source="s"}'), 5);
  assert.equal(samples(text).filter((l) => l.startsWith('process_start_time_seconds')).length, 1);
  register.registerMetric(new Gauge({ name: 'taken', help: 'by someone else', registers: [] }));
  assert.throws(() => b.counter('taken', 'mine', []), /already in the prom-client registry with another type/);
});

test('asking for a name again with another type or other labels is refused; the same shape is reused', () => {
  const metrics = createPrometheusMetrics({ defaultMetrics: false });
  const c1 = metrics.counter('x_total', 'x', ['a']);
  const c2 = metrics.counter('x_total', 'x', ['a']);
  c1.inc({ a: '1' }, 2);
  c2.inc({ a: '1' }, 3);
  assert.equal(metrics.read('x_total', { a: '1' }), 5);
  assert.throws(() => metrics.gauge('x_total', 'x', ['a']), /already registered as a counter/);
  assert.throws(() => metrics.counter('x_total', 'x', ['b']), /with labels \[a\]/);
});

test('read() sums the series that match; a negative counter increment is dropped, not thrown', () => {
  const metrics = createPrometheusMetrics({ defaultMetrics: false });
  const g = metrics.gauge('lag', 'lag', ['source']);
  assert.equal(metrics.read('lag'), undefined, 'never written');
  g.set({ source: 'clicks' }, 10);
  g.set({ source: 'checkouts' }, 5);
  g.set({ source: 'clicks' }, 7);
  assert.equal(metrics.read('lag'), 12);
  assert.equal(metrics.read('lag', { source: 'checkouts' }), 5);
  const c = metrics.counter('n_total', 'n', []);
  c.inc({}, 4);
  c.inc({}, -1);
  c.inc({}, Number.NaN);
  assert.equal(metrics.read('n_total'), 4);
});

test('onObserve hears every histogram observation until unsubscribed; dead letters follow a configured sink', () => {
  const metrics = createPrometheusMetrics({ defaultMetrics: false, deadLetterSink: 'rejects' });
  const heard: number[] = [];
  const stop = metrics.onObserve('h_seconds', (_l, v) => heard.push(v));
  const h = metrics.histogram('h_seconds', 'h', [], [0.1, 1]);
  h.observe({}, 0.5);
  stop();
  h.observe({}, 0.7);
  assert.deepEqual(heard, [0.5]);
  const out = metrics.counter('flowmark_events_out_total', 'rows', ['sink']);
  out.inc({ sink: 'rejects' }, 3);
  out.inc({ sink: 'dead_letters' }, 9);
  assert.equal(metrics.read('flowmark_dead_letters_total'), 3);
});

test('runtime with a MemoryCommitter of its own: the fixture is a real job (sanity)', async () => {
  const committer = new MemoryCommitter();
  const job = shopJob({ clock: new ManualClock(Date.UTC(2026, 2, 1)), committer, lines: shopLines(300) });
  const summary = await job.runtime.run();
  assert.equal(summary.recordsRead, 300);
  assert.ok(committer.commits > 0);
});
