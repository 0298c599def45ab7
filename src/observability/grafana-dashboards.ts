/**
 * flowmark's two Grafana dashboards, as data (rendered into deploy/grafana/dashboards/ by
 * `node scripts/render-deploy.ts`; a test fails when the committed files differ):
 *
 * - **system** (Prometheus): events in/out, end-to-end latency p50/p99, watermark and consumer
 *   lag, state against its budget, checkpoints, dead letters and late events, back-pressure, the
 *   Node process, and the firing alerts of deploy/prometheus/flowmark-alerts.yml;
 * - **business** (PostgreSQL, schema `flowmark`): revenue and profit per minute, by ad source,
 *   category, failed-payment reason and customer gender (table `analytics_minute`), and the latest
 *   attributed checkouts and dead letters.
 *
 * Both pick their data source through a dashboard variable (`datasource`, `pg`) whose default is
 * the one provisioned by deploy/grafana/provisioning/datasources, so a shop can point them at its
 * own Prometheus or database without editing the JSON.
 */

/** Where the dashboards live in the repository. */
export const GRAFANA_DASHBOARD_PATHS = {
  system: 'deploy/grafana/dashboards/flowmark-system.json',
  business: 'deploy/grafana/dashboards/flowmark-business.json',
} as const;

/** The uids of the provisioned data sources (deploy/grafana/provisioning/datasources/flowmark.yml). */
export const GRAFANA_DATASOURCE_UIDS = { prometheus: 'flowmark-prometheus', postgres: 'flowmark-postgres' } as const;

type Json = Record<string, unknown>;
interface Target {
  /** PromQL (system) or SQL (business). */
  query: string;
  legend?: string;
  /** SQL only: `time_series` or `table` (default table). */
  format?: 'time_series' | 'table';
}
interface PanelSpec {
  title: string;
  type: 'timeseries' | 'stat' | 'table' | 'piechart' | 'barchart';
  targets: Target[];
  w: number;
  h: number;
  unit?: string;
  description?: string;
}

/** A reference to a Grafana dashboard variable: `v('pg')` is `${pg}`. */
const v = (name: string) => `$\{${name}}`;
const PROM = { type: 'prometheus', uid: v('datasource') };
const PG = { type: 'grafana-postgresql-datasource', uid: v('pg') };
/** The schema of flowmark's tables, from the dashboard variable `schema`. */
const SCHEMA = v('schema:raw');

/** Lays panels out left to right in rows of 24 columns. */
function layout(specs: PanelSpec[], datasource: Json, sql: boolean): Json[] {
  let x = 0;
  let y = 0;
  let rowH = 0;
  return specs.map((p, i) => {
    if (x + p.w > 24) {
      x = 0;
      y += rowH;
      rowH = 0;
    }
    const gridPos = { x, y, w: p.w, h: p.h };
    x += p.w;
    rowH = Math.max(rowH, p.h);
    const targets = p.targets.map((t, j) => {
      const refId = String.fromCharCode(65 + j);
      return sql
        ? { refId, datasource, rawQuery: true, editorMode: 'code', format: t.format ?? 'table', rawSql: t.query }
        : { refId, datasource, expr: t.query, legendFormat: t.legend ?? '__auto', range: p.type !== 'table' };
    });
    const panel: Json = {
      id: i + 1,
      type: p.type,
      title: p.title,
      datasource,
      gridPos,
      targets,
      fieldConfig: { defaults: p.unit === undefined ? {} : { unit: p.unit }, overrides: [] },
      options: p.type === 'stat' ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } } : {},
    };
    if (p.description !== undefined) panel.description = p.description;
    return panel;
  });
}

function dashboard(o: {
  uid: string;
  title: string;
  description: string;
  refresh: string;
  variables: Json[];
  panels: Json[];
}): Json {
  return {
    uid: o.uid,
    title: o.title,
    description: o.description,
    tags: ['flowmark'],
    editable: true,
    schemaVersion: 39,
    version: 1,
    refresh: o.refresh,
    time: { from: 'now-1h', to: 'now' },
    timezone: 'browser',
    annotations: { list: [] },
    templating: { list: o.variables },
    panels: o.panels,
  };
}

function datasourceVariable(name: string, label: string, plugin: string, uid: string, text: string): Json {
  return { name, label, type: 'datasource', query: plugin, current: { text, value: uid }, hide: 0, refresh: 1 };
}

/** A flowmark series selector restricted to the chosen instances. */
const m = (name: string, labels = '') => `${name}{instance=~"$instance"${labels === '' ? '' : `, ${labels}`}}`;
const quantile = (q: number, histogram: string) =>
  `histogram_quantile(${q}, sum by (le) (rate(${m(`${histogram}_bucket`)}[1m])))`;

/** The system dashboard (Prometheus). */
export function grafanaSystemDashboard(): Json {
  const specs: PanelSpec[] = [
    {
      title: 'Events in /s',
      type: 'stat',
      w: 4,
      h: 4,
      unit: 'reqps',
      targets: [{ query: `sum(rate(${m('flowmark_events_in_total')}[1m]))` }],
    },
    {
      title: 'Rows out /s',
      type: 'stat',
      w: 4,
      h: 4,
      unit: 'reqps',
      targets: [{ query: `sum(rate(${m('flowmark_events_out_total')}[1m]))` }],
    },
    {
      title: 'Latency p99',
      type: 'stat',
      w: 4,
      h: 4,
      unit: 's',
      targets: [{ query: quantile(0.99, 'flowmark_end_to_end_latency_seconds') }],
    },
    {
      title: 'Watermark lag (attribute)',
      type: 'stat',
      w: 4,
      h: 4,
      unit: 's',
      targets: [{ query: `max(${m('flowmark_watermark_lag_seconds', 'operator="attribute"')})` }],
    },
    {
      title: 'Consumer lag',
      type: 'stat',
      w: 4,
      h: 4,
      unit: 'short',
      targets: [{ query: `sum(${m('flowmark_consumer_lag_records')})` }],
    },
    {
      title: 'Since last checkpoint',
      type: 'stat',
      w: 4,
      h: 4,
      unit: 's',
      targets: [{ query: `time() - max(${m('flowmark_last_checkpoint_timestamp_seconds')})` }],
    },
    {
      title: 'Events in and rows out per second',
      type: 'timeseries',
      w: 12,
      h: 8,
      unit: 'reqps',
      targets: [
        { query: `sum by (source) (rate(${m('flowmark_events_in_total')}[1m]))`, legend: 'in: {{source}}' },
        { query: `sum by (sink) (rate(${m('flowmark_events_out_total')}[1m]))`, legend: 'out: {{sink}}' },
      ],
    },
    {
      title: 'End-to-end latency (queue → database)',
      type: 'timeseries',
      w: 12,
      h: 8,
      unit: 's',
      description: 'From arrival in the queue to the commit of the checkpoint that covers the record.',
      targets: [
        { query: quantile(0.5, 'flowmark_end_to_end_latency_seconds'), legend: 'p50' },
        { query: quantile(0.99, 'flowmark_end_to_end_latency_seconds'), legend: 'p99' },
      ],
    },
    {
      title: 'Watermark lag per step',
      type: 'timeseries',
      w: 12,
      h: 8,
      unit: 's',
      targets: [{ query: `max by (operator) (${m('flowmark_watermark_lag_seconds')})`, legend: '{{operator}}' }],
    },
    {
      title: 'Consumer lag (records not read yet)',
      type: 'timeseries',
      w: 12,
      h: 8,
      unit: 'short',
      targets: [{ query: `sum by (source) (${m('flowmark_consumer_lag_records')})`, legend: '{{source}}' }],
    },
    {
      title: 'State bytes',
      type: 'timeseries',
      w: 12,
      h: 8,
      unit: 'bytes',
      targets: [
        { query: `sum by (operator) (${m('flowmark_state_bytes')})`, legend: '{{operator}}' },
        { query: `max(${m('flowmark_state_bytes_budget')})`, legend: 'budget' },
      ],
    },
    {
      title: 'State entries',
      type: 'timeseries',
      w: 12,
      h: 8,
      unit: 'short',
      targets: [{ query: `sum by (operator) (${m('flowmark_state_entries')})`, legend: '{{operator}}' }],
    },
    {
      title: 'Checkpoint duration',
      type: 'timeseries',
      w: 12,
      h: 8,
      unit: 's',
      targets: [
        { query: quantile(0.5, 'flowmark_checkpoint_duration_seconds'), legend: 'p50' },
        { query: quantile(0.99, 'flowmark_checkpoint_duration_seconds'), legend: 'p99' },
        { query: `max(${m('flowmark_checkpoint_interval_seconds')})`, legend: 'interval' },
      ],
    },
    {
      title: 'Checkpoints per second and failed commits',
      type: 'timeseries',
      w: 12,
      h: 8,
      unit: 'short',
      targets: [
        { query: `sum(rate(${m('flowmark_checkpoint_duration_seconds_count')}[1m]))`, legend: 'checkpoints/s' },
        {
          query: `sum(rate(${m('flowmark_checkpoint_commit_retries_total')}[1m]))`,
          legend: 'failed commits/s (retried)',
        },
      ],
    },
    {
      title: 'Dead letters and late events per second',
      type: 'timeseries',
      w: 12,
      h: 8,
      unit: 'reqps',
      targets: [
        { query: `sum(rate(${m('flowmark_dead_letters_total')}[5m]))`, legend: 'dead letters' },
        { query: `sum by (operator) (rate(${m('flowmark_late_events_total')}[5m]))`, legend: 'late at {{operator}}' },
        {
          query: `sum by (source) (rate(${m('flowmark_source_invalid_records_total')}[5m]))`,
          legend: 'undecodable at {{source}}',
        },
      ],
    },
    {
      title: 'Back-pressure (share of time waiting for sinks or look-ups)',
      type: 'timeseries',
      w: 12,
      h: 8,
      unit: 'percentunit',
      targets: [{ query: `sum(rate(${m('flowmark_backpressure_seconds_total')}[1m]))`, legend: 'waiting' }],
    },
    {
      title: 'Process memory',
      type: 'timeseries',
      w: 8,
      h: 8,
      unit: 'bytes',
      targets: [
        { query: m('process_resident_memory_bytes'), legend: 'resident' },
        { query: m('nodejs_heap_size_used_bytes'), legend: 'heap used' },
      ],
    },
    {
      title: 'Process CPU',
      type: 'timeseries',
      w: 8,
      h: 8,
      unit: 'percentunit',
      targets: [{ query: `rate(${m('process_cpu_seconds_total')}[1m])`, legend: '{{instance}}' }],
    },
    {
      title: 'Event loop lag p99',
      type: 'timeseries',
      w: 8,
      h: 8,
      unit: 's',
      targets: [{ query: m('nodejs_eventloop_lag_p99_seconds'), legend: '{{instance}}' }],
    },
    {
      title: 'Alerts firing (deploy/prometheus/flowmark-alerts.yml)',
      type: 'table',
      w: 24,
      h: 6,
      targets: [{ query: 'ALERTS{alertname=~"Flowmark.*", alertstate="firing"}' }],
    },
  ];
  return dashboard({
    uid: 'flowmark-system',
    title: 'flowmark — system',
    description: 'Throughput, latency, watermarks, lag, state and checkpoints of flowmark (Prometheus).',
    refresh: '5s',
    variables: [
      datasourceVariable(
        'datasource',
        'Prometheus',
        'prometheus',
        GRAFANA_DATASOURCE_UIDS.prometheus,
        'flowmark Prometheus',
      ),
      {
        name: 'instance',
        label: 'Instance',
        type: 'query',
        datasource: PROM,
        query: { query: 'label_values(flowmark_events_in_total, instance)', refId: 'instances' },
        definition: 'label_values(flowmark_events_in_total, instance)',
        includeAll: true,
        multi: true,
        allValue: '.*',
        current: { text: 'All', value: '$__all' },
        refresh: 2,
        hide: 0,
      },
    ],
    panels: layout(specs, PROM, false),
  });
}

/** The business dashboard (PostgreSQL tables of schema `$schema`, default flowmark). */
export function grafanaBusinessDashboard(): Json {
  const byDimension = (dimension: string, measure: string) =>
    `SELECT value AS "${dimension}", sum(${measure}) AS "${measure}"\n` +
    `FROM ${SCHEMA}.analytics_minute\n` +
    `WHERE dimension = '${dimension}' AND $__timeFilter(window_start)\n` +
    `GROUP BY value ORDER BY 2 DESC`;
  const specs: PanelSpec[] = [
    ...(['revenue', 'profit', 'checkouts'] as const).map(
      (measure): PanelSpec => ({
        title: `${measure[0]?.toUpperCase()}${measure.slice(1)} (time range)`,
        type: 'stat',
        w: 8,
        h: 4,
        ...(measure === 'checkouts' ? { unit: 'short' } : { unit: 'currencyUSD' }),
        targets: [
          {
            query:
              `SELECT coalesce(sum(${measure}), 0) AS "${measure}" FROM ${SCHEMA}.analytics_minute\n` +
              `WHERE dimension = 'total' AND $__timeFilter(window_start)`,
          },
        ],
      }),
    ),
    {
      title: 'Revenue and profit per minute',
      type: 'timeseries',
      w: 24,
      h: 8,
      unit: 'currencyUSD',
      description: 'Final results per 1-minute event-time window (analytics_minute, dimension total).',
      targets: [
        {
          query:
            `SELECT window_start AS "time", sum(revenue) AS revenue, sum(profit) AS profit\nFROM ${SCHEMA}.analytics_minute\n` +
            "WHERE dimension = 'total' AND $__timeFilter(window_start)\nGROUP BY 1 ORDER BY 1",
          format: 'time_series',
        },
      ],
    },
    {
      title: 'Revenue by ad source (attributed click)',
      type: 'barchart',
      w: 12,
      h: 8,
      unit: 'currencyUSD',
      targets: [{ query: byDimension('source', 'revenue') }],
    },
    {
      title: 'Revenue by category',
      type: 'barchart',
      w: 12,
      h: 8,
      unit: 'currencyUSD',
      targets: [{ query: byDimension('category', 'revenue') }],
    },
    {
      title: 'Failed payments by reason',
      type: 'piechart',
      w: 12,
      h: 8,
      unit: 'short',
      targets: [{ query: byDimension('failed_reason', 'checkouts') }],
    },
    {
      title: 'Checkouts by customer gender',
      type: 'piechart',
      w: 12,
      h: 8,
      unit: 'short',
      targets: [{ query: byDimension('gender', 'checkouts') }],
    },
    {
      title: 'Latest attributed checkouts',
      type: 'table',
      w: 24,
      h: 10,
      targets: [
        {
          query:
            'SELECT checkout_time, checkout_id, user_name, product_name, product_category, click_source,\n' +
            '  click_time, order_value, revenue, profit, payment_status, is_final\n' +
            `FROM ${SCHEMA}.attributed_checkouts\nORDER BY checkout_time DESC\nLIMIT 50`,
        },
      ],
    },
    {
      title: 'Dead letters by reason',
      type: 'table',
      w: 24,
      h: 6,
      targets: [
        {
          query:
            'SELECT reason, source, count(*) AS "rows", max(received_at) AS "last received"\n' +
            `FROM ${SCHEMA}.dead_letters\nWHERE $__timeFilter(received_at)\nGROUP BY reason, source ORDER BY 3 DESC`,
        },
      ],
    },
  ];
  return dashboard({
    uid: 'flowmark-business',
    title: 'flowmark — business',
    description: 'Revenue, profit, ad sources, categories, failed payments and customers (PostgreSQL).',
    refresh: '30s',
    variables: [
      datasourceVariable(
        'pg',
        'PostgreSQL',
        'grafana-postgresql-datasource',
        GRAFANA_DATASOURCE_UIDS.postgres,
        'flowmark PostgreSQL',
      ),
      {
        name: 'schema',
        label: 'Schema',
        type: 'textbox',
        query: 'flowmark',
        current: { text: 'flowmark', value: 'flowmark' },
        hide: 0,
      },
    ],
    panels: layout(specs, PG, true),
  });
}

/** A dashboard as its committed file: JSON with two-space indentation and a final newline. */
export function renderGrafanaDashboard(dashboardJson: Json): string {
  return `${JSON.stringify(dashboardJson, null, 2)}\n`;
}
