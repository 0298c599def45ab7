/**
 * The public entry of the observability layer: Prometheus metrics for the engine, the job monitor
 * (status, health, alerts) the HTTP server serves, and the alert rules shared with Prometheus.
 * It imports the engine only (ARCHITECTURE §2).
 */
export {
  ALERT_RULES,
  ALERT_THRESHOLDS,
  type AlertContext,
  AlertEvaluator,
  type AlertRule,
  PROMETHEUS_RULES_PATH,
  promDuration,
  renderPrometheusRules,
  WATCHED_STEP,
} from './alert-rules.ts';
export { type CombinableRuntime, combinedRuntime, combineStats } from './combined-runtime.ts';
export { renderDeployFiles } from './deploy-files.ts';
export {
  GRAFANA_DASHBOARD_PATHS,
  GRAFANA_DATASOURCE_UIDS,
  grafanaBusinessDashboard,
  grafanaSystemDashboard,
  renderGrafanaDashboard,
} from './grafana-dashboards.ts';
export {
  createJobMonitor,
  DEFAULT_STATE_BYTES_BUDGET,
  DEFAULT_WATERMARK_STALL_MS,
  type JobMonitorOptions,
  LATENCY_METRIC,
  type MonitoredRuntime,
  type RuntimeJobMonitor,
} from './job-monitor.ts';
export type { MonitorSample } from './monitor-sample.ts';
export type { ActiveAlert, HealthReport, JobMonitor, PipelineStatus } from './monitor-types.ts';
export {
  createPrometheusMetrics,
  DEAD_LETTERS_METRIC,
  DEFAULT_DEAD_LETTER_SINK,
  EVENTS_OUT_METRIC,
  type ObservationListener,
  type PrometheusMetrics,
  type PrometheusMetricsOptions,
} from './prometheus-registry.ts';
