/**
 * deploy/prometheus: the committed alert rules are exactly the rendering of flowmark's rule
 * definitions (so Prometheus and the dashboard's alert panel cannot drift apart), and promtool
 * accepts the rules and the scrape config, from any working directory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ALERT_RULES, promDuration, renderDeployFiles } from '../../src/observability/index.ts';
import { requireService } from '../support/services.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const RULES = join(ROOT, 'deploy/prometheus/flowmark-alerts.yml');
const CONFIG = join(ROOT, 'deploy/prometheus/prometheus.yml');

function promtool(bin: string, args: string[], cwd: string) {
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('every generated deploy file equals its rendering (run node scripts/render-deploy.ts after a change)', () => {
  for (const [path, content] of renderDeployFiles()) {
    assert.equal(
      readFileSync(join(ROOT, path), 'utf8'),
      content,
      `${path} differs from its definition in src/observability: run node scripts/render-deploy.ts`,
    );
  }
});

test('node scripts/render-deploy.ts --check agrees', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/render-deploy.ts'), '--check'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
});

test('the rules file holds every rule with its expression, duration, severity and summary', () => {
  const doc = parse(readFileSync(RULES, 'utf8')) as {
    groups: { name: string; rules: { alert: string; expr: string; for: string; labels: Record<string, string> }[] }[];
  };
  const rules = doc.groups.flatMap((g) => g.rules);
  assert.deepEqual(
    rules.map((r) => [r.alert, r.expr, r.for, r.labels.severity]),
    ALERT_RULES.map((r) => [r.name, r.expr, promDuration(r.forMs), r.severity]),
  );
});

test('prometheus.yml scrapes 127.0.0.1:3000/metrics every 5 s and loads the rules file', () => {
  const doc = parse(readFileSync(CONFIG, 'utf8')) as {
    global: { scrape_interval: string };
    rule_files: string[];
    scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
  };
  assert.equal(doc.global.scrape_interval, '5s');
  assert.deepEqual(doc.rule_files, ['flowmark-alerts.yml']);
  const job = doc.scrape_configs.find((j) => j.job_name === 'flowmark');
  assert.equal(job?.metrics_path, '/metrics');
  assert.deepEqual(job?.static_configs[0]?.targets, ['127.0.0.1:3000']);
});

test('promtool check rules deploy/prometheus/flowmark-alerts.yml', (t) => {
  const bin = requireService(t, 'prometheus', 'FLOWMARK_TEST_PROMTOOL');
  if (bin === undefined) return;
  const r = promtool(bin, ['check', 'rules', 'deploy/prometheus/flowmark-alerts.yml'], ROOT);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, new RegExp(`SUCCESS: ${ALERT_RULES.length} rules found`));
});

test('promtool check config finds the rules file relative to the config, from any working directory', (t) => {
  const bin = requireService(t, 'prometheus', 'FLOWMARK_TEST_PROMTOOL');
  if (bin === undefined) return;
  const elsewhere = mkdtempSync(join(tmpdir(), 'flowmark-promtool-'));
  t.after(() => rmSync(elsewhere, { recursive: true, force: true }));
  for (const [cwd, path] of [
    [ROOT, 'deploy/prometheus/prometheus.yml'],
    [join(ROOT, 'deploy/prometheus'), 'prometheus.yml'],
    [elsewhere, CONFIG],
  ] as const) {
    const r = promtool(bin, ['check', 'config', path], cwd);
    assert.equal(r.status, 0, `from ${cwd}: ${r.out}`);
    assert.match(r.out, /SUCCESS: 1 rule files found/);
    assert.match(r.out, new RegExp(`SUCCESS: ${ALERT_RULES.length} rules found`));
  }
});

test('promtool does catch a broken rule (the checks above are not vacuous)', (t) => {
  const bin = requireService(t, 'prometheus', 'FLOWMARK_TEST_PROMTOOL');
  if (bin === undefined) return;
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-promtool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const broken = readFileSync(RULES, 'utf8').replace(
    'rate(flowmark_backpressure_seconds_total[1m])',
    'rate(flowmark_backpressure_seconds_total)',
  );
  writeFileSync(join(dir, 'broken.yml'), broken);
  const r = promtool(bin, ['check', 'rules', 'broken.yml'], dir);
  assert.notEqual(r.status, 0, r.out);
  assert.match(r.out, /FlowmarkBackpressure|range vector/);
});
