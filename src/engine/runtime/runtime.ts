import type { CheckpointCommitter } from '../checkpoint.ts';
import { FlowmarkError } from '../errors.ts';
import { type HealthChange, HealthTracker, type RuntimeHealth } from '../health.ts';
import { engineMetrics, type MetricsRegistry, noopMetrics } from '../metrics.ts';
import type { Pipeline } from '../pipeline.ts';
import { ColdStorage, type ColdStorageOptions } from '../state/cold-storage.ts';
import type { Clock } from '../time.ts';
import { CheckpointCoordinator } from './checkpoint-coordinator.ts';
import { RuntimeGraph } from './graph.ts';
import { PollLoop } from './poll-loop.ts';
import { type NodeStats, RuntimeStats } from './runtime-stats.ts';
import { SourceRunner } from './source-runner.ts';

export type { NodeStats } from './runtime-stats.ts';

/**
 * The least processing time between two checkpoints when the application does not choose: the
 * one statement of this default (the `checkpoint.interval` config key declares it from here).
 * A checkpoint is cut as soon as the previous one is durable (group commit), but not sooner than
 * this after the previous cut: a checkpoint is one database transaction with a fixed cost.
 */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 20;

/**
 * The least time between two checkpoints while the input has a backlog (a drain, a job catching
 * up): the records read then have waited in their queue already, and bigger checkpoints cost
 * less per record, so the job catches up sooner.
 */
export const DEFAULT_BACKLOG_CHECKPOINT_INTERVAL_MS = 250;

/**
 * The longest an idle runtime goes without committing a checkpoint: nothing changed, but a
 * standby Kafka worker and the health check judge a job alive by its last checkpoint's age.
 * The unkeyed takeover (10 s, src/cli/modes/kafka-job.ts) and the health check (3 heartbeats,
 * src/observability) count on it being well below those.
 */
export const DEFAULT_CHECKPOINT_HEARTBEAT_MS = 2000;

/**
 * The longest a healthy runtime with minimum interval `checkpointIntervalMs` goes between two
 * checkpoints: its heartbeat, or the interval when that is longer. What liveness checks count in.
 */
export function checkpointHeartbeatOf(
  checkpointIntervalMs: number,
  heartbeatMs: number = DEFAULT_CHECKPOINT_HEARTBEAT_MS,
): number {
  return Math.max(checkpointIntervalMs, heartbeatMs);
}

/**
 * The longest the loop sleeps when no source delivered anything (the waits start at 1 ms after a
 * poll that delivered and double up to this). It bounds how late the loop sees a record that
 * arrives in a quiet queue (the log is polled; Kafka's poll itself waits for a fetch).
 */
export const DEFAULT_IDLE_WAIT_MS = 20;

export interface RuntimeOptions {
  /** Where checkpoints (outputs + state + offsets) are made durable. */
  committer: CheckpointCommitter;
  /** Processing time (idleness, checkpoint interval, metrics). Tests pass a ManualClock. */
  clock: Clock;
  metrics?: MetricsRegistry;
  /** Most records asked of a source per poll (default 1 024). */
  pollMaxRecords?: number;
  /**
   * The least processing time between two checkpoints (default
   * {@link DEFAULT_CHECKPOINT_INTERVAL_MS}); the next is cut once the previous is durable.
   */
  checkpointIntervalMs?: number;
  /** The same while the input has a backlog (default {@link DEFAULT_BACKLOG_CHECKPOINT_INTERVAL_MS}). */
  backlogCheckpointIntervalMs?: number;
  /**
   * The longest time without a checkpoint when nothing changes (default
   * {@link DEFAULT_CHECKPOINT_HEARTBEAT_MS}, never below `checkpointIntervalMs`).
   */
  checkpointHeartbeatMs?: number;
  /** Also checkpoint after this many source records (0 = off). Deterministic; used by tests. */
  checkpointEveryRecords?: number;
  /** Rows buffered for sinks before the source waits for a checkpoint (default 50 000). */
  maxBufferedRows?: number;
  /** How long to wait when no source delivered anything (default {@link DEFAULT_IDLE_WAIT_MS}). */
  idleWaitMs?: number;
  /**
   * Told when something starts failing and being retried (a checkpoint commit, a look-up) and
   * when it recovers: one call per episode, not per attempt.
   */
  onHealth?: (health: RuntimeHealth, change: HealthChange) => void;
  /** Longest wait between two attempts of a failed checkpoint commit (default 5 000 ms). */
  maxRetryBackoffMs?: number;
  /**
   * A memory budget for the time-bucketed state, past which its oldest sealed buckets go to
   * segment files in `dir` (docs/engine.md, "Cold segments"); absent: all of it stays in memory.
   */
  state?: ColdStorageOptions;
}

export interface RunOptions {
  /** Stops the run: the runtime checkpoints what it has and returns. */
  signal?: AbortSignal;
}

export interface RunSummary {
  recordsRead: number;
  checkpoints: number;
  lastCheckpointId: number;
}

/**
 * Runs a {@link Pipeline}: polls the sources, pushes records through the operators one at a
 * time, advances watermarks after every record (so lateness never depends on batch sizes),
 * and takes checkpoints: outputs, state delta and source offsets handed to the committer together.
 *
 * Checkpoints are pipelined and group-committed: checkpoint N is committed while the records
 * toward N + 1 are processed, and N + 1 is cut as soon as N is durable (not sooner than
 * `checkpointIntervalMs` after N's cut, `backlogCheckpointIntervalMs` under backlog) if anything
 * changed, else after `checkpointHeartbeatMs`. At most one commit is in flight, commits happen
 * strictly in order, the content of N is frozen when N is cut (rows swapped out, state values
 * serialized), and the offsets N covers are acknowledged upstream only after N is committed.
 * When N + 1 must be cut (record count, buffered rows, end of run) while N is still committing,
 * the loop waits for N first; otherwise a commit in flight never pauses the input.
 *
 * Back-pressure: sink rows are buffered only up to `maxBufferedRows` and asynchronous operators
 * only up to their own bound; past either, the source loop waits (for a checkpoint, or for the
 * operator to drain) before it reads on.
 *
 * This class only assembles four rooms (docs/engine.md, "The runtime"): the graph with its
 * watermark valves ({@link RuntimeGraph}), the poll loop ({@link PollLoop}, over one
 * {@link SourceRunner} per source), checkpoint coordination ({@link CheckpointCoordinator}) and
 * statistics and metrics ({@link RuntimeStats}).
 */
export class Runtime {
  readonly #graph: RuntimeGraph;
  readonly #sources: readonly SourceRunner[];
  readonly #health: HealthTracker;
  readonly #stats: RuntimeStats;
  readonly #checkpoints: CheckpointCoordinator;
  readonly #loop: PollLoop;
  readonly #committer: CheckpointCommitter;
  #opened = false;

  constructor(pipeline: Pipeline, options: RuntimeOptions) {
    const clock = options.clock;
    this.#committer = options.committer;
    this.#health = new HealthTracker(clock, options.onHealth);
    const health = this.#health;
    this.#graph = new RuntimeGraph(pipeline, {
      clock,
      health,
      maxBufferedRows: options.maxBufferedRows ?? 50_000,
      ...(options.state === undefined ? {} : { coldStorage: new ColdStorage(options.state) }),
    });
    this.#sources = this.#graph.nodes
      .filter((node) => node.spec.kind === 'source')
      .map((node) => new SourceRunner(node, this.#graph));
    if (this.#sources.length === 0) throw new FlowmarkError('FM_PIPELINE_INVALID', 'the pipeline has no source');
    this.#stats = new RuntimeStats(
      this.#graph.nodes,
      this.#sources,
      engineMetrics(options.metrics ?? noopMetrics),
      clock,
    );
    this.#checkpoints = new CheckpointCoordinator(this.#graph, this.#sources, {
      committer: options.committer,
      clock,
      health,
      stats: this.#stats,
      maxRetryBackoffMs: options.maxRetryBackoffMs ?? 5000,
    });
    this.#loop = new PollLoop(this.#sources, this.#graph, this.#checkpoints, this.#stats, {
      clock,
      pollMaxRecords: options.pollMaxRecords ?? 1024,
      checkpointIntervalMs: options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
      backlogCheckpointIntervalMs: options.backlogCheckpointIntervalMs ?? DEFAULT_BACKLOG_CHECKPOINT_INTERVAL_MS,
      checkpointHeartbeatMs: options.checkpointHeartbeatMs ?? DEFAULT_CHECKPOINT_HEARTBEAT_MS,
      checkpointEveryRecords: options.checkpointEveryRecords ?? 0,
      idleWaitMs: options.idleWaitMs ?? DEFAULT_IDLE_WAIT_MS,
    });
  }

  /** Restores the last checkpoint, if any. Called by `run`; callable earlier to inspect state. */
  async open(): Promise<void> {
    if (this.#opened) return;
    this.#opened = true;
    await this.#checkpoints.restore();
  }

  /** Runs until every source has ended (bounded input) or `signal` aborts; then checkpoints. */
  async run(options: RunOptions = {}): Promise<RunSummary> {
    await this.open();
    const { signal } = options;
    this.#checkpoints.signal = signal;
    try {
      await this.#loop.run(signal);
      await this.checkpoint();
    } catch (err) {
      // Whatever failed, a commit in flight must not outlive the run (nor retry forever).
      await this.#checkpoints.abandon();
      throw err;
    }
    return {
      recordsRead: this.#loop.recordsRead,
      checkpoints: this.#checkpoints.taken,
      lastCheckpointId: this.#checkpoints.checkpointId,
    };
  }

  /**
   * Takes a checkpoint and waits until it is durable: waits for the commit in flight, cuts a new
   * checkpoint (drains asynchronous work, then takes the rows produced since the last cut, the
   * state changes and the source positions), commits it and acknowledges its offsets upstream.
   * The loop itself does not wait for the commit.
   */
  async checkpoint(): Promise<void> {
    await this.open();
    await this.#checkpoints.start();
    await this.#checkpoints.settle();
  }

  /** Whether the runtime is working normally or retrying something (for /health and logs). */
  health(): RuntimeHealth {
    return this.#health.health();
  }

  /** Per-step counters, watermarks and state sizes (for the dashboard and tests). */
  stats(): NodeStats[] {
    return this.#stats.stats();
  }

  /** Total state entries over all operators. */
  stateEntries(): number {
    return this.stats().reduce((n, s) => n + s.state.entries, 0);
  }

  /** Pushes the current counters and gauges to the metrics registry. */
  publishMetrics(): void {
    this.#stats.publish();
  }

  /** The committed checkpoint id (0 before the first). */
  get checkpointId(): number {
    return this.#checkpoints.checkpointId;
  }

  async close(): Promise<void> {
    await this.#graph.close();
    for (const src of this.#sources) await src.reader.close?.();
    await this.#committer.idle?.();
  }
}
