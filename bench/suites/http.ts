/**
 * The HTTP server: node:http (src/server, what flowmark ships) against Fastify (a devDependency,
 * only here) serving the same two routes with the same handlers, measured side by side in one run:
 * requests per second and latency percentiles of `GET /metrics` (the prom-client exposition of a
 * registry filled as a running pipeline fills it) and `GET /api/summary` (the dashboard's summary
 * over a PGlite with one hour of analytics, through the server's one-second cache, as served).
 *
 * The load comes from a worker thread (bench/support/workers/http-load.ts): keep-alive connections, each
 * sending its next request as soon as the answer is read. Rounds alternate the servers so that a
 * noisy neighbour hurts both alike; the median round is reported.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import Fastify from 'fastify';
import { buildAttributionPipeline } from '../../src/attribution/attribution-pipeline.ts';
import { outputMigrations } from '../../src/attribution/output-schema.ts';
import { MemorySource } from '../../src/connectors/memory/memory-source.ts';
import { PgliteClient } from '../../src/connectors/pglite/pglite-client.ts';
import { runMigrations } from '../../src/connectors/sql/index.ts';
import { engineMetrics, systemClock } from '../../src/engine/index.ts';
import { createPrometheusMetrics } from '../../src/observability/index.ts';
import type { JobMonitor } from '../../src/observability/monitor-types.ts';
import { querySummary, SummaryCache, startHttpServer } from '../../src/server/index.ts';
import { BENCH_ATTRIBUTION } from '../support/data-sets.ts';
import { type BenchResult, fmt, median } from '../support/report.ts';
import type { LoadJob, LoadResult } from '../support/workers/http-load.ts';

export interface HttpBenchOptions {
  connections?: number;
  seconds?: number;
  rounds?: number;
}

const ROUTES = ['/metrics', '/api/summary'] as const;
/** The step ids of the attribution pipeline as a live job builds it (one series per step, as it reports them). */
const STEPS = buildAttributionPipeline(
  { clicks: MemorySource.of<string>([]), checkouts: MemorySource.of<string>([]) },
  { users: async () => new Map(), products: async () => new Map() },
  BENCH_ATTRIBUTION,
  systemClock,
)
  .nodes()
  .map((n) => n.id);

/** A registry holding what a running attribution pipeline reports (same names, labels, series). */
function pipelineMetrics() {
  const metrics = createPrometheusMetrics();
  const m = engineMetrics(metrics);
  for (const [i, id] of STEPS.entries()) {
    const op = { operator: id };
    m.recordsIn.inc(op, 100_000 + i);
    m.recordsOut.inc({ operator: id, output: 'out' }, 99_000 + i);
    m.watermarkMs.set(op, 1_772_355_600_000);
    m.watermarkLagSeconds.set(op, 17.5);
    m.stateEntries.set(op, 1000 * i);
    m.stateBytes.set(op, 64_000 * i);
  }
  for (const s of ['clicks', 'checkouts']) {
    m.eventsIn.inc({ source: s }, 1_000_000);
    m.consumerLagRecords.set({ source: s }, 12);
  }
  for (const sink of ['attributed_checkouts', 'attribution_credits', 'analytics_minute', 'dead_letters']) {
    m.eventsOut.inc({ sink }, 10_000);
  }
  for (let i = 0; i < 5000; i++) {
    m.endToEndLatencySeconds.observe({}, 0.2 + (i % 50) / 40);
    if (i % 10 === 0) m.checkpointDurationSeconds.observe({}, 0.01 + (i % 7) / 100);
  }
  return metrics;
}

/** One hour of analytics windows and 5 000 checkouts, as the demo writes them. */
async function filledDatabase(): Promise<PgliteClient> {
  const db = new PgliteClient(await PGlite.create());
  await runMigrations(db, 'flowmark', outputMigrations('flowmark'));
  await db.exec(`
    INSERT INTO flowmark.analytics_minute (window_start, dimension, value, checkouts, revenue, profit)
    SELECT timestamptz '2026-03-01 09:00:00Z' + make_interval(mins => m), d.dimension, d.value,
           1 + (m * 7 + d.n) % 9, round(((m * 13 + d.n * 31) % 400 + 20)::numeric, 2),
           round(((m * 13 + d.n * 31) % 400 + 20)::numeric * 0.12, 2)
      FROM generate_series(0, 59) AS m,
           (SELECT 'total' AS dimension, 'all' AS value, 0 AS n
            UNION ALL SELECT 'source', s, row_number() OVER () FROM unnest(ARRAY['google_ads','organic','facebook',
              'instagram','tiktok_ads','direct','email','affiliate','youtube_ads','bing_ads','pinterest_ads','none']) s
            UNION ALL SELECT 'category', c, 20 + row_number() OVER () FROM unnest(ARRAY['Electronics','Home & Kitchen',
              'Clothing','Jewelry','Pet Supplies','Sports & Outdoors','Automotive','Toys & Games','Books','Garden',
              'Beauty','Health','Office','Grocery']) c
            UNION ALL SELECT 'failed_reason', r, 40 + row_number() OVER () FROM unnest(ARRAY['Card Declined',
              'Insufficient Funds','Card Expired','Incorrect CVV','Fraud Suspected','unspecified']) r
            UNION ALL SELECT 'gender', g, 50 + row_number() OVER () FROM unnest(ARRAY['female','male','non-binary',
              'unknown']) g) AS d;
    INSERT INTO flowmark.attributed_checkouts (checkout_id, user_id, product_id, quantity, discount, shipping_cost,
      payment_status, user_name, user_gender, product_name, product_category, click_source, checkout_time,
      order_value, revenue, profit, attribution_model, is_final)
    SELECT 'c' || i, 'u' || (i % 1000), 'p' || (i % 200), 1, 0, 4.99, 'success', 'User ' || i, 'female',
           'Product ' || (i % 200), 'Books', 'email', timestamptz '2026-03-01 09:00:00Z' + make_interval(secs => i * 0.72),
           24.99, 24.99, 3.5, 'first_click', true
      FROM generate_series(1, 5000) AS i;`);
  return db;
}

function load(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('../support/workers/http-load.ts', import.meta.url), { workerData: job });
    worker.once('message', (r: LoadResult) => {
      resolve(r);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export async function httpBenchmarks(options: HttpBenchOptions = {}): Promise<BenchResult[]> {
  const connections = options.connections ?? 32;
  const seconds = options.seconds ?? 3;
  const rounds = options.rounds ?? 3;
  const metrics = pipelineMetrics();
  const db = await filledDatabase();
  // A job with no watermark yet: the summary's bound of real data is the wall clock, as Fastify's
  // SummaryCache below has it by default (the same summary from both servers).
  const monitor: JobMonitor = {
    status: () => ({
      atMs: Date.now(),
      eventsInPerSecond: 0,
      eventsInTotal: 0,
      rowsOutTotal: 0,
      latencyP50Seconds: null,
      latencyP99Seconds: null,
      watermarkLagSeconds: null,
      consumerLagRecords: null,
      stateEntries: 0,
      stateBytes: 0,
      lateEventsTotal: 0,
      deadLettersTotal: 0,
      lastCheckpointAgeSeconds: null,
      checkpointId: 0,
    }),
    health: () => ({ ok: true, reasons: [] }),
    alerts: () => [],
    metricsText: () => metrics.metricsText(),
    metricsContentType: metrics.contentType,
  };

  // What the summary costs without the cache: the four statements on PGlite.
  const uncached: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    await querySummary(db);
    uncached.push(performance.now() - t0);
  }

  const node = await startHttpServer({ port: 0, monitor, db });
  const summaries = new SummaryCache(db);
  const fastify = Fastify({ logger: false });
  fastify.get('/metrics', async (_req, reply) => {
    const text = await monitor.metricsText();
    return reply.type(monitor.metricsContentType).header('Cache-Control', 'no-store').send(text);
  });
  fastify.get('/api/summary', async (_req, reply) => {
    const s = await summaries.get(1000);
    return reply.type('application/json; charset=utf-8').header('Cache-Control', 'no-store').send(s.json);
  });
  const fastifyUrl = await fastify.listen({ port: 0, host: '127.0.0.1' });
  const servers = { 'node:http': node.url.replace(/\/$/, ''), fastify: fastifyUrl };

  const sizes: Record<string, number> = {};
  for (const route of ROUTES) sizes[route] = (await (await fetch(`${servers['node:http']}${route}`)).text()).length;

  type Key = `${string} ${string}`;
  const runs = new Map<Key, Array<{ rps: number; p50: number; p99: number; errors: number }>>();
  try {
    for (const base of Object.values(servers)) {
      for (const route of ROUTES) await load({ url: `${base}${route}`, connections, seconds: 0.5 }); // warm-up
    }
    for (let r = 0; r < rounds; r++) {
      for (const route of ROUTES) {
        for (const [name, base] of Object.entries(servers)) {
          const res = await load({ url: `${base}${route}`, connections, seconds });
          const sorted = res.latenciesMs.sort((a, b) => a - b);
          const key: Key = `${name} ${route}`;
          const list = runs.get(key) ?? [];
          list.push({
            rps: res.requests / res.seconds,
            p50: percentile(sorted, 50),
            p99: percentile(sorted, 99),
            errors: res.errors,
          });
          runs.set(key, list);
        }
      }
    }
  } finally {
    await node.close();
    await fastify.close();
    await db.close();
  }

  const figures: Record<string, number> = { connections, seconds, rounds };
  const rows: BenchResult['rows'] = [
    ['load', `${connections} keep-alive connections × ${seconds} s per run, ${rounds} rounds, median round`],
  ];
  for (const route of ROUTES) {
    const slug = route === '/metrics' ? 'metrics' : 'summary';
    const get = (name: string) => {
      const list = runs.get(`${name} ${route}`) ?? [];
      return {
        rps: median(list.map((x) => x.rps)),
        p50: median(list.map((x) => x.p50)),
        p99: median(list.map((x) => x.p99)),
        errors: list.reduce((n, x) => n + x.errors, 0),
      };
    };
    const n = get('node:http');
    const f = get('fastify');
    figures[`${slug}_node_rps`] = n.rps;
    figures[`${slug}_fastify_rps`] = f.rps;
    figures[`${slug}_node_p99_ms`] = n.p99;
    figures[`${slug}_fastify_p99_ms`] = f.p99;
    figures[`${slug}_fastify_over_node_rps`] = f.rps / n.rps;
    rows.push(
      [
        `GET ${route} (${fmt(sizes[route] ?? 0)}B) node:http`,
        `${fmt(n.rps)} req/s, p50 ${n.p50.toFixed(2)} ms, p99 ${n.p99.toFixed(2)} ms`,
      ],
      [`GET ${route} fastify`, `${fmt(f.rps)} req/s, p50 ${f.p50.toFixed(2)} ms, p99 ${f.p99.toFixed(2)} ms`],
      [`GET ${route} fastify / node:http`, `${(f.rps / n.rps).toFixed(2)}× req/s, ${(f.p99 / n.p99).toFixed(2)}× p99`],
    );
    if (n.errors + f.errors > 0) rows.push([`GET ${route} errors`, `node:http ${n.errors}, fastify ${f.errors}`]);
  }
  const q = uncached.sort((a, b) => a - b);
  figures.summary_query_ms_p50 = percentile(q, 50);
  rows.push([
    'summary without the cache (4 statements, PGlite)',
    `p50 ${percentile(q, 50).toFixed(2)} ms, p99 ${percentile(q, 99).toFixed(2)} ms per summary`,
  ]);
  return [{ name: 'http: node:http (shipped) vs Fastify, same handlers', figures, rows }];
}
