/**
 * The load generator of bench/suites/http.ts, in a worker thread so that it does not share the
 * servers' event loop: `connections` keep-alive connections, each sending GET `path` again as
 * soon as the previous answer is read, for `seconds`. Posts back the count, errors, and every
 * latency (ms).
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

export interface LoadJob {
  url: string;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
  bytes: number;
}

async function run(job: LoadJob): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.connections });
  const url = new URL(job.url);
  const latenciesMs: number[] = [];
  let errors = 0;
  let bytes = 0;
  const start = performance.now();
  const end = start + job.seconds * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, agent }, (res) => {
        res.on('data', (c: Buffer) => {
          bytes += c.length;
        });
        res.on('end', () => {
          if (res.statusCode === 200) latenciesMs.push(performance.now() - t0);
          else errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  const loop = async () => {
    while (performance.now() < end) await one();
  };
  await Promise.all(Array.from({ length: job.connections }, loop));
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  return { requests: latenciesMs.length, errors, seconds, latenciesMs, bytes };
}

if (parentPort !== null) {
  const port = parentPort;
  run(workerData as LoadJob).then((r) => port.postMessage(r));
}
