/**
 * The files of deploy/ that are generated from flowmark's own definitions, so that they cannot
 * drift from what flowmark evaluates and exposes: the Prometheus alert rules and the two Grafana
 * dashboards. `node scripts/render-deploy.ts` writes them; test/deploy checks the committed copies.
 */
import { PROMETHEUS_RULES_PATH, renderPrometheusRules } from './alert-rules.ts';
import {
  GRAFANA_DASHBOARD_PATHS,
  grafanaBusinessDashboard,
  grafanaSystemDashboard,
  renderGrafanaDashboard,
} from './grafana-dashboards.ts';

/**
 * Repository-relative path → content of every generated deploy file.
 *
 * @example [...renderDeployFiles().keys()] // ['deploy/prometheus/flowmark-alerts.yml', 'deploy/grafana/dashboards/flowmark-system.json', …]
 */
export function renderDeployFiles(): ReadonlyMap<string, string> {
  return new Map([
    [PROMETHEUS_RULES_PATH, renderPrometheusRules()],
    [GRAFANA_DASHBOARD_PATHS.system, renderGrafanaDashboard(grafanaSystemDashboard())],
    [GRAFANA_DASHBOARD_PATHS.business, renderGrafanaDashboard(grafanaBusinessDashboard())],
  ]);
}
