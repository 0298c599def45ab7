/**
 * A real Prometheus server for a test: its own config (1 s scrape and evaluation intervals), a
 * free port on 127.0.0.1 and a temp directory; stopped (SIGTERM, awaited) and removed in
 * `t.after`. The binary comes from FLOWMARK_TEST_PROMETHEUS (scripts/services.sh prometheus):
 * without it the test is skipped loudly, or fails under CI.
 *
 * @example
 * const prom = await startPrometheus(t, { targets: ['127.0.0.1:3000'] });
 * if (prom === undefined) return; // skipped
 * await prom.waitFor('flowmark_events_in_total', (r) => r.some((s) => s.value > 0));
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { stringify } from 'yaml';
import { requireService } from '../support/services.ts';

export interface PrometheusOptions {
  /** `host:port` of the /metrics endpoints to scrape (job `flowmark`). */
  targets: string[];
  /** Rule files to load (absolute paths). */
  ruleFiles?: string[];
  /** Scrape and evaluation interval (default 1 s). */
  intervalSeconds?: number;
}

/** One series of an instant query's answer. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface PrometheusServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** An instant query through the HTTP API (`GET /api/v1/query`). */
  query(promql: string): Promise<PromSample[]>;
  /** Queries every 250 ms until `ok` accepts the answer; fails after `timeoutMs` (default 30 s). */
  waitFor(promql: string, ok: (r: PromSample[]) => boolean, timeoutMs?: number): Promise<PromSample[]>;
  /** `GET <path>` of the HTTP API, parsed (`/api/v1/rules`, `/api/v1/targets`, …). */
  api<T = unknown>(path: string): Promise<T>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Starts Prometheus for the test `t`; undefined when the test was skipped (no Prometheus here). */
export async function startPrometheus(t: TestContext, o: PrometheusOptions): Promise<PrometheusServer | undefined> {
  const bin = requireService(t, 'prometheus', 'FLOWMARK_TEST_PROMETHEUS');
  if (bin === undefined) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-prometheus-'));
  const interval = `${o.intervalSeconds ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: o.ruleFiles ?? [],
    scrape_configs: [{ job_name: 'flowmark', metrics_path: '/metrics', static_configs: [{ targets: o.targets }] }],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  let child: ChildProcess | undefined;
  let log = '';
  t.after(async () => {
    if (child !== undefined) await stop(child);
    rmSync(dir, { recursive: true, force: true });
  });
  // The port is free when asked, then taken by Prometheus; retry in the unlikely case of a race.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    log = '';
    const proc = spawn(
      bin,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, `data-${attempt}`)}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => void (log += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => void (log += d.toString()));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && proc.exitCode === null) {
      const ready = await fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return server(url);
      await new Promise((r) => setTimeout(r, 100));
    }
    await stop(proc);
    if (!/address already in use/.test(log)) break;
  }
  throw new Error(`prometheus (${bin}) did not become ready:\n${log}`);
}

function server(url: string): PrometheusServer {
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  const query = async (promql: string): Promise<PromSample[]> => {
    const data = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
      `/api/v1/query?query=${encodeURIComponent(promql)}`,
    );
    return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  return {
    url,
    api,
    query,
    waitFor: async (promql, ok, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      let last: PromSample[] = [];
      while (Date.now() < deadline) {
        last = await query(promql);
        if (ok(last)) return last;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(
        `prometheus: ${promql} never gave the expected answer in ${timeoutMs} ms; last: ${JSON.stringify(last)}`,
      );
    },
  };
}
