/**
 * flowmark's alert rules, defined once. Each rule carries its PromQL expression (rendered into
 * `deploy/prometheus/flowmark-alerts.yml` by {@link renderPrometheusRules}, for a shop's own
 * Prometheus) and the same condition over flowmark's own samples (`holds`), which the job monitor
 * evaluates for the dashboard's alert panel. Thresholds are constants of this file, used by both.
 *
 * Semantics are Prometheus's: a rule whose condition holds is *pending*; it *fires* once the
 * condition has held continuously for its `for` duration, and stops as soon as it no longer holds.
 * The internal evaluation runs at every sample (once a second); Prometheus at every evaluation
 * interval (5 s in deploy/prometheus/prometheus.yml). Latency quantiles differ slightly: PromQL
 * interpolates within histogram buckets, the monitor ranks the observations themselves.
 */
import { stringify } from 'yaml';
import {
  covers,
  increase,
  lastWindow,
  latest,
  type MonitorSample,
  ratePerSecond,
  slopePerSecond,
} from './monitor-sample.ts';
import type { ActiveAlert } from './monitor-types.ts';

/** What the internal evaluators need besides the samples. */
export interface AlertContext {
  /** The longest a healthy runtime goes between two checkpoints (ms): its heartbeat. */
  checkpointHeartbeatMs: number;
  /** The configured budget of state bytes. */
  stateBytesBudget: number;
  /** When monitoring started: the reference for "no checkpoint" before the first one. */
  startedAtMs: number;
}

export interface AlertRule {
  /** The alert name, as Prometheus shows it (`FlowmarkEndToEndLatencyHigh`). */
  name: string;
  severity: ActiveAlert['severity'];
  summary: string;
  /** A longer text for Prometheus (Go template: `{{ $value }}` is the expression's value). */
  description: string;
  /** The PromQL condition; a series in its result is an alert. */
  expr: string;
  /** How long the condition must hold before the rule fires. */
  forMs: number;
  /** The same condition, over the monitor's samples (oldest first; the last is now). */
  holds(history: readonly MonitorSample[], ctx: AlertContext): boolean;
}

/** The step whose watermark the rules watch (the attribution step of the pipeline). */
export const WATCHED_STEP = 'attribute';

/** Thresholds of the rules (PromQL and internal evaluation both use these). */
export const ALERT_THRESHOLDS = {
  latencyP99Seconds: 1,
  /** Consumer lag growth, records per second, sustained. */
  consumerLagGrowthPerSecond: 1,
  /** Fraction of time the source loop waits because of back-pressure. */
  backpressureFraction: 0.5,
  stateBudgetFraction: 0.8,
  deadLettersPerSecond: 1,
  /** Checkpoint heartbeats (the longest gap of a healthy job) without a checkpoint. */
  missedCheckpoints: 3,
} as const;

const MIN = 60_000;
const T = ALERT_THRESHOLDS;
/** Per flowmark process: Prometheus adds `job` and `instance` to every scraped series. */
const BY = 'by (job, instance)';

export const ALERT_RULES: readonly AlertRule[] = [
  {
    name: 'FlowmarkEndToEndLatencyHigh',
    severity: 'warning',
    summary: `99th percentile of end-to-end latency above ${T.latencyP99Seconds} s`,
    description:
      'p99 from arrival in the queue to durable in the database is {{ $value | humanizeDuration }} over the last minute ' +
      '(it includes up to one checkpoint interval).',
    expr: `histogram_quantile(0.99, sum by (job, instance, le) (rate(flowmark_end_to_end_latency_seconds_bucket[1m]))) > ${T.latencyP99Seconds}`,
    forMs: 2 * MIN,
    holds: (h) => (latest(h)?.latencyP99Seconds ?? 0) > T.latencyP99Seconds,
  },
  {
    name: 'FlowmarkConsumerLagGrowing',
    severity: 'warning',
    summary: 'Consumer lag keeps growing: flowmark reads slower than the input arrives',
    description: 'Unread records grew by {{ $value | humanize }} per second over the last 5 minutes.',
    expr: `sum ${BY} (deriv(flowmark_consumer_lag_records[5m])) > ${T.consumerLagGrowthPerSecond}`,
    forMs: 5 * MIN,
    holds: (h) => (slopePerSecond(h, (s) => s.consumerLagRecords, 5 * MIN) ?? 0) > T.consumerLagGrowthPerSecond,
  },
  {
    name: 'FlowmarkBackpressure',
    severity: 'warning',
    summary: `The source loop waits on sinks or look-ups more than ${T.backpressureFraction * 100} % of the time`,
    description:
      'Back-pressure: {{ $value | humanizePercentage }} of the last minute was spent waiting for the database instead of reading.',
    expr: `sum ${BY} (rate(flowmark_backpressure_seconds_total[1m])) > ${T.backpressureFraction}`,
    forMs: 2 * MIN,
    holds: (h) => (ratePerSecond(h, (s) => s.backpressureSecondsTotal, MIN) ?? 0) > T.backpressureFraction,
  },
  {
    name: 'FlowmarkStateNearBudget',
    severity: 'warning',
    summary: `State above ${T.stateBudgetFraction * 100} % of its configured budget`,
    description:
      'Operator state holds {{ $value | humanize1024 }}B, more than 80 % of flowmark_state_bytes_budget: raise the budget or shorten the lookback.',
    expr: `sum ${BY} (flowmark_state_bytes) > ${T.stateBudgetFraction} * max ${BY} (flowmark_state_bytes_budget)`,
    forMs: 5 * MIN,
    holds: (h, ctx) => (latest(h)?.stateBytes ?? 0) > T.stateBudgetFraction * ctx.stateBytesBudget,
  },
  {
    name: 'FlowmarkDeadLettersHigh',
    severity: 'warning',
    summary: `More than ${T.deadLettersPerSecond} dead letter per second`,
    description:
      '{{ $value | humanize }} rows per second go to dead_letters (bad, late or duplicate input): see their reason in the table.',
    expr: `sum ${BY} (rate(flowmark_dead_letters_total[5m])) > ${T.deadLettersPerSecond}`,
    forMs: MIN,
    holds: (h) => (ratePerSecond(h, (s) => s.deadLettersTotal, 5 * MIN) ?? 0) > T.deadLettersPerSecond,
  },
  {
    name: 'FlowmarkCheckpointsStalled',
    severity: 'critical',
    summary: `No checkpoint for ${T.missedCheckpoints} checkpoint heartbeats: results are not being committed`,
    description:
      'The last checkpoint was committed {{ $value | humanizeDuration }} ago (the database may be unavailable; see /health).',
    expr:
      `(time() - flowmark_last_checkpoint_timestamp_seconds > ${T.missedCheckpoints} * flowmark_checkpoint_heartbeat_seconds)` +
      ` and (time() - process_start_time_seconds > ${T.missedCheckpoints} * flowmark_checkpoint_heartbeat_seconds)`,
    forMs: 30_000,
    holds: (h, ctx) => {
      const s = latest(h);
      if (s === undefined) return false;
      return s.atMs - (s.lastCheckpointAtMs ?? ctx.startedAtMs) > T.missedCheckpoints * ctx.checkpointHeartbeatMs;
    },
  },
  {
    name: 'FlowmarkWatermarkStalled',
    severity: 'critical',
    summary: 'The watermark does not move while records keep arriving: no result becomes final',
    description:
      `The watermark of step ${WATCHED_STEP} has not changed for a minute although input arrives ` +
      '(an input partition may be stuck, or every record is behind the watermark).',
    expr:
      `changes(flowmark_operator_watermark_ms{operator="${WATCHED_STEP}"}[1m]) == 0` +
      ` and on (job, instance) (sum ${BY} (increase(flowmark_events_in_total[1m])) > 0` +
      ` or sum ${BY} (flowmark_consumer_lag_records) > 0)`,
    forMs: MIN,
    holds: (h) => {
      const now = latest(h);
      const wm = now?.watermarkMs;
      if (now === undefined || wm === null || wm === undefined || !Number.isFinite(wm) || !covers(h, MIN)) return false;
      if (!lastWindow(h, MIN).every((s) => s.watermarkMs === wm)) return false;
      return increase(h, (s) => s.eventsInTotal, MIN) > 0 || (now.consumerLagRecords ?? 0) > 0;
    },
  },
];

/**
 * Tracks which rules are pending and firing across evaluations, as Prometheus does.
 *
 * @example
 * const alerts = new AlertEvaluator();
 * alerts.evaluate(history, ctx); // after each new sample
 * alerts.firing() // [{ name: 'FlowmarkCheckpointsStalled', severity: 'critical', summary: '…', sinceMs: … }]
 */
export class AlertEvaluator {
  readonly #rules: readonly AlertRule[];
  /** Rule name → when its condition started holding, and when it started firing. */
  readonly #active = new Map<string, { holdsSinceMs: number; firingSinceMs: number | undefined }>();

  constructor(rules: readonly AlertRule[] = ALERT_RULES) {
    this.#rules = rules;
  }

  /** Evaluates every rule at the last sample of `history`; returns the rules firing now. */
  evaluate(history: readonly MonitorSample[], ctx: AlertContext): ActiveAlert[] {
    const now = latest(history);
    if (now === undefined) return this.firing();
    for (const rule of this.#rules) {
      if (!rule.holds(history, ctx)) {
        this.#active.delete(rule.name);
        continue;
      }
      let a = this.#active.get(rule.name);
      if (a === undefined) this.#active.set(rule.name, (a = { holdsSinceMs: now.atMs, firingSinceMs: undefined }));
      if (a.firingSinceMs === undefined && now.atMs - a.holdsSinceMs >= rule.forMs) a.firingSinceMs = now.atMs;
    }
    return this.firing();
  }

  /** The rules firing as of the last evaluation, in the order of the rules. */
  firing(): ActiveAlert[] {
    const out: ActiveAlert[] = [];
    for (const rule of this.#rules) {
      const since = this.#active.get(rule.name)?.firingSinceMs;
      if (since !== undefined)
        out.push({ name: rule.name, severity: rule.severity, summary: rule.summary, sinceMs: since });
    }
    return out;
  }

  /** The rules whose condition holds but whose `for` has not elapsed yet. */
  pending(): string[] {
    return this.#rules
      .filter((r) => {
        const a = this.#active.get(r.name);
        return a !== undefined && a.firingSinceMs === undefined;
      })
      .map((r) => r.name);
  }
}

/** A duration as Prometheus writes it: `2m`, `30s`, `1h30m`, `0s`. */
export function promDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const units: [string, number][] = [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ];
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

/** Where the rendered rules live in the repository. */
export const PROMETHEUS_RULES_PATH = 'deploy/prometheus/flowmark-alerts.yml';

/**
 * The Prometheus rules file of `rules` (committed as deploy/prometheus/flowmark-alerts.yml;
 * `node scripts/render-deploy.ts` writes it again).
 *
 * @example
 * renderPrometheusRules().split('\n')[0] // '# flowmark alert rules. Generated from src/observability/alert-rules.ts …'
 */
export function renderPrometheusRules(rules: readonly AlertRule[] = ALERT_RULES): string {
  const doc = {
    groups: [
      {
        name: 'flowmark',
        rules: rules.map((r) => ({
          alert: r.name,
          expr: r.expr,
          for: promDuration(r.forMs),
          labels: { severity: r.severity },
          annotations: { summary: r.summary, description: r.description },
        })),
      },
    ],
  };
  const header = [
    '# flowmark alert rules. Generated from src/observability/alert-rules.ts by `node scripts/render-deploy.ts`:',
    '# do not edit by hand (test/deploy/prometheus-files.test.ts fails when this file and the rules differ).',
    '# flowmark evaluates the same rules itself for the alert panel of its dashboard.',
  ];
  return `${header.join('\n')}\n${stringify(doc, { lineWidth: 0 })}`;
}
