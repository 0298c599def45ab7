/**
 * The HTTP server against the real product: a simulated shop into the log, the attribution
 * pipeline into PGlite, the job monitor, and the server on 127.0.0.1, port 0. The checkpoint
 * committer can be made to fail as a database outage does (a retriable FM_PG_UNAVAILABLE), so
 * that /health turns 503 for real and back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgliteClient } from '../../src/connectors/pglite/pglite-client.ts';
import { type CheckpointCommitter, FlowmarkError } from '../../src/engine/index.ts';
import { type Summary, startHttpServer } from '../../src/server/index.ts';
import { checkoutsFromRows, referenceMinutes, totalsByDimension } from '../attribution/analytics-reference.ts';
import { newPglite } from '../connectors/pglite/pglite-fixtures.ts';
import { type LiveDashboard, startLiveDashboard } from './fixtures/live-dashboard.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with the path sent exactly as given (no normalization of `..` or escapes). */
function fetchRaw(base: string, path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  const url = new URL(base);
  return new Promise<Reply>((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path, method: init.method ?? 'GET', headers: init.headers ?? {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Waits until `check` returns a value (not undefined), polling every 100 ms. */
async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
}

interface SseEvent {
  event: string;
  data: string;
  atMs: number;
}

/** Opens /api/stream and collects its events and comments until `close()`. */
function openStream(base: string) {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let headers: Record<string, string | string[] | undefined> = {};
  let status = 0;
  const url = new URL('api/stream', base);
  const req = request({ host: url.hostname, port: url.port, path: url.pathname }, (res) => {
    status = res.statusCode ?? 0;
    headers = res.headers;
    res.setEncoding('utf8');
    let buffer = '';
    res.on('data', (chunk: string) => {
      buffer += chunk;
      for (let i = buffer.indexOf('\n\n'); i !== -1; i = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) comments.push(line);
          else if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data !== '') events.push({ event, data, atMs: performance.now() });
      }
    });
  });
  req.on('error', () => {});
  req.end();
  return {
    events,
    comments,
    status: () => status,
    headers: () => headers,
    close: () => req.destroy(),
  };
}

let dir: string;
let live: LiveDashboard;
let base: string;
/** While true, every checkpoint commit fails as an unreachable database does. */
let databaseDown = false;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flowmark-http-'));
  live = await startLiveDashboard({
    dataDir: dir,
    rate: 200,
    // Three minutes of traffic at once: closed one-minute windows exist within seconds.
    backfillMinutes: 3,
    server: { heartbeatMs: 300 },
    wrapCommitter: (committer): CheckpointCommitter => ({
      load: () => committer.load(),
      commit: (checkpoint) => {
        if (databaseDown) {
          const err = new FlowmarkError('FM_PG_UNAVAILABLE', 'the database is not reachable (test outage)');
          return Promise.reject(err);
        }
        return committer.commit(checkpoint);
      },
    }),
  });
  base = live.server.url;
});

after(async () => {
  await live?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the server listens on 127.0.0.1 on the free port it was given (port 0)', () => {
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.notEqual(live.server.port, 0);
  assert.equal(live.server.host, '127.0.0.1');
});

test('/ serves the dashboard page with its content type, a CSP, an ETag and no-cache; a matching ETag gets 304', async () => {
  const page = await fetchRaw(base, '/');
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(page.headers['cache-control'], 'no-cache');
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.equal(page.body, readFileSync(new URL('../../web/index.html', import.meta.url), 'utf8'));
  const etag = String(page.headers.etag);
  assert.match(etag, /^"[\w-]+"$/);
  const again = await fetchRaw(base, '/index.html', { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  assert.equal(again.body, '');
});

test('static assets come with the right content types; HEAD has the headers and no body', async () => {
  const types: Record<string, string> = {
    '/dashboard.js': 'text/javascript; charset=utf-8',
    '/dashboard.css': 'text/css; charset=utf-8',
    '/favicon.svg': 'image/svg+xml',
  };
  for (const [path, type] of Object.entries(types)) {
    const r = await fetchRaw(base, path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers['content-type'], type, path);
    assert.ok(r.body.length > 0, path);
    const head = await fetchRaw(base, path, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(Buffer.byteLength(r.body)));
    assert.equal(head.body, '');
  }
});

test('unknown paths are 404, other methods 405 with Allow', async () => {
  const missing = await fetchRaw(base, '/nothing-here.js');
  assert.equal(missing.status, 404);
  const post = await fetchRaw(base, '/api/summary', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
});

test('directory traversal is refused: nothing outside web/ is ever served, however the path is spelled', async () => {
  const attempts = [
    '/../package.json',
    '/../../package.json',
    '/%2e%2e/package.json',
    '/..%2fpackage.json',
    '/%2e%2e%2f%2e%2e%2fpackage.json',
    '/web/../package.json',
    '/..\\package.json',
    '/%5c..%5cpackage.json',
    '/dashboard.js%00.html',
    '/%E0%A4%A',
    '//etc/passwd',
    '/../src/server/http-server.ts',
    '/.hidden',
  ];
  for (const path of attempts) {
    const r = await fetchRaw(base, path);
    assert.equal(r.status, 404, `${path} → ${r.status}`);
    assert.doesNotMatch(r.body, /"devDependencies"|startHttpServer|root:/, path);
  }
});

test('/api/summary returns the last hour (event time) as JSON, with breakdowns and the latest checkouts', async () => {
  const s = await eventually('a summary with a closed window and a failed payment', 90_000, async () => {
    const r = await fetchRaw(base, '/api/summary');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'no-store');
    const body = JSON.parse(r.body) as Summary;
    // Wait for a failed payment too: every breakdown is then compared with something.
    return body.from !== null && body.checkouts > 0 && body.failedPayments > 0 ? body : undefined;
  });
  assert.equal(Date.parse(s.to as string) - Date.parse(s.from as string), 3_600_000);
  assert.equal(s.perMinute.length, 60);
  assert.ok(s.revenue > 0 && s.profit > 0 && s.profit < s.revenue, JSON.stringify([s.revenue, s.profit]));
  for (const key of ['bySource', 'byCategory', 'byGender', 'failedByReason'] as const)
    assert.ok(s[key].length > 0, key);
  const sum = s.bySource.reduce((n, e) => n + e.checkouts, 0);
  assert.equal(sum, s.checkouts, 'every checkout has one source (or none)');
  assert.ok(s.latestCheckouts.length > 0);

  // The hour's figures, worked out independently from the final checkout rows of the same hour
  // (test/attribution/analytics-reference.ts; the windows of the hour are closed, so those rows
  // are all committed).
  const { rows } = await live.db.query<Record<string, unknown>>(
    `SELECT * FROM ${live.schema}.attributed_checkouts WHERE checkout_time >= $1 AND checkout_time < $2`,
    [s.from, s.to],
  );
  assert.deepEqual(
    rows.filter((r) => r.is_final !== true).map((r) => r.checkout_id),
    [],
    'the closed hour has final rows only',
  );
  const expected = totalsByDimension(referenceMinutes(checkoutsFromRows(rows)));
  const total = expected.get('total')?.get('all');
  assert.deepEqual([s.checkouts, s.revenue, s.profit], [total?.checkouts, total?.revenue, total?.profit]);
  const failed = [...(expected.get('failed_reason')?.values() ?? [])].reduce((n, f) => n + f.checkouts, 0);
  assert.equal(s.failedPayments, failed);
  const breakdowns = {
    bySource: 'source',
    byCategory: 'category',
    failedByReason: 'failed_reason',
    byGender: 'gender',
  };
  for (const [key, dimension] of Object.entries(breakdowns) as [keyof typeof breakdowns, string][]) {
    const want = new Map(expected.get(dimension));
    let rest = { checkouts: 0, revenue: 0, profit: 0 };
    for (const e of s[key]) {
      if (e.other === true) {
        rest = { checkouts: e.checkouts, revenue: e.revenue, profit: e.profit };
        continue;
      }
      assert.deepEqual(
        { checkouts: e.checkouts, revenue: e.revenue, profit: e.profit },
        want.get(e.value),
        `${key} ${e.value}`,
      );
      want.delete(e.value);
    }
    // What the top N leaves out is merged into "other".
    const others = [...want.values()];
    assert.deepEqual(
      rest,
      {
        checkouts: others.reduce((n, f) => n + f.checkouts, 0),
        revenue: others.reduce((n, f) => n + Math.round(f.revenue * 100), 0) / 100,
        profit: others.reduce((n, f) => n + Math.round(f.profit * 100), 0) / 100,
      },
      `${key}: other`,
    );
  }
});

test('/api/summary shows the minutes in progress after the hour, from the checkouts, marked apart from it', async () => {
  const s = await eventually('a summary with a closed hour and a minute in progress', 90_000, async () => {
    const body = JSON.parse((await fetchRaw(base, '/api/summary')).body) as Summary;
    return body.to !== null && body.inProgress.some((p) => p.checkouts > 0) ? body : undefined;
  });
  // They follow the hour without overlapping it, and the hour's 60 minutes stay as they were.
  assert.ok((s.inProgress[0]?.minute ?? '') >= (s.to as string), JSON.stringify([s.to, s.inProgress]));
  assert.equal(s.perMinute.length, 60);
  const newest = s.latestCheckouts[0];
  assert.ok(newest !== undefined);
  assert.equal(
    s.inProgress[s.inProgress.length - 1]?.minute.slice(0, 16),
    newest.checkoutTime.slice(0, 16),
    'the last minute in progress is the minute of the newest checkout',
  );
});

test("one checkout dated 2099 in the tables does not move the dashboard's hour: it follows the job's watermark (issue 12)", async () => {
  await eventually('a closed hour', 90_000, async () => {
    const body = JSON.parse((await fetchRaw(base, '/api/summary')).body) as Summary;
    return body.to !== null ? true : undefined;
  });
  // As a drained replay leaves it: the checkout's window closed (its watermark ended at +∞).
  await live.db.query(
    `INSERT INTO flowmark.analytics_minute (window_start, dimension, value, checkouts, revenue, profit)
     VALUES ('2099-12-31T23:59:00Z', 'total', 'all', 1, 19.99, 2.8)`,
  );
  await live.db.query(
    `INSERT INTO flowmark.attributed_checkouts (checkout_id, user_id, product_id, quantity, discount, shipping_cost,
       payment_status, checkout_time, attribution_model, is_final)
     VALUES ('from-2099', 'u1', 'p1', 1, 0, 0, 'success', '2099-12-31T23:59:30Z', 'first_click', true)`,
  );
  // Past the summary cache's age (1 s), so that the answer is read after the rows exist.
  await sleep(1100);
  const s = JSON.parse((await fetchRaw(base, '/api/summary')).body) as Summary;
  const status = live.monitor.status();
  const watermarkMs = status.atMs - (status.watermarkLagSeconds ?? 0) * 1000;
  assert.ok(Date.parse(s.to as string) <= watermarkMs, `the hour ends at ${s.to}, beyond the watermark`);
  assert.ok(s.checkouts > 0, 'the real figures are shown');
  assert.ok(!s.latestCheckouts.some((c) => c.checkoutId === 'from-2099'), 'the 2099 checkout is not the newest');
  assert.ok(!s.inProgress.some((p) => p.minute.startsWith('2099')));
});

test('on a loopback bind only loopback Host headers are answered: another name gets 421 (DNS rebinding)', async () => {
  const port = live.server.port;
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost', `LOCALHOST:${port}`]) {
    const r = await fetchRaw(base, '/api/summary', { headers: { host } });
    assert.equal(r.status, 200, `Host: ${host} → ${r.status} ${r.body}`);
  }
  for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.evil.example:${port}`, 'localhost@evil']) {
    for (const path of ['/api/summary', '/', '/api/stream', '/metrics', '/health']) {
      const r = await fetchRaw(base, path, { headers: { host } });
      assert.equal(r.status, 421, `Host: ${host} ${path} → ${r.status}`);
      assert.match(r.body, /answers only requests for localhost, 127\.0\.0\.1 or \[::1\].*--host/);
      assert.doesNotMatch(r.body, /checkoutId|flowmark_events_in_total/);
    }
  }
});

test('a non-loopback bind answers any Host and warns at start that the dashboard has no authentication', async () => {
  const lines: string[] = [];
  const server = await startHttpServer({
    host: '0.0.0.0',
    port: 0,
    monitor: live.monitor,
    db: live.db,
    log: (line) => lines.push(line),
  });
  try {
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(
      lines[0] ?? '',
      new RegExp(`^warning: the dashboard listens on 0\\.0\\.0\\.0:${server.port}, .*no authentication`),
    );
    const r = await fetchRaw(`http://127.0.0.1:${server.port}/`, '/health', { headers: { host: 'dashboard.example' } });
    assert.notEqual(r.status, 421);
  } finally {
    await server.close();
  }
  // The default loopback bind says nothing.
  const quiet: string[] = [];
  const loopback = await startHttpServer({ port: 0, monitor: live.monitor, db: live.db, log: (l) => quiet.push(l) });
  await loopback.close();
  assert.deepEqual(quiet, []);
});

test('/metrics is the Prometheus text exposition of the pipeline and the process', async () => {
  const r = await fetchRaw(base, '/metrics');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.match(r.body, /^# HELP flowmark_events_in_total /m);
  assert.match(r.body, /^flowmark_events_in_total\{source="clicks"\} \d+/m);
  assert.match(r.body, /^process_cpu_user_seconds_total /m);
});

test('/api/stream sends status and summary on connect, status every second, heartbeats, summary at most once per second', async () => {
  const opened = performance.now();
  const stream = openStream(base);
  try {
    await eventually('three status events', 10_000, async () =>
      stream.events.filter((e) => e.event === 'status').length >= 3 ? true : undefined,
    );
    assert.equal(stream.status(), 200);
    assert.equal(stream.headers()['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(stream.headers()['cache-control'], 'no-store');
    assert.equal(live.server.streamClients(), 1);
    const status = JSON.parse(stream.events.find((e) => e.event === 'status')?.data ?? '{}');
    assert.equal(typeof status.status.eventsInTotal, 'number');
    assert.ok(Array.isArray(status.alerts));
    assert.deepEqual(Object.keys(status.health).sort(), ['reasons', 'status']);
    const summaries = stream.events.filter((e) => e.event === 'summary');
    assert.ok(summaries.length >= 1, 'a summary on connect');
    assert.ok('perMinute' in JSON.parse(summaries[0]?.data ?? '{}'));
    assert.ok(stream.comments.includes(': heartbeat'), 'heartbeats (every 300 ms in this test)');
    await sleep(3000);
    // The server sends a summary at most once per second per client (on connect, then on change):
    // over the stream's life, at most one more than its whole seconds. (Counted, not timed apart:
    // arrival times in this process jitter with the pipeline sharing its event loop.)
    const lifeMs = performance.now() - opened;
    const count = stream.events.filter((e) => e.event === 'summary').length;
    assert.ok(count <= Math.floor(lifeMs / 1000) + 1, `${count} summaries in ${lifeMs.toFixed(0)} ms`);
  } finally {
    stream.close();
  }
  await eventually('the stream to be cleaned up', 5000, async () =>
    live.server.streamClients() === 0 ? true : undefined,
  );
});

test('/health is 200 when healthy, 503 with the reason while the database is down, and 200 again after', async () => {
  const ok = await fetchRaw(base, '/health');
  assert.equal(ok.status, 200, ok.body);
  assert.deepEqual(JSON.parse(ok.body), { status: 'ok', reasons: [] });

  databaseDown = true;
  const down = await eventually('/health to fail', 15_000, async () => {
    const r = await fetchRaw(base, '/health');
    return r.status === 503 ? r : undefined;
  });
  const body = JSON.parse(down.body) as { status: string; reasons: string[] };
  assert.equal(body.status, 'unhealthy');
  assert.ok(
    body.reasons.some((r) => r.includes('FM_PG_UNAVAILABLE') || r.includes('not reachable')),
    body.reasons.join('\n'),
  );
  assert.equal(down.headers['content-type'], 'application/json; charset=utf-8');
  // The live stream carries the same health.
  const stream = openStream(base);
  try {
    const status = await eventually('an unhealthy status event', 5000, async () => {
      const e = stream.events.find((x) => x.event === 'status');
      return e === undefined ? undefined : JSON.parse(e.data);
    });
    assert.equal(status.health.status, 'unhealthy');
  } finally {
    stream.close();
  }

  databaseDown = false;
  await eventually('/health to recover', 20_000, async () => {
    const r = await fetchRaw(base, '/health');
    return r.status === 200 ? true : undefined;
  });
});

test('/api/summary is 503 with the reason when the database cannot be read', async () => {
  const db = new PgliteClient(await newPglite());
  await db.close(); // a closed database: every query fails
  const server = await startHttpServer({ port: 0, monitor: live.monitor, db });
  try {
    const r = await fetchRaw(server.url, '/api/summary');
    assert.equal(r.status, 503);
    assert.match(JSON.parse(r.body).error, /cannot read the summary/);
  } finally {
    await server.close();
  }
});

test('a port in use is a configuration error that says what to do', async () => {
  await assert.rejects(
    startHttpServer({ port: live.server.port, monitor: live.monitor, db: { query: async () => ({ rows: [] }) } }),
    {
      code: 'FM_CONFIG_INVALID',
      message: new RegExp(
        `127\\.0\\.0\\.1:${live.server.port}: the port is in use; choose another with --port, or --port 0`,
      ),
    },
  );
});
