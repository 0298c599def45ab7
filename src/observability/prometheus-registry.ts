/**
 * The engine's metric hooks (`MetricsRegistry`, src/engine/metrics.ts), bound to a prom-client
 * `Registry`: what `/metrics` serves and Prometheus scrapes.
 *
 * - Each metric is created once per name and reused afterwards, so several runtimes (or a runtime
 *   restarted in the same process) can share one binding: their counters add up. A second binding
 *   of the same prom-client registry adopts the metrics it finds there. Asking again for a name
 *   with another type or other labels is a programming error and throws.
 * - Node's default process metrics (`process_*`, `nodejs_*`) are registered once per registry.
 * - `flowmark_dead_letters_total` is derived here: the engine counts committed rows per sink
 *   (`flowmark_events_out_total{sink}`), and the rows of the dead-letter sink are dead letters.
 * - The adapter keeps the last value of every counter and gauge series, so the job monitor can
 *   read figures synchronously (`read`), and lets it hear every histogram observation
 *   (`onObserve`: the latency quantiles of the dashboard come from the observations themselves).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CounterHook, GaugeHook, HistogramHook, Labels, MetricsRegistry } from '../engine/index.ts';

/** The engine's counter of committed rows per sink. */
export const EVENTS_OUT_METRIC = 'flowmark_events_out_total';
/** Rows committed to the dead-letter sink (derived from {@link EVENTS_OUT_METRIC}). */
export const DEAD_LETTERS_METRIC = 'flowmark_dead_letters_total';
/** The sink id (and table) of dead letters in the attribution pipeline. */
export const DEFAULT_DEAD_LETTER_SINK = 'dead_letters';

export interface PrometheusMetricsOptions {
  /** A prom-client registry to fill (default: a new one, so nothing global is touched). */
  register?: Registry;
  /** Register Node's default process metrics (default true). */
  defaultMetrics?: boolean;
  /** The sink whose committed rows count as dead letters (default `dead_letters`). */
  deadLetterSink?: string;
}

/** Hears one histogram observation. */
export type ObservationListener = (labels: Labels, value: number) => void;

/**
 * A `MetricsRegistry` for the engine that is also the Prometheus exposition of the process.
 *
 * @example
 * const metrics = createPrometheusMetrics();
 * const runtime = new Runtime(pipeline, { committer, clock: systemClock, metrics });
 * // … later, in GET /metrics:
 * res.setHeader('Content-Type', metrics.contentType);
 * res.end(await metrics.metricsText()); // '# HELP flowmark_events_in_total Records read from a source\n…'
 */
export interface PrometheusMetrics extends MetricsRegistry {
  /** The prom-client registry behind the hooks. */
  readonly register: Registry;
  /** The Content-Type of {@link metricsText}. */
  readonly contentType: string;
  /** The text exposition of every metric of the registry. */
  metricsText(): Promise<string>;
  /** Calls `listener` on every later observation of the histogram `name`; returns the unsubscribe. */
  onObserve(name: string, listener: ObservationListener): () => void;
  /**
   * The current value of the counter or gauge `name`, summed over its series whose labels include
   * `where`; undefined when no such series was ever written.
   *
   * @example metrics.read('flowmark_events_out_total', { sink: 'dead_letters' }) // 12
   */
  read(name: string, where?: Labels): number | undefined;
}

type Kind = 'counter' | 'gauge' | 'histogram';

interface Series {
  labels: Labels;
  value: number;
}

/** @internal One metric of the adapter: its prom-client object, its hook and its shadow values. */
interface Entry {
  kind: Kind;
  labelNames: readonly string[];
  hook: CounterHook & GaugeHook & HistogramHook;
  series: Map<string, Series>;
}

const DEFAULT_METRICS_MARKER = 'process_cpu_user_seconds_total';

/** Creates the Prometheus binding of the engine's metrics. */
export function createPrometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  return new PromClientMetrics(options);
}

/** @internal */
class PromClientMetrics implements PrometheusMetrics {
  readonly register: Registry;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Map<string, Set<ObservationListener>>();
  readonly #deadLetterSink: string;
  readonly #deadLetters: CounterHook;

  constructor(options: PrometheusMetricsOptions) {
    this.register = options.register ?? new Registry();
    this.#deadLetterSink = options.deadLetterSink ?? DEFAULT_DEAD_LETTER_SINK;
    if ((options.defaultMetrics ?? true) && this.register.getSingleMetric(DEFAULT_METRICS_MARKER) === undefined) {
      collectDefaultMetrics({ register: this.register });
    }
    this.#deadLetters = this.counter(
      DEAD_LETTERS_METRIC,
      `Rows committed to the dead-letter sink (${this.#deadLetterSink}): bad, late or duplicate input, kept with its reason`,
      [],
    );
  }

  get contentType(): string {
    return this.register.contentType;
  }

  metricsText(): Promise<string> {
    return this.register.metrics();
  }

  counter(name: string, help: string, labelNames: readonly string[]): CounterHook {
    const hook = this.#entry('counter', name, help, labelNames).hook;
    if (name !== EVENTS_OUT_METRIC) return hook;
    return {
      inc: (labels, value = 1) => {
        hook.inc(labels, value);
        if (labels.sink === this.#deadLetterSink) this.#deadLetters.inc({}, value);
      },
    };
  }

  gauge(name: string, help: string, labelNames: readonly string[]): GaugeHook {
    return this.#entry('gauge', name, help, labelNames).hook;
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets?: readonly number[]): HistogramHook {
    return this.#entry('histogram', name, help, labelNames, buckets).hook;
  }

  onObserve(name: string, listener: ObservationListener): () => void {
    let set = this.#listeners.get(name);
    if (set === undefined) this.#listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => void set.delete(listener);
  }

  read(name: string, where: Labels = {}): number | undefined {
    const entry = this.#entries.get(name);
    if (entry === undefined) return undefined;
    let sum: number | undefined;
    for (const s of entry.series.values()) {
      if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) sum = (sum ?? 0) + s.value;
    }
    return sum;
  }

  #entry(kind: Kind, name: string, help: string, labelNames: readonly string[], buckets?: readonly number[]): Entry {
    const known = this.#entries.get(name);
    if (known !== undefined) {
      if (known.kind !== kind || known.labelNames.join(',') !== labelNames.join(',')) {
        throw new TypeError(
          `metric ${name} is already registered as a ${known.kind} with labels [${known.labelNames.join(', ')}]; ` +
            `it cannot also be a ${kind} with labels [${labelNames.join(', ')}]`,
        );
      }
      return known;
    }
    const config = { name, help, labelNames: [...labelNames], registers: [this.register] };
    // Another binding of the same prom-client registry (a second job in the process) may have
    // created it: adopt it when it has the same shape.
    const adopt = <M>(type: new (c: typeof config) => M): M => {
      const found = this.register.getSingleMetric(name);
      if (found === undefined) return new type(config);
      const foundLabels = (found as unknown as { labelNames?: string[] }).labelNames ?? [];
      if (!(found instanceof type) || foundLabels.join(',') !== labelNames.join(',')) {
        throw new TypeError(
          `metric ${name} is already in the prom-client registry with another type or labels ([${foundLabels.join(', ')}])`,
        );
      }
      return found;
    };
    const series = new Map<string, Series>();
    const keyOf = (labels: Labels) => labelNames.map((n) => labels[n] ?? '').join('\u0000');
    const shadow = (labels: Labels, update: (old: number) => number) => {
      const key = keyOf(labels);
      const s = series.get(key);
      if (s === undefined) series.set(key, { labels: { ...labels }, value: update(0) });
      else s.value = update(s.value);
    };
    const ignore = () => {};
    let hook: Entry['hook'];
    if (kind === 'counter') {
      const c = adopt(Counter);
      hook = {
        // A counter only goes up: a negative or non-finite increment is dropped, never thrown
        // into the runtime's checkpoint path.
        inc: (labels, value = 1) => {
          if (!(value >= 0 && Number.isFinite(value))) return;
          c.inc(labels, value);
          shadow(labels, (old) => old + value);
        },
        set: ignore,
        observe: ignore,
      };
    } else if (kind === 'gauge') {
      const g = adopt(Gauge);
      hook = {
        set: (labels, value) => {
          g.set(labels, value);
          shadow(labels, () => value);
        },
        inc: ignore,
        observe: ignore,
      };
    } else {
      const found = this.register.getSingleMetric(name);
      const h =
        found === undefined
          ? new Histogram(buckets === undefined ? config : { ...config, buckets: [...buckets] })
          : adopt(Histogram);
      hook = {
        observe: (labels, value) => {
          h.observe(labels, value);
          const listeners = this.#listeners.get(name);
          if (listeners !== undefined) for (const l of listeners) l(labels, value);
        },
        inc: ignore,
        set: ignore,
      };
    }
    const entry: Entry = { kind, labelNames: [...labelNames], hook, series };
    this.#entries.set(name, entry);
    return entry;
  }
}
