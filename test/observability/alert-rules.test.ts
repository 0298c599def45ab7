/**
 * Each rule's internal evaluator on crafted sample histories (fires / does not fire), and the
 * pending → firing → resolved life of a rule with its `for`, as Prometheus evaluates it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ALERT_RULES,
  type AlertContext,
  AlertEvaluator,
  type AlertRule,
  type MonitorSample,
  promDuration,
} from '../../src/observability/index.ts';

const T0 = Date.UTC(2026, 2, 1, 12);
const CTX: AlertContext = { checkpointHeartbeatMs: 1000, stateBytesBudget: 1000, startedAtMs: T0 };

/** A healthy, busy pipeline at `atMs`: 100 events/s read, the watermark 15 s behind, checkpoints each second. */
function healthy(atMs: number): MonitorSample {
  const s = (atMs - T0) / 1000;
  return {
    atMs,
    eventsInTotal: 100 * s,
    rowsOutTotal: 10 * s,
    deadLettersTotal: 0.1 * s,
    lateEventsTotal: 0,
    backpressureSecondsTotal: 0.01 * s,
    watermarkMs: atMs - 15_000,
    watermarkLagSeconds: 15,
    consumerLagRecords: 50 + (s % 3),
    stateEntries: 100,
    stateBytes: 500,
    lastCheckpointAtMs: atMs - 200,
    checkpointId: Math.floor(s),
    latencyP50Seconds: 0.3,
    latencyP99Seconds: 0.8,
  };
}

/** `seconds` of samples, one per second, from T0; `change` alters the healthy figures. */
function history(seconds: number, change: (s: MonitorSample, i: number) => Partial<MonitorSample> = () => ({})) {
  return Array.from({ length: seconds + 1 }, (_, i) => {
    const s = healthy(T0 + i * 1000);
    return { ...s, ...change(s, i) };
  });
}

function rule(name: string): AlertRule {
  const r = ALERT_RULES.find((x) => x.name === name);
  assert.ok(r, `rule ${name}`);
  return r;
}

test('no rule holds for a healthy, busy pipeline', () => {
  const h = history(600);
  for (const r of ALERT_RULES) assert.equal(r.holds(h, CTX), false, r.name);
});

test('FlowmarkEndToEndLatencyHigh: p99 of the last minute above 1 s', () => {
  const r = rule('FlowmarkEndToEndLatencyHigh');
  assert.equal(
    r.holds(
      history(10, () => ({ latencyP99Seconds: 1.2 })),
      CTX,
    ),
    true,
  );
  assert.equal(
    r.holds(
      history(10, () => ({ latencyP99Seconds: 1 })),
      CTX,
    ),
    false,
    'exactly 1 s is not above',
  );
  assert.equal(
    r.holds(
      history(10, () => ({ latencyP99Seconds: null })),
      CTX,
    ),
    false,
    'no observations: quiet',
  );
});

test('FlowmarkConsumerLagGrowing: unread records grow by more than 1 per second over 5 minutes', () => {
  const r = rule('FlowmarkConsumerLagGrowing');
  assert.equal(
    r.holds(
      history(300, (_s, i) => ({ consumerLagRecords: 1000 + 5 * i })),
      CTX,
    ),
    true,
  );
  assert.equal(
    r.holds(
      history(300, (_s, i) => ({ consumerLagRecords: 1000 + 0.5 * i })),
      CTX,
    ),
    false,
    'slow',
  );
  assert.equal(
    r.holds(
      history(300, (_s, i) => ({ consumerLagRecords: i % 2 === 0 ? 0 : 900 })),
      CTX,
    ),
    false,
    'noisy but flat',
  );
  assert.equal(
    r.holds(
      history(300, (_s, i) => ({ consumerLagRecords: 5000 - 5 * i })),
      CTX,
    ),
    false,
    'shrinking',
  );
  assert.equal(
    r.holds(
      history(300, () => ({ consumerLagRecords: null })),
      CTX,
    ),
    false,
    'unknown lag',
  );
});

test('FlowmarkBackpressure: more than half of the last minute spent waiting', () => {
  const r = rule('FlowmarkBackpressure');
  assert.equal(
    r.holds(
      history(120, (_s, i) => ({ backpressureSecondsTotal: 0.8 * i })),
      CTX,
    ),
    true,
  );
  assert.equal(
    r.holds(
      history(120, (_s, i) => ({ backpressureSecondsTotal: 0.3 * i })),
      CTX,
    ),
    false,
  );
  // Waited a lot two minutes ago, not in the last minute.
  const h = history(180, (_s, i) => ({ backpressureSecondsTotal: 0.9 * Math.min(i, 100) }));
  assert.equal(r.holds(h, CTX), false);
});

test('FlowmarkStateNearBudget: state bytes above 80 % of the budget', () => {
  const r = rule('FlowmarkStateNearBudget');
  assert.equal(
    r.holds(
      history(5, () => ({ stateBytes: 801 })),
      CTX,
    ),
    true,
  );
  assert.equal(
    r.holds(
      history(5, () => ({ stateBytes: 800 })),
      CTX,
    ),
    false,
  );
  assert.equal(
    r.holds(
      history(5, () => ({ stateBytes: 801 })),
      { ...CTX, stateBytesBudget: 10_000 },
    ),
    false,
  );
});

test('FlowmarkDeadLettersHigh: more than 1 dead letter per second over 5 minutes', () => {
  const r = rule('FlowmarkDeadLettersHigh');
  assert.equal(
    r.holds(
      history(300, (_s, i) => ({ deadLettersTotal: 2 * i })),
      CTX,
    ),
    true,
  );
  assert.equal(
    r.holds(
      history(300, (_s, i) => ({ deadLettersTotal: 0.5 * i })),
      CTX,
    ),
    false,
  );
  // A burst of 200 in one second is 0.67/s over 5 minutes: not a high rate.
  assert.equal(
    r.holds(
      history(300, (_s, i) => ({ deadLettersTotal: i >= 150 ? 200 : 0 })),
      CTX,
    ),
    false,
  );
});

test('FlowmarkCheckpointsStalled: no checkpoint for 3 heartbeats, counted from the start before the first', () => {
  const r = rule('FlowmarkCheckpointsStalled');
  const last = T0 + 10_000;
  assert.equal(
    r.holds(
      history(13, () => ({ lastCheckpointAtMs: last })),
      CTX,
    ),
    false,
    '3 s is not more than 3 s',
  );
  assert.equal(
    r.holds(
      history(14, () => ({ lastCheckpointAtMs: last })),
      CTX,
    ),
    true,
  );
  assert.equal(
    r.holds(
      history(3, () => ({ lastCheckpointAtMs: null })),
      CTX,
    ),
    false,
    'just started',
  );
  assert.equal(
    r.holds(
      history(4, () => ({ lastCheckpointAtMs: null })),
      CTX,
    ),
    true,
    'none within 3 heartbeats',
  );
  assert.equal(
    r.holds(
      history(14, () => ({ lastCheckpointAtMs: last })),
      { ...CTX, checkpointHeartbeatMs: 5000 },
    ),
    false,
  );
});

test('FlowmarkWatermarkStalled: the watermark stands still for a minute while records arrive; never on a quiet input', () => {
  const r = rule('FlowmarkWatermarkStalled');
  const stuck = T0 - 15_000;
  assert.equal(
    r.holds(
      history(70, () => ({ watermarkMs: stuck })),
      CTX,
    ),
    true,
    'events keep being read',
  );
  assert.equal(
    r.holds(
      history(70, () => ({ watermarkMs: stuck, eventsInTotal: 500, consumerLagRecords: 1200 })),
      CTX,
    ),
    true,
    'nothing read, but records wait in the queue (a stuck consumer)',
  );
  assert.equal(
    r.holds(
      history(70, () => ({ watermarkMs: stuck, eventsInTotal: 500, consumerLagRecords: 0 })),
      CTX,
    ),
    false,
    'quiet input: nothing arrives, nothing waits',
  );
  assert.equal(
    r.holds(
      history(70, (_s, i) => ({ watermarkMs: i < 20 ? stuck : stuck + 1 })),
      CTX,
    ),
    false,
    'moved 50 s ago',
  );
  assert.equal(
    r.holds(
      history(50, () => ({ watermarkMs: stuck })),
      CTX,
    ),
    false,
    'not a minute of history yet',
  );
  assert.equal(
    r.holds(
      history(70, () => ({ watermarkMs: Number.POSITIVE_INFINITY })),
      CTX,
    ),
    false,
    'end of a bounded input',
  );
});

test('the evaluator respects `for`: pending, then firing since the moment `for` elapsed, then resolved', () => {
  const r = rule('FlowmarkEndToEndLatencyHigh');
  const evaluator = new AlertEvaluator([r]);
  const h: MonitorSample[] = [];
  const slowFrom = 10;
  const fastFrom = 200;
  const seen: { i: number; firing: boolean; pending: boolean }[] = [];
  for (let i = 0; i <= 260; i++) {
    const s = healthy(T0 + i * 1000);
    if (i >= slowFrom && i < fastFrom) s.latencyP99Seconds = 2;
    h.push(s);
    const firing = evaluator.evaluate(h, CTX);
    seen.push({ i, firing: firing.length > 0, pending: evaluator.pending().length > 0 });
    if (i === slowFrom + 120) {
      assert.deepEqual(firing, [
        { name: r.name, severity: 'warning', summary: r.summary, sinceMs: T0 + (slowFrom + 120) * 1000 },
      ]);
    }
  }
  const firstFiring = seen.find((x) => x.firing)?.i;
  assert.equal(firstFiring, slowFrom + 120, 'fires after 2 minutes of holding');
  assert.ok(seen.filter((x) => x.i >= slowFrom && x.i < slowFrom + 120).every((x) => x.pending && !x.firing));
  assert.equal(
    seen.find((x) => x.i === fastFrom)?.firing,
    false,
    'resolved at the first evaluation where it no longer holds',
  );
  assert.deepEqual(evaluator.firing(), []);
});

test('a condition that flaps restarts its `for`', () => {
  const r = rule('FlowmarkStateNearBudget');
  const evaluator = new AlertEvaluator([r]);
  const h: MonitorSample[] = [];
  for (let i = 0; i < 1000; i++) {
    const s = healthy(T0 + i * 1000);
    s.stateBytes = i % 200 === 199 ? 100 : 900; // drops below the threshold every 200 s
    h.push(s);
    assert.deepEqual(evaluator.evaluate(h, CTX), [], `never 5 minutes in a row (at ${i} s)`);
  }
});

test('every rule has a name, a severity, a PromQL expression and a Prometheus duration', () => {
  assert.equal(new Set(ALERT_RULES.map((r) => r.name)).size, ALERT_RULES.length);
  for (const r of ALERT_RULES) {
    assert.match(r.name, /^Flowmark[A-Z]\w+$/);
    assert.ok(['warning', 'critical'].includes(r.severity));
    assert.match(r.expr, /flowmark_/);
    assert.match(promDuration(r.forMs), /^(\d+[hms])+$/);
  }
  assert.equal(promDuration(0), '0s');
  assert.equal(promDuration(90_000), '1m30s');
  assert.equal(promDuration(3_600_000), '1h');
});
