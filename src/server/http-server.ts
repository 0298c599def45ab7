/**
 * flowmark's HTTP server (node:http; why not a framework: docs/decisions.md, "The HTTP server").
 *
 * | route | what |
 * |---|---|
 * | `GET /`, `/index.html`, `/dashboard.js`, … | the dashboard's files from `web/` ({@link loadStaticAssets}) |
 * | `GET /api/summary` | the last hour's analytics ({@link Summary}); 503 when the database cannot be read |
 * | `GET /api/status` | `{ status, alerts, health }`: the pipeline's figures, active alerts, health |
 * | `GET /api/stream` | Server-Sent Events: `summary`, `status`, heartbeats ({@link EventStream}) |
 * | `GET /metrics` | Prometheus text exposition (the monitor's registry) |
 * | `GET /health` | `{ status: 'ok' \| 'unhealthy', reasons }`, 200 or 503 |
 *
 * HEAD is answered wherever GET is; other methods get 405. Bound to 127.0.0.1 unless told
 * otherwise: the dashboard has no authentication, so exposing it is the operator's decision (a
 * warning says so at start). On a loopback address only requests for a loopback host are answered,
 * others get 421 (DNS rebinding: host-check.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FlowmarkError } from '../engine/index.ts';
import type { JobMonitor } from '../observability/monitor-types.ts';
import { EventStream, healthBody } from './event-stream.ts';
import { exposureWarning, hostRefusal } from './host-check.ts';
import { findAsset, loadStaticAssets, type StaticAsset } from './static-assets.ts';
import { SummaryCache } from './summary-cache.ts';
import type { SummaryDb, SummaryOptions, SummaryTime } from './summary-queries.ts';

export interface HttpServerOptions {
  /** Address to listen on (default `127.0.0.1`). */
  host?: string;
  /** Port (default 3000); 0 picks a free one, which {@link HttpServer.port} then tells. */
  port?: number;
  /** The running pipeline's figures, health, alerts and metrics. */
  monitor: JobMonitor;
  /** Where flowmark's output tables are (read only). */
  db: SummaryDb;
  /** flowmark's schema (default `flowmark`). */
  schema?: string;
  /** The dashboard's files (default: `web/` of this package). */
  webDir?: string;
  /**
   * Lines about trouble (a summary that cannot be read, a failing handler) and, at start, the
   * warning that a non-loopback address exposes a dashboard without authentication. Default: none.
   */
  log?: (line: string) => void;
  /** How old a summary `GET /api/summary` may return (default 1 000 ms). */
  summaryMaxAgeMs?: number;
  /** Period of the live stream's status event and summary check (default 1 000 ms). */
  streamIntervalMs?: number;
  /** Period of the live stream's heartbeat (default 15 000 ms). */
  heartbeatMs?: number;
  /** Options of the summary (window length, top N, number of latest checkouts). */
  summary?: Omit<SummaryOptions, 'schema'>;
}

export interface HttpServer {
  /** `http://127.0.0.1:3000/` (the actual port when 0 was asked). */
  url: string;
  host: string;
  port: number;
  /** Live streams (`/api/stream`) open right now. */
  streamClients(): number;
  /** Ends the live streams, stops accepting connections and closes open ones. */
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';
/** For the HTML page: only this origin's scripts, styles, images and connections. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Starts the server and resolves once it listens.
 *
 * @example
 * const server = await startHttpServer({ port: 0, monitor, db: stores.db, schema: stores.schema });
 * console.error(`  dashboard: ${server.url}`); // http://127.0.0.1:41837/
 * // … on shutdown:
 * await server.close();
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => {});
  const monitor = options.monitor;
  const assets = loadStaticAssets(options.webDir);
  const summaries = new SummaryCache(options.db, { ...options.summary, schema: options.schema ?? 'flowmark' }, () =>
    summaryTime(monitor),
  );
  const summaryMaxAgeMs = options.summaryMaxAgeMs ?? 1000;
  const stream = new EventStream({
    monitor,
    summaries,
    log,
    ...(options.streamIntervalMs === undefined ? {} : { intervalMs: options.streamIntervalMs }),
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
  });

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>> = {
    '/api/summary': async (req, res) => {
      try {
        const s = await summaries.get(summaryMaxAgeMs);
        send(req, res, 200, JSON_TYPE, s.json);
      } catch (err) {
        send(req, res, 503, JSON_TYPE, JSON.stringify({ error: `cannot read the summary: ${(err as Error).message}` }));
      }
    },
    '/api/status': (req, res) => {
      const body = { status: monitor.status(), alerts: monitor.alerts(), health: healthBody(monitor) };
      send(req, res, 200, JSON_TYPE, JSON.stringify(body));
    },
    '/api/stream': (req, res) => {
      if (req.method === 'HEAD') return send(req, res, 200, 'text/event-stream; charset=utf-8', '');
      stream.accept(req, res);
    },
    '/metrics': async (req, res) => {
      send(req, res, 200, monitor.metricsContentType, await monitor.metricsText());
    },
    '/health': (req, res) => {
      const body = healthBody(monitor);
      send(req, res, body.status === 'ok' ? 200 : 503, JSON_TYPE, JSON.stringify(body));
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const refused = hostRefusal(host, req.headers.host);
    if (refused !== undefined)
      return send(req, res, 421, 'text/plain; charset=utf-8', `misdirected request: ${refused}\n`);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(req, res, 405, 'text/plain; charset=utf-8', 'method not allowed: use GET or HEAD\n');
    }
    const route = routes[path];
    if (route !== undefined) return route(req, res);
    const asset = findAsset(assets, path);
    if (asset !== undefined) return sendAsset(req, res, asset);
    send(req, res, 404, 'text/plain; charset=utf-8', `not found: ${path.slice(0, 200)}\n`);
  };

  const server = createServer((req, res) => {
    Promise.resolve(handle(req, res)).catch((err: unknown) => {
      log(`dashboard: ${req.method} ${req.url} failed: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) send(req, res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  // A half-open or idle connection must not keep close() waiting, nor hold resources long.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  const wantedPort = options.port ?? 3000;
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      stream.close();
      reject(listenError(err, host, wantedPort));
    };
    server.once('error', failed);
    server.listen(wantedPort, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  server.on('error', (err) => log(`dashboard: server error: ${err.message}`));
  const port = (server.address() as AddressInfo).port;
  const warning = exposureWarning(host, port);
  if (warning !== undefined) log(warning);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/`,
    host,
    port,
    streamClients: () => stream.clientCount,
    close: async () => {
      stream.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * The processing time and the watermark of the running job, as its monitor tells them: the
 * summary's bound of real data. The monitor gives the watermark as a lag (null while it is ±∞).
 */
function summaryTime(monitor: JobMonitor): SummaryTime {
  const s = monitor.status();
  const lag = s.watermarkLagSeconds;
  return { nowMs: s.atMs, watermarkMs: lag === null ? null : Math.round(s.atMs - lag * 1000) };
}

/** Why the server could not listen, as a configuration error the user can act on. */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): FlowmarkError {
  const where = `${host}:${port}`;
  const message =
    err.code === 'EADDRINUSE'
      ? `cannot serve the dashboard on ${where}: the port is in use; choose another with --port, or --port 0 for any free port`
      : err.code === 'EACCES'
        ? `cannot serve the dashboard on ${where}: not allowed (ports below 1024 need privileges); choose another with --port`
        : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND'
          ? `cannot serve the dashboard on ${where}: no such address on this machine; check --host`
          : `cannot serve the dashboard on ${where}: ${err.message}`;
  return new FlowmarkError('FM_CONFIG_INVALID', message, { cause: err });
}

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendAsset(req: IncomingMessage, res: ServerResponse, asset: StaticAsset): void {
  const headers: Record<string, string | number> = {
    'Content-Type': asset.contentType,
    'Cache-Control': 'no-cache',
    ETag: asset.etag,
    'X-Content-Type-Options': 'nosniff',
  };
  if (asset.contentType.startsWith('text/html')) {
    headers['Content-Security-Policy'] = CSP;
    headers['Referrer-Policy'] = 'no-referrer';
  }
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch?.split(',').some((t) => t.trim() === asset.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  headers['Content-Length'] = asset.body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}
