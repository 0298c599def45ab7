/**
 * The job monitor over real runtimes: the dashboard's figures, /health's reasons (database down,
 * checkpoints missing, watermark stalled — and not stalled on a quiet input) and the internal
 * evaluation of the alert rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UserRow } from '../../src/attribution/event-types.ts';
import { MemoryCommitter } from '../../src/connectors/memory/memory-committer.ts';
import { MemorySource } from '../../src/connectors/memory/memory-source.ts';
import { type CheckpointCommitter, FlowmarkError, ManualClock, Runtime } from '../../src/engine/index.ts';
import { createJobMonitor, createPrometheusMetrics, type RuntimeJobMonitor } from '../../src/observability/index.ts';
import { type Ev, ev, observedReader, passThroughPipeline } from '../engine/engine-fixtures.ts';
import { monitorOf, queueReader, shopJob, shopLines, USERS } from './observability-fixtures.ts';

const T0 = Date.UTC(2026, 2, 1, 12);

test('status(): events, rows, dead letters, late events, state, checkpoint, latency and rate of a real run', async (t) => {
  const clock = new ManualClock(T0);
  const inner = new MemoryCommitter();
  // Each commit takes 250 ms, so every record waits at least that long before it is durable.
  const committer: CheckpointCommitter = {
    load: () => inner.load(),
    commit: async (cp) => {
      await clock.sleep(250);
      await inner.commit(cp);
    },
  };
  const lines = shopLines(3000);
  const job = shopJob({ clock, lines, committer });
  const monitor = monitorOf(t, job, clock);
  assert.equal(monitor.status().eventsInTotal, 0);
  const started = clock.nowMs();
  await job.runtime.run();
  clock.advance(Math.max(0, started + 3000 - clock.nowMs()));
  const s = monitor.status();
  assert.equal(s.atMs, clock.nowMs());
  assert.equal(s.eventsInTotal, lines.length);
  assert.equal(s.eventsInPerSecond, lines.length / ((clock.nowMs() - started) / 1000));
  const sinks = ['attributed_checkouts', 'attribution_credits', 'analytics_minute', 'dead_letters'];
  assert.equal(
    s.rowsOutTotal,
    sinks.map((k) => inner.rows(k).length).reduce((a, b) => a + b),
  );
  assert.equal(s.deadLettersTotal, inner.rows('dead_letters').length);
  const late = inner.rows<{ reason: string }>('dead_letters').filter((d) => d.reason === 'late').length;
  assert.ok(late > 0 && s.lateEventsTotal === late, `late events ${s.lateEventsTotal} = dead letters "late" ${late}`);
  assert.equal(s.checkpointId, job.runtime.checkpointId);
  assert.ok(s.checkpointId > 1);
  assert.equal(s.consumerLagRecords, 0, 'everything was read');
  assert.equal(s.watermarkLagSeconds, null, 'a bounded input ends with the watermark at +∞');
  assert.ok(s.latencyP50Seconds !== null && s.latencyP50Seconds >= 0.25, `p50 ${s.latencyP50Seconds}`);
  assert.ok(s.latencyP99Seconds !== null && s.latencyP99Seconds >= s.latencyP50Seconds);
  assert.ok(s.lastCheckpointAgeSeconds !== null && s.lastCheckpointAgeSeconds <= 3);
  assert.deepEqual(monitor.health(), { ok: true, reasons: [] });
  // A minute later the latency observations have aged out of the quantiles.
  clock.advance(61_000);
  assert.equal(monitor.status().latencyP99Seconds, null);
  assert.match(await monitor.metricsText(), /^flowmark_state_bytes_budget 1073741824$/m);
  assert.equal(monitor.metricsContentType, job.metrics.contentType);
});

test('health: the database is down while checkpoints are retried, with what fails, since when and how often', async (t) => {
  const clock = new ManualClock(T0);
  const inner = new MemoryCommitter();
  let monitor: RuntimeJobMonitor | undefined;
  const during: ReturnType<RuntimeJobMonitor['health']>[] = [];
  let failures = 0;
  const committer: CheckpointCommitter = {
    load: () => inner.load(),
    commit: async (cp) => {
      if (cp.id === 2 && failures < 4) {
        failures++;
        if (failures === 4) during.push((monitor as RuntimeJobMonitor).health());
        throw new FlowmarkError('FM_PG_UNAVAILABLE', 'the database is unavailable: connect ECONNREFUSED');
      }
      await inner.commit(cp);
    },
  };
  const job = shopJob({ clock, lines: shopLines(1500), committer, checkpointEveryRecords: 500 });
  monitor = monitorOf(t, job, clock, 5000);
  await job.runtime.run();
  const [h] = during;
  assert.ok(h !== undefined);
  assert.equal(h.ok, false);
  assert.equal(h.reasons.length, 1, h.reasons.join('\n'));
  assert.match(
    h.reasons[0] as string,
    /^database unavailable: committing checkpoints has failed for 1 s \(3 attempts; last: FM_PG_UNAVAILABLE: the database is unavailable: connect ECONNREFUSED\); retrying$/,
  );
  assert.deepEqual(monitor.health(), { ok: true, reasons: [] }, 'recovered');
});

test('health: a look-up that cannot reach the database names the step', async (t) => {
  const clock = new ManualClock(T0);
  let monitor: RuntimeJobMonitor | undefined;
  let calls = 0;
  let seen: string[] = [];
  const users = async (keys: readonly string[]) => {
    calls++;
    if (calls === 3) seen = (monitor as RuntimeJobMonitor).health().reasons;
    if (calls <= 3) throw new FlowmarkError('FM_PG_UNAVAILABLE', 'users: connection refused');
    return new Map(keys.flatMap((k): [string, UserRow][] => (USERS.has(k) ? [[k, USERS.get(k) as UserRow]] : [])));
  };
  const job = shopJob({ clock, lines: shopLines(800), users });
  monitor = monitorOf(t, job, clock, 60_000);
  await job.runtime.run();
  assert.equal(seen.length, 1, seen.join('\n'));
  assert.match(
    seen[0] as string,
    /^database unavailable: step enrich-user has failed for .* \(2 attempts; last: FM_PG_UNAVAILABLE: users: connection refused\); retrying$/,
  );
  assert.equal(monitor.health().ok, true);
});

test('health: no checkpoint for more than 3 heartbeats, before and after the first one', async (t) => {
  // The runtime commits at least once per heartbeat (2 s, its default for a 1 s interval), even idle.
  const clock = new ManualClock(T0);
  const metrics = createPrometheusMetrics();
  const runtime = new Runtime(passThroughPipeline(MemorySource.of([ev('a', 1), ev('a', 2)])), {
    committer: new MemoryCommitter(),
    clock,
    metrics,
    checkpointIntervalMs: 1000,
  });
  const monitor = createJobMonitor({ runtime, clock, metrics, checkpointIntervalMs: 1000, autoSample: false });
  t.after(() => monitor.close());
  clock.advance(6000);
  assert.deepEqual(monitor.health(), { ok: true, reasons: [] }, '3 heartbeats is not more than 3');
  clock.advance(1000);
  assert.deepEqual(monitor.health().reasons, [
    'checkpoints failing: none committed in the 7 s since monitoring started (expected at least every 2 s)',
  ]);
  await runtime.run();
  assert.equal(monitor.health().ok, true);
  clock.advance(6500);
  assert.deepEqual(monitor.health().reasons, [
    `checkpoints failing: the last one (#${runtime.checkpointId}) was committed 7 s ago (expected at least every 2 s; unhealthy after 3 heartbeats)`,
  ]);
});

test('the monitor publishes the least interval and the heartbeat that the checkpoint alert counts in', async (t) => {
  const clock = new ManualClock(T0);
  const job = shopJob({ clock, lines: shopLines(10) });
  // flowmark run's interval (20 ms): an idle job commits only its heartbeat, 2 s.
  const twenty = monitorOf(t, job, clock, 20);
  assert.match(await twenty.metricsText(), /^flowmark_checkpoint_interval_seconds 0\.02$/m);
  assert.match(await twenty.metricsText(), /^flowmark_checkpoint_heartbeat_seconds 2$/m);
  // An interval longer than the heartbeat is the longest gap itself.
  const other = shopJob({ clock, lines: shopLines(10) });
  const five = monitorOf(t, other, clock, 5000);
  assert.match(await five.metricsText(), /^flowmark_checkpoint_heartbeat_seconds 5$/m);
});

/**
 * Runs `passThroughPipeline` over an unbounded source for `seconds` of processing time, one poll
 * per second; `feed(n)` may append records before poll n. The monitor samples at every poll;
 * returns its health at the end.
 */
async function runLive(seconds: number, feed: (src: MemorySource<Ev>, n: number) => void, withLag = false) {
  const clock = new ManualClock(T0);
  const metrics = createPrometheusMetrics({ defaultMetrics: false });
  const src = new MemorySource<Ev>({ bounded: false });
  const stop = new AbortController();
  let monitor: RuntimeJobMonitor | undefined;
  let health: ReturnType<RuntimeJobMonitor['health']> | undefined;
  const queue = queueReader(src, clock);
  const reader = observedReader(
    withLag ? { ...queue, poll: (max: number) => queue.poll(Math.min(max, 1)) } : queue,
    (n) => {
      clock.advance(1000);
      feed(src, n);
      monitor?.sample();
      if (n === seconds) {
        health = monitor?.health();
        stop.abort();
      }
    },
  );
  const runtime = new Runtime(passThroughPipeline(withLag ? { ...reader, lag: queue.lag } : reader, 1000), {
    committer: new MemoryCommitter(),
    clock,
    metrics,
    checkpointIntervalMs: 1000,
    idleWaitMs: 0,
  });
  monitor = createJobMonitor({
    runtime,
    clock,
    metrics,
    checkpointIntervalMs: 1000,
    watchedStep: 'pass',
    autoSample: false,
  });
  await runtime.run({ signal: stop.signal });
  monitor.close();
  return health as ReturnType<RuntimeJobMonitor['health']>;
}

test('health: the watermark stalls when records keep arriving behind it for 60 s', async () => {
  // Every record has the same event time: the watermark stays at 1000 − 1000 = 0.
  const h = await runLive(75, (src) => src.append(ev('a', 1000)));
  assert.equal(h.ok, false);
  assert.equal(h.reasons.length, 1, h.reasons.join('\n'));
  assert.match(
    h.reasons[0] as string,
    /^watermark stalled: the watermark of step pass has stayed at 1970-01-01T00:00:00\.000Z for 7\d s while \d+ records were read in the last 60 s$/,
  );
});

test('health: a stuck reader (records wait unread, the watermark does not move) is a stall too', async () => {
  // Four records per second arrive, one is read per second: the lag grows; event times stand still.
  const h = await runLive(
    75,
    (src) => {
      for (let i = 0; i < 4; i++) src.append(ev('a', 1000));
    },
    true,
  );
  assert.equal(h.ok, false);
  assert.match(
    h.reasons.join('\n'),
    /^watermark stalled: .* while \d+ records were read in the last 60 s and \d+ records wait unread$/,
  );
});

test('health: a quiet input is never a stall, however long the watermark stands still', async () => {
  const h = await runLive(150, (src, n) => {
    if (n <= 5) src.append(ev('a', n * 1000));
  });
  assert.deepEqual(h, { ok: true, reasons: [] });
});

test('health: records arriving in event-time order move the watermark: healthy', async () => {
  const h = await runLive(90, (src, n) => src.append(ev('a', n * 1000)));
  assert.deepEqual(h, { ok: true, reasons: [] });
});

test('alerts(): the internal evaluation fires FlowmarkCheckpointsStalled after its `for`, as Prometheus would', async (t) => {
  const clock = new ManualClock(T0);
  const job = shopJob({ clock, lines: shopLines(300) });
  const monitor = monitorOf(t, job, clock);
  await job.runtime.run();
  assert.deepEqual(monitor.alerts(), []);
  clock.advance(6001); // 3 heartbeats of 2 s
  assert.deepEqual(monitor.alerts(), [], 'holds now, pending for 30 s');
  for (let i = 0; i < 30; i++) {
    clock.advance(1000);
    monitor.sample();
  }
  const alerts = monitor.alerts();
  assert.deepEqual(
    alerts.map((a) => [a.name, a.severity, a.sinceMs]),
    [['FlowmarkCheckpointsStalled', 'critical', clock.nowMs()]],
  );
  assert.match(monitor.health().reasons.join('\n'), /checkpoints failing/);
});

test('the sampling timer runs on its own and stops with close()', async () => {
  const clock = new ManualClock(T0);
  const job = shopJob({ clock, lines: shopLines(100) });
  const monitor = createJobMonitor({
    runtime: job.runtime,
    clock,
    metrics: job.metrics,
    checkpointIntervalMs: 1000,
    sampleEveryMs: 10,
  });
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    await new Promise((r) => setTimeout(r, 15));
  }
  monitor.close();
  const n = monitor.history().length;
  assert.ok(n >= 3, `${n} samples`);
  clock.advance(1000);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(monitor.history().length, n);
});
