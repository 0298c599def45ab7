/**
 * deploy/grafana: the dashboards parse and are well formed, their data sources are the provisioned
 * ones (with no password in the repository), and every SQL query of the business dashboard runs
 * against flowmark's real tables filled by a real attribution run (PGlite), with Grafana's macros
 * expanded as Grafana does.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ANALYTICS_DIMENSIONS, outputMigrations, SINK_TABLES } from '../../src/attribution/output-schema.ts';
import { runMigrations } from '../../src/connectors/sql/migrations.ts';
import { SqlCommitter } from '../../src/connectors/sql/sql-committer.ts';
import { ManualClock } from '../../src/engine/index.ts';
import { GRAFANA_DASHBOARD_PATHS, GRAFANA_DATASOURCE_UIDS } from '../../src/observability/index.ts';
import { sharedPglite } from '../connectors/pglite/pglite-fixtures.ts';
import { shopJob, shopLines } from '../observability/observability-fixtures.ts';

/** A Grafana/environment placeholder: `placeholder('x')` is `${x}`. */
const placeholder = (name: string) => `$\{${name}}`;
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: { refId: string; expr?: string; rawSql?: string; format?: string }[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown; current: { value: string } }[] };
}

function dashboard(path: string): Dashboard {
  return JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as Dashboard;
}

const provisioning = parse(
  readFileSync(join(ROOT, 'deploy/grafana/provisioning/datasources/flowmark.yml'), 'utf8'),
) as {
  datasources: { name: string; uid: string; type: string; url: string; secureJsonData?: Record<string, string> }[];
};

test('both dashboards parse, with unique uids and panel ids, inside the 24-column grid, each panel with queries', () => {
  const all = Object.values(GRAFANA_DASHBOARD_PATHS).map(dashboard);
  assert.equal(new Set(all.map((d) => d.uid)).size, all.length);
  for (const d of all) {
    assert.equal(new Set(d.panels.map((p) => p.id)).size, d.panels.length, d.uid);
    for (const p of d.panels) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${d.uid}: ${p.title}`);
      assert.ok(p.targets.length > 0, `${d.uid}: ${p.title} has queries`);
      for (const t of p.targets) assert.ok((t.expr ?? t.rawSql ?? '') !== '', `${d.uid}: ${p.title} ${t.refId}`);
    }
  }
});

test('the dashboards use the provisioned data sources through a variable, defaulting to their uids', () => {
  const byUid = new Map(provisioning.datasources.map((d) => [d.uid, d]));
  for (const [path, variable, type] of [
    [GRAFANA_DASHBOARD_PATHS.system, 'datasource', 'prometheus'],
    [GRAFANA_DASHBOARD_PATHS.business, 'pg', 'grafana-postgresql-datasource'],
  ] as const) {
    const d = dashboard(path);
    const v = d.templating.list.find((x) => x.name === variable);
    assert.ok(v !== undefined && v.type === 'datasource' && v.query === type, `${d.uid}: variable ${variable}`);
    assert.equal(byUid.get(v.current.value)?.type, type, `${d.uid}: its default is a provisioned ${type} source`);
    for (const p of d.panels) assert.equal(p.datasource.uid, `\${${variable}}`, `${d.uid}: ${p.title}`);
  }
  assert.deepEqual(provisioning.datasources.map((d) => d.uid).sort(), Object.values(GRAFANA_DATASOURCE_UIDS).sort());
});

test('no password or address is written in the data source provisioning: they come from the environment', () => {
  const pg = provisioning.datasources.find((d) => d.uid === GRAFANA_DATASOURCE_UIDS.postgres);
  assert.ok(pg?.secureJsonData !== undefined);
  assert.deepEqual(pg.secureJsonData, { password: placeholder('FLOWMARK_PG_PASSWORD') });
  assert.equal(pg.url, `${placeholder('FLOWMARK_PG_HOST')}:${placeholder('FLOWMARK_PG_PORT')}`);
  const text = readFileSync(join(ROOT, 'deploy/grafana/provisioning/datasources/flowmark.yml'), 'utf8');
  for (const line of text.split('\n').filter((l) => /^\s+(password|user|database|url):/.test(l))) {
    assert.match(line, /\$\{FLOWMARK_\w+\}/, `from the environment: ${line.trim()}`);
  }
  const providers = parse(readFileSync(join(ROOT, 'deploy/grafana/provisioning/dashboards/flowmark.yml'), 'utf8')) as {
    providers: { type: string; options: { path: string } }[];
  };
  assert.equal(providers.providers[0]?.type, 'file');
});

/** Grafana's SQL macros and variables, expanded as Grafana would for "the last 10 years". */
function expand(sql: string): string {
  return sql
    .replaceAll(placeholder('schema:raw'), 'flowmark')
    .replace(
      /\$__timeFilter\((\w+)\)/g,
      (_m, col: string) => `${col} BETWEEN '2020-01-01T00:00:00Z'::timestamptz AND '2030-01-01T00:00:00Z'::timestamptz`,
    );
}

test('every SQL query of the business dashboard runs on the real tables after a real run, and finds rows', async () => {
  const db = await sharedPglite();
  await runMigrations(db, 'flowmark', outputMigrations('flowmark'));
  const committer = new SqlCommitter(db, { schema: 'flowmark', job: 'grafana-test', sinks: SINK_TABLES });
  const job = shopJob({ clock: new ManualClock(Date.UTC(2026, 2, 1)), lines: shopLines(4000), committer });
  await job.runtime.run();

  const d = dashboard(GRAFANA_DASHBOARD_PATHS.business);
  const dimensions = new Set<string>();
  for (const p of d.panels) {
    for (const t of p.targets) {
      const sql = t.rawSql as string;
      for (const m of sql.matchAll(/dimension = '(\w+)'/g)) dimensions.add(m[1] as string);
      const result = await db.query(expand(sql));
      assert.ok(result.rows.length > 0, `${p.title}: no rows from\n${expand(sql)}`);
      if (t.format === 'time_series') assert.ok('time' in (result.rows[0] as object), `${p.title}: a time column`);
    }
  }
  assert.deepEqual([...dimensions].sort(), [...ANALYTICS_DIMENSIONS].sort(), 'every breakdown has a panel');
});
