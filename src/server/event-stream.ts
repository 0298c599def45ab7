/**
 * `GET /api/stream`: the dashboard's live updates as Server-Sent Events.
 *
 * - `summary` — the {@link Summary} JSON: once on connect, then whenever it changes, at most once
 *   per second per client (the summary is re-read every `intervalMs` through the shared cache).
 * - `summary_error` — `{ message }` when the summary cannot be read (the database is down); sent
 *   once per failure episode, after which the next `summary` means it works again.
 * - `status` — `{ status, alerts, health }` ({@link PipelineStatus}, the active alerts, and the
 *   health report as `/health` gives it): once on connect and every `intervalMs`.
 * - a comment line (`: heartbeat`) every `heartbeatMs`, for proxies that close quiet connections.
 *
 * The timer runs only while a client is connected. A client that has gone is removed at once
 * (its `close`); one that reads too slowly (over 1 MiB unsent) is disconnected.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { JobMonitor } from '../observability/monitor-types.ts';
import type { SummaryCache } from './summary-cache.ts';

export interface EventStreamOptions {
  monitor: JobMonitor;
  summaries: SummaryCache;
  /** Period of the status event and of the summary check (default 1 000 ms). */
  intervalMs?: number;
  /** Period of the heartbeat comment (default 15 000 ms). */
  heartbeatMs?: number;
  /** Most clients at once; more are refused with 503 (default 100). */
  maxClients?: number;
  log?: (line: string) => void;
}

interface Client {
  res: ServerResponse;
  /** JSON of the last summary sent, and when (performance.now()). */
  lastSummary: string | undefined;
  lastSummaryAtMs: number;
  /** An error was sent and no summary since. */
  errorSent: boolean;
}

const MAX_UNSENT_BYTES = 1 << 20;

/** The JSON of `/health`: `{ status: 'ok' | 'unhealthy', reasons }`. */
export function healthBody(monitor: JobMonitor): { status: 'ok' | 'unhealthy'; reasons: string[] } {
  const h = monitor.health();
  return { status: h.ok ? 'ok' : 'unhealthy', reasons: h.reasons };
}

export class EventStream {
  readonly #monitor: JobMonitor;
  readonly #summaries: SummaryCache;
  readonly #intervalMs: number;
  readonly #heartbeatMs: number;
  readonly #maxClients: number;
  readonly #log: (line: string) => void;
  readonly #clients = new Set<Client>();
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #checking = false;
  #failing = false;

  constructor(options: EventStreamOptions) {
    this.#monitor = options.monitor;
    this.#summaries = options.summaries;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#heartbeatMs = options.heartbeatMs ?? 15_000;
    this.#maxClients = options.maxClients ?? 100;
    this.#log = options.log ?? (() => {});
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** Takes over a `GET /api/stream` request. */
  accept(req: IncomingMessage, res: ServerResponse): void {
    if (this.#clients.size >= this.#maxClients) {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '5' });
      res.end(`too many live streams (${this.#maxClients}); close a dashboard and retry\n`);
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      'X-Content-Type-Options': 'nosniff',
    });
    res.write('retry: 2000\n\n');
    const client: Client = { res, lastSummary: undefined, lastSummaryAtMs: 0, errorSent: false };
    this.#clients.add(client);
    req.socket.setNoDelay(true);
    const drop = () => this.#remove(client);
    req.on('close', drop);
    res.on('close', drop);
    res.on('error', drop);
    this.#send(client, 'status', this.#statusJson());
    // The first summary: from the cache if fresh, else a query shared with anyone else asking.
    this.#summaries.get(this.#intervalMs).then(
      (s) => {
        if (!this.#clients.has(client)) return;
        this.#sendSummary(client, s.json);
      },
      (err: unknown) => {
        if (this.#clients.has(client)) this.#sendError(client, err);
      },
    );
    this.#start();
  }

  /** Ends every stream and stops the timers. */
  close(): void {
    for (const c of [...this.#clients]) {
      c.res.end();
      this.#remove(c);
    }
    this.#stop();
  }

  #start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#heartbeat = setInterval(() => {
      for (const c of this.#clients) this.#write(c, ': heartbeat\n\n');
    }, this.#heartbeatMs);
    this.#timer.unref();
    this.#heartbeat.unref();
  }

  #stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#heartbeat);
    this.#timer = undefined;
    this.#heartbeat = undefined;
  }

  #remove(client: Client): void {
    if (!this.#clients.delete(client)) return;
    if (this.#clients.size === 0) this.#stop();
  }

  #tick(): void {
    const status = this.#statusJson();
    for (const c of this.#clients) this.#send(c, 'status', status);
    if (this.#checking) return; // the previous summary query is still running
    this.#checking = true;
    // A little less than the interval, so that each tick reads a fresh summary.
    this.#summaries
      .get(this.#intervalMs * 0.9)
      .then(
        (s) => {
          if (this.#failing) this.#log('dashboard: the summary can be read again');
          this.#failing = false;
          for (const c of this.#clients) this.#sendSummary(c, s.json);
        },
        (err: unknown) => {
          if (!this.#failing) this.#log(`dashboard: cannot read the summary: ${(err as Error).message}`);
          this.#failing = true;
          for (const c of this.#clients) this.#sendError(c, err);
        },
      )
      .finally(() => {
        this.#checking = false;
      });
  }

  /** Sends the summary to a client if it changed for that client and its last one is ≥ 1 s old. */
  #sendSummary(client: Client, json: string): void {
    if (json === client.lastSummary && !client.errorSent) return;
    const now = performance.now();
    if (client.lastSummary !== undefined && now - client.lastSummaryAtMs < 1000) return;
    client.lastSummary = json;
    client.lastSummaryAtMs = now;
    client.errorSent = false;
    this.#send(client, 'summary', json);
  }

  #sendError(client: Client, err: unknown): void {
    if (client.errorSent) return;
    client.errorSent = true;
    this.#send(client, 'summary_error', JSON.stringify({ message: (err as Error).message ?? String(err) }));
  }

  #statusJson(): string {
    try {
      return JSON.stringify({
        status: this.#monitor.status(),
        alerts: this.#monitor.alerts(),
        health: healthBody(this.#monitor),
      });
    } catch (err) {
      return JSON.stringify({ error: (err as Error).message });
    }
  }

  #send(client: Client, event: string, json: string): void {
    this.#write(client, `event: ${event}\ndata: ${json}\n\n`);
  }

  #write(client: Client, text: string): void {
    const res = client.res;
    if (res.destroyed || res.writableEnded) {
      this.#remove(client);
      return;
    }
    if (res.writableLength > MAX_UNSENT_BYTES) {
      res.destroy();
      this.#remove(client);
      return;
    }
    res.write(text);
  }
}
