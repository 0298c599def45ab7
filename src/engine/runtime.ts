import type { Checkpoint, CheckpointCommitter } from './checkpoint.ts';
import { FlowmarkError } from './errors.ts';
import { type HealthChange, HealthTracker, isRetriable, nextBackoffMs, type RuntimeHealth } from './health.ts';
import { type EngineMetrics, engineMetrics, type MetricsRegistry, noopMetrics } from './metrics.ts';
import type { Operator, OperatorContext, Output } from './operator.ts';
import { PartitionWatermarks } from './partition-watermarks.ts';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_OUT_OF_ORDERNESS_MS,
  type NodeSpec,
  type Pipeline,
  type SourceSpec,
} from './pipeline.ts';
import { frozenEntry, SNAPSHOT_FORMAT_VERSION, type SnapshotEntry, type SnapshotMeta } from './snapshot.ts';
import { type InvalidRecord, Rejected, type SourceRecord } from './source.ts';
import type { StateStore } from './state/state-store.ts';
import { type StateSize, StateTable, type TableChange } from './state/state-table.ts';
import { type Clock, MAX_WATERMARK, MIN_WATERMARK } from './time.ts';

export interface RuntimeOptions {
  /** Where checkpoints (outputs + state + offsets) are made durable. */
  committer: CheckpointCommitter;
  /** Processing time (idleness, checkpoint interval, metrics). Tests pass a ManualClock. */
  clock: Clock;
  metrics?: MetricsRegistry;
  /** Most records asked of a source per poll (default 1 024). */
  pollMaxRecords?: number;
  /** Processing time between checkpoints (default 5 000 ms). */
  checkpointIntervalMs?: number;
  /** Also checkpoint after this many source records (0 = off). Deterministic; used by tests. */
  checkpointEveryRecords?: number;
  /** Rows buffered for sinks before the source waits for a checkpoint (default 50 000). */
  maxBufferedRows?: number;
  /** How long to wait when no source delivered anything (default 20 ms). */
  idleWaitMs?: number;
  /**
   * Told when something starts failing and being retried (a checkpoint commit, a look-up) and
   * when it recovers: one call per episode, not per attempt.
   */
  onHealth?: (health: RuntimeHealth, change: HealthChange) => void;
  /** Longest wait between two attempts of a failed checkpoint commit (default 5 000 ms). */
  maxRetryBackoffMs?: number;
}

export interface RunOptions {
  /** Stops the run: the runtime checkpoints what it has and returns. */
  signal?: AbortSignal;
}

export interface NodeStats {
  id: string;
  kind: string;
  inputs: string[];
  recordsIn: number;
  recordsOut: Record<string, number>;
  watermarkMs: number;
  idle: boolean;
  state: StateSize;
  details: Record<string, unknown>;
}

export interface RunSummary {
  recordsRead: number;
  checkpoints: number;
  lastCheckpointId: number;
}

interface Edge {
  node: RuntimeNode;
  input: number;
}

/** @internal One node of the running graph. */
class RuntimeNode {
  readonly spec: NodeSpec;
  operator: Operator | undefined;
  readonly inputWm: number[];
  readonly inputIdle: boolean[];
  /** The node's watermark: minimum over active inputs. */
  wm = MIN_WATERMARK;
  /** The last watermark this node forwarded downstream. */
  outWm = MIN_WATERMARK;
  idle = false;
  readonly edges = new Map<string, Edge[]>();
  readonly tables = new Map<string, StateStore>();
  recordsIn = 0;
  readonly #outCounters = new Map<string, { n: number }>();
  constructor(spec: NodeSpec) {
    this.spec = spec;
    this.inputWm = spec.inputs.map(() => MIN_WATERMARK);
    this.inputIdle = spec.inputs.map(() => false);
    for (const port of spec.ports) {
      this.edges.set(port, []);
      this.#outCounters.set(port, { n: 0 });
    }
  }
  /** A mutable counter per output port (an object, so the hot path does no keyed look-up). */
  outCounter(port: string): { n: number } {
    return this.#outCounters.get(port) as { n: number };
  }
  get recordsOut(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [port, c] of this.#outCounters) out[port] = c.n;
    return out;
  }
  #downstream: Edge[] | undefined;
  /** Every edge leaving the node, over all ports (watermarks go to all of them). */
  downstream(): Edge[] {
    this.#downstream ??= [...this.edges.values()].flat();
    return this.#downstream;
  }
}

/** @internal A running source. */
class SourceRunner {
  readonly spec: SourceSpec<unknown, unknown>;
  readonly node: RuntimeNode;
  readonly tracker: PartitionWatermarks;
  readonly nextOffsets: number[];
  ended = false;
  out!: Output;
  invalid!: Output<InvalidRecord<unknown>>;
  constructor(node: RuntimeNode) {
    this.node = node;
    this.spec = node.spec.source as SourceSpec<unknown, unknown>;
    const parts = this.spec.reader.partitions;
    this.tracker = new PartitionWatermarks(
      parts,
      this.spec.maxOutOfOrdernessMs ?? DEFAULT_MAX_OUT_OF_ORDERNESS_MS,
      this.spec.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    );
    this.nextOffsets = parts.map(() => 0);
  }
  offsets(): Map<number, number> {
    return new Map(this.spec.reader.partitions.map((p, i) => [p, this.nextOffsets[i] as number]));
  }
}

const SIDE_OUTPUT = /^(late|invalid)/i;

/**
 * Arrival times of the records of one checkpoint, for the end-to-end latency histogram: at most
 * {@link ArrivalSample.CAPACITY} values. When full, every other value is dropped and from then on
 * only every 2nd (4th, …) arrival is kept, so the sample stays spread evenly over the checkpoint.
 */
class ArrivalSample {
  static readonly CAPACITY = 2048;
  readonly #times = new Float64Array(ArrivalSample.CAPACITY);
  #size = 0;
  #stride = 1;
  #seen = 0;
  add(timeMs: number): void {
    if (this.#seen++ % this.#stride !== 0) return;
    if (this.#size === ArrivalSample.CAPACITY) {
      for (let i = 0; i < this.#size / 2; i++) this.#times[i] = this.#times[2 * i] as number;
      this.#size /= 2;
      this.#stride *= 2;
      if ((this.#seen - 1) % this.#stride !== 0) return;
    }
    this.#times[this.#size++] = timeMs;
  }
  forEach(fn: (timeMs: number) => void): void {
    for (let i = 0; i < this.#size; i++) fn(this.#times[i] as number);
  }
}
/** How often (processing time) the loop yields to the event loop while records keep coming. */
const YIELD_EVERY_MS = 50;
/**
 * While a commit is in flight, the loop also yields every this many records: each statement of
 * the commit's transaction needs an event-loop turn to be sent and answered, and a database that
 * waits for the loop is idle time taken from the overlap.
 */
const YIELD_EVERY_RECORDS_WHILE_COMMITTING = 256;

/** A checkpoint cut and handed to the committer, with what to do once it is durable. */
interface CutCheckpoint {
  checkpoint: Checkpoint;
  /** Per source, the offsets it covers: acknowledged upstream once it is committed. */
  offsets: Array<[SourceRunner, Map<number, number>]>;
  arrivals: ArrivalSample;
  startedMs: number;
}

/** Gives the event loop a turn (I/O callbacks included), whatever the clock. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs a {@link Pipeline}: polls the sources, pushes records through the operators one at a
 * time, advances watermarks after every record (so lateness never depends on batch sizes),
 * and takes checkpoints: outputs, state delta and source offsets handed to the committer together.
 *
 * Checkpoints are pipelined: checkpoint N is committed while the records toward N + 1 are
 * processed. At most one commit is in flight, commits happen strictly in order, the content of N
 * is frozen when N is cut (rows swapped out, state values serialized), and the offsets N covers
 * are acknowledged upstream only after N is committed. When N + 1 must be cut (record count,
 * buffered rows, end of run) while N is still committing, the loop waits for N first; a cut due
 * only to the interval is put off until N is done, so a slow commit stretches the interval
 * instead of pausing the input.
 *
 * Back-pressure: sink rows are buffered only up to `maxBufferedRows` and asynchronous operators
 * only up to their own bound; past either, the source loop waits (for a checkpoint, or for the
 * operator to drain) before it reads on.
 */
export class Runtime {
  readonly #pipeline: Pipeline;
  readonly #committer: CheckpointCommitter;
  readonly #clock: Clock;
  readonly #metrics: EngineMetrics;
  readonly #nodes = new Map<string, RuntimeNode>();
  readonly #order: RuntimeNode[] = [];
  readonly #sources: SourceRunner[] = [];
  readonly #asyncOps: Operator[] = [];
  readonly #pollMaxRecords: number;
  readonly #checkpointIntervalMs: number;
  readonly #checkpointEveryRecords: number;
  readonly #maxBufferedRows: number;
  readonly #idleWaitMs: number;
  #outputs = new Map<string, unknown[]>();
  #bufferedRows = 0;
  #pressure = false;
  #opened = false;
  #checkpointId = 0;
  #checkpointsTaken = 0;
  #recordsSinceCheckpoint = 0;
  #recordsRead = 0;
  #lastCheckpointAtMs: number;
  #lastYieldMs = 0;
  /** Arrival times of records read since the last checkpoint (a bounded, evenly strided sample). */
  #arrivals = new ArrivalSample();
  #published = new Map<string, number>();
  readonly #health: HealthTracker;
  readonly #maxRetryBackoffMs: number;
  #signal: AbortSignal | undefined;
  /** True when every source reader has a read schedule (`readRound`): see `#pollOrder`. */
  readonly #scheduled: boolean;
  /** The commit in flight (commit + acknowledgement of the last cut), if any; never rejects. */
  #inflight: Promise<void> | undefined;
  /** Whether {@link Runtime.#inflight} has not settled yet. */
  #committing = false;
  /** The failure of the commit in flight, thrown by the loop at its next turn. */
  #commitFailure: { error: unknown } | undefined;
  /** Set when the run ends with an error: a commit being retried gives up. */
  #abandoned = false;

  constructor(pipeline: Pipeline, options: RuntimeOptions) {
    this.#pipeline = pipeline;
    this.#committer = options.committer;
    this.#clock = options.clock;
    this.#metrics = engineMetrics(options.metrics ?? noopMetrics);
    this.#pollMaxRecords = options.pollMaxRecords ?? 1024;
    this.#checkpointIntervalMs = options.checkpointIntervalMs ?? 5000;
    this.#checkpointEveryRecords = options.checkpointEveryRecords ?? 0;
    this.#maxBufferedRows = options.maxBufferedRows ?? 50_000;
    this.#idleWaitMs = options.idleWaitMs ?? 20;
    this.#lastCheckpointAtMs = this.#clock.nowMs();
    this.#health = new HealthTracker(this.#clock, options.onHealth);
    this.#maxRetryBackoffMs = options.maxRetryBackoffMs ?? 5000;
    this.#build();
    this.#scheduled = this.#sources.every((s) => s.spec.reader.readRound !== undefined);
  }

  #build(): void {
    const specs = this.#pipeline.nodes();
    for (const spec of specs) {
      const node = new RuntimeNode(spec);
      this.#nodes.set(spec.id, node);
      this.#order.push(node);
      spec.inputs.forEach((ref, input) => {
        (this.#nodes.get(ref.node) as RuntimeNode).edges.get(ref.port)?.push({ node, input });
      });
    }
    for (const node of this.#order) {
      for (const [port, edges] of node.edges) {
        if (edges.length === 0 && SIDE_OUTPUT.test(port)) {
          throw new FlowmarkError(
            'FM_PIPELINE_INVALID',
            `the "${port}" output of step "${node.spec.id}" goes nowhere: its records would be lost; sink it (for example .sink('dead-letters'))`,
          );
        }
      }
      if (node.spec.kind === 'source') {
        const src = new SourceRunner(node);
        src.out = this.#output(node, 'out');
        src.invalid = this.#output(node, 'invalid');
        this.#sources.push(src);
      } else if (node.spec.kind === 'sink') {
        this.#outputs.set(node.spec.id, []);
      } else {
        const op = (node.spec.create as () => Operator)();
        node.operator = op;
        op.open(this.#context(node));
        if (op.drain !== undefined) this.#asyncOps.push(op);
      }
    }
    if (this.#sources.length === 0) throw new FlowmarkError('FM_PIPELINE_INVALID', 'the pipeline has no source');
  }

  #context(node: RuntimeNode): OperatorContext {
    const register = (name: string, store: StateStore): void => {
      if (node.tables.has(name)) {
        throw new FlowmarkError('FM_PIPELINE_INVALID', `step "${node.spec.id}" declares state "${name}" twice`);
      }
      node.tables.set(name, store);
    };
    return {
      nodeId: node.spec.id,
      clock: this.#clock,
      table: <V>(name: string, options?: { ttlMs?: number }) => {
        const t = new StateTable<V>(name, options);
        register(name, t);
        return t;
      },
      registerState: (name, store) => register(name, store),
      output: <T>(port = 'out') => this.#output(node, port) as Output<T>,
      emitWatermark: (wm) => this.#emitWatermark(node, wm),
      signalPressure: () => {
        this.#pressure = true;
      },
      retrying: (err) => this.#health.failing(node.spec.id, err),
      recovered: () => this.#health.recovered(node.spec.id),
    };
  }

  #output(node: RuntimeNode, port: string): Output {
    const edges = node.edges.get(port);
    if (edges === undefined) {
      throw new FlowmarkError('FM_PIPELINE_INVALID', `step "${node.spec.id}" has no output "${port}"`);
    }
    const counter = node.outCounter(port);
    const deliver = edges.map((e) => this.#deliverTo(e));
    if (deliver.length === 0) return { push: () => void counter.n++ };
    if (deliver.length === 1) {
      const one = deliver[0] as Output['push'];
      return {
        push: (v, ts) => {
          counter.n++;
          one(v, ts);
        },
      };
    }
    return {
      push: (v, ts) => {
        counter.n++;
        for (const d of deliver) d(v, ts);
      },
    };
  }

  #deliverTo(edge: Edge): Output['push'] {
    const target = edge.node;
    if (target.spec.kind === 'sink') {
      const id = target.spec.id;
      return (v) => {
        target.recordsIn++;
        (this.#outputs.get(id) as unknown[]).push(v);
        if (++this.#bufferedRows >= this.#maxBufferedRows) this.#pressure = true;
      };
    }
    const input = edge.input;
    return (v, ts) => {
      target.recordsIn++;
      (target.operator as Operator).processRecord(input, v, ts);
    };
  }

  // ---- watermarks -------------------------------------------------------------------------

  #emitWatermark(node: RuntimeNode, wm: number): void {
    if (wm <= node.outWm && !node.idle) return;
    if (wm > node.outWm) node.outWm = wm;
    node.idle = false;
    for (const e of node.downstream()) this.#receiveWatermark(e.node, e.input, node.outWm);
  }

  #emitIdle(node: RuntimeNode): void {
    if (node.idle) return;
    node.idle = true;
    for (const e of node.downstream()) this.#receiveIdle(e.node, e.input);
  }

  #receiveWatermark(node: RuntimeNode, input: number, wm: number): void {
    node.inputIdle[input] = false;
    if (wm > (node.inputWm[input] as number)) node.inputWm[input] = wm;
    this.#recompute(node);
  }

  #receiveIdle(node: RuntimeNode, input: number): void {
    node.inputIdle[input] = true;
    this.#recompute(node);
  }

  #recompute(node: RuntimeNode): void {
    if (node.spec.kind === 'sink') return;
    let min = MAX_WATERMARK;
    let active = false;
    for (let i = 0; i < node.inputWm.length; i++) {
      if (node.inputIdle[i]) continue;
      active = true;
      const w = node.inputWm[i] as number;
      if (w < min) min = w;
    }
    if (!active) {
      this.#emitIdle(node);
      return;
    }
    const wasIdle = node.idle;
    if (min > node.wm) {
      node.wm = min;
      const op = node.operator as Operator;
      if (op.processWatermark !== undefined) op.processWatermark(min);
      else this.#emitWatermark(node, min);
    }
    // Active again without an advance: tell downstream we hold the watermark again.
    if (wasIdle && node.idle) this.#emitWatermark(node, node.outWm);
  }

  #advanceSource(src: SourceRunner): void {
    const w = src.tracker.watermark();
    if (src.tracker.allIdle()) {
      // Progress first, then idleness: an idle source must not hold back the others of a union.
      if (w > src.node.outWm) this.#emitWatermark(src.node, w);
      this.#emitIdle(src.node);
      return;
    }
    if (w > src.node.outWm || src.node.idle) this.#emitWatermark(src.node, Math.max(w, src.node.outWm));
  }

  // ---- the loop ---------------------------------------------------------------------------

  /** Restores the last checkpoint, if any. Called by `run`; callable earlier to inspect state. */
  async open(): Promise<void> {
    if (this.#opened) return;
    this.#opened = true;
    const point = await this.#committer.load();
    if (point === undefined) return;
    for await (const e of point.entries) {
      const table = this.#nodes.get(e.node)?.tables.get(e.table);
      if (table === undefined) {
        throw new FlowmarkError(
          'FM_SNAPSHOT_MISMATCH',
          `the checkpoint holds state ${e.node}/${e.table}, which this pipeline does not have: the pipeline changed since the checkpoint was taken`,
        );
      }
      table.restoreEntry(e.key, e.value, e.expiresAtMs);
    }
    for (const [id, m] of Object.entries(point.meta.nodes)) {
      const node = this.#nodes.get(id);
      if (node === undefined) continue;
      // +∞ is the end of a bounded input (a drain): everything was final and released then. A new
      // run is new input, so it starts from −∞ again; the restored partition maxima bring the
      // watermark back to where it was with the first record (older records are then late).
      const resume = (w: number) => (w === MAX_WATERMARK ? MIN_WATERMARK : w);
      m.inputWatermarksMs.forEach((w, i) => {
        if (i < node.inputWm.length) node.inputWm[i] = resume(w);
      });
      node.wm = resume(m.watermarkMs);
      node.outWm = resume(m.outputWatermarkMs);
    }
    for (const src of this.#sources) {
      const pos = point.meta.sources[src.node.spec.id];
      if (pos === undefined) continue;
      src.spec.reader.partitions.forEach((p, i) => {
        src.nextOffsets[i] = pos.offsets[p] ?? 0;
      });
      src.tracker.restoreMaxEventTimes(pos.maxEventTimeMs);
      await src.spec.reader.seek(src.offsets());
    }
    for (const node of this.#order) node.operator?.afterRestore?.(node.wm);
    this.#checkpointId = point.checkpointId;
  }

  /** Runs until every source has ended (bounded input) or `signal` aborts; then checkpoints. */
  async run(options: RunOptions = {}): Promise<RunSummary> {
    await this.open();
    const { signal } = options;
    this.#signal = signal;
    try {
      await this.#loop(signal);
      await this.checkpoint();
    } catch (err) {
      // Whatever failed, a commit in flight must not outlive the run (nor retry forever).
      this.#abandoned = true;
      await this.#inflight;
      throw err;
    }
    return {
      recordsRead: this.#recordsRead,
      checkpoints: this.#checkpointsTaken,
      lastCheckpointId: this.#checkpointId,
    };
  }

  async #loop(signal: AbortSignal | undefined): Promise<void> {
    while (signal?.aborted !== true) {
      this.#throwCommitFailure();
      let delivered = 0;
      let active = 0;
      for (const src of this.#pollOrder()) {
        active++;
        const n = await this.#pollOnce(src);
        delivered += n;
        // Scheduled sources: after a poll that delivered, choose again (another source may now be first).
        if (n > 0 && this.#scheduled) break;
      }
      if (active === 0) break;
      // With a backlog every poll delivers, so nothing below would wait: give the event loop a
      // turn now and then, so that signals (Ctrl-C), timers and I/O callbacks are not starved.
      if (this.#clock.nowMs() - this.#lastYieldMs >= YIELD_EVERY_MS) {
        this.#lastYieldMs = this.#clock.nowMs();
        await this.#clock.sleep(0);
      }
      // Due by the interval: cut now unless the previous checkpoint is still committing, in which
      // case reading goes on and the cut waits for a later turn.
      if (this.#clock.nowMs() - this.#lastCheckpointAtMs >= this.#checkpointIntervalMs && !this.#committing) {
        await this.#startCheckpoint();
      }
      if (delivered === 0) {
        // Nothing to read: a commit in flight finishing is what could change that soonest.
        if (this.#committing) await this.#settle();
        else await this.#clock.sleep(this.#idleWaitMs);
      }
    }
  }

  /**
   * The sources to poll in this turn of the loop. Scheduled (every reader has `readRound`): by
   * lowest round, then declaration order — the loop polls them in turn until one delivers.
   * Otherwise each source once, in declaration order.
   */
  #pollOrder(): SourceRunner[] {
    const open = this.#sources.filter((s) => !s.ended);
    if (!this.#scheduled) return open;
    const rounds = new Map(open.map((s) => [s, (s.spec.reader.readRound as () => number)()]));
    return open.sort((a, b) => (rounds.get(a) as number) - (rounds.get(b) as number));
  }

  /** Polls one source once and pushes what it delivered; returns the number of records. */
  async #pollOnce(src: SourceRunner): Promise<number> {
    const res = await src.spec.reader.poll(this.#pollMaxRecords);
    let sinceYield = 0;
    for (const rec of res.records) {
      this.#ingest(src, rec);
      if (this.#pressure) await this.#relievePressure();
      if (this.#checkpointEveryRecords > 0 && this.#recordsSinceCheckpoint >= this.#checkpointEveryRecords) {
        await this.#startCheckpoint();
      }
      if (++sinceYield >= YIELD_EVERY_RECORDS_WHILE_COMMITTING && this.#committing) {
        sinceYield = 0;
        await yieldToEventLoop();
      }
    }
    for (const op of this.#asyncOps) op.endOfBatch?.();
    if (src.tracker.afterPoll(res.caughtUp, this.#clock.nowMs())) this.#advanceSource(src);
    if (res.ended === true) {
      src.ended = true;
      // The end of input is the end of every source (a drain, a replay): one source that ends
      // early does not release its watermark before the others end, so that a drained run and a
      // live run stopped at the same place have judged every record alike.
      if (this.#sources.every((s) => s.ended)) {
        for (const s of this.#sources) this.#emitWatermark(s.node, MAX_WATERMARK);
      }
    }
    return res.records.length;
  }

  #ingest(src: SourceRunner, rec: SourceRecord<unknown>): void {
    const i = src.tracker.indexOf(rec.partition);
    src.nextOffsets[i] = rec.offset + 1;
    this.#recordsRead++;
    if (rec.timestampMs !== undefined) this.#arrivals.add(rec.timestampMs);
    this.#recordsSinceCheckpoint++;
    src.node.recordsIn++;
    const decode = src.spec.decode;
    const value = decode === undefined ? rec.value : decode(rec.value);
    if (value instanceof Rejected) {
      this.#reject(src, rec, value.reason, value.detail);
      return;
    }
    const ts = src.spec.eventTimeMs(value);
    if (!Number.isFinite(ts)) {
      this.#reject(src, rec, 'invalid_event_time', `event time ${String(ts)} is not a finite number of ms`);
      return;
    }
    // The record is judged against the watermark of earlier arrivals: push first, then advance.
    src.out.push(value, ts);
    if (src.tracker.observe(i, ts)) this.#advanceSource(src);
  }

  #reject(src: SourceRunner, rec: SourceRecord<unknown>, reason: string, detail: string): void {
    src.invalid.push(
      { source: src.node.spec.id, partition: rec.partition, offset: rec.offset, raw: rec.value, reason, detail },
      src.node.outWm,
    );
  }

  async #relievePressure(): Promise<void> {
    const started = this.#clock.nowMs();
    this.#pressure = false;
    if (this.#bufferedRows >= this.#maxBufferedRows) await this.#startCheckpoint();
    else await this.#drainAsync();
    this.#metrics.backpressureSecondsTotal.inc({}, (this.#clock.nowMs() - started) / 1000);
  }

  async #drainAsync(): Promise<void> {
    // Draining one operator may feed another: repeat until all are quiet.
    for (;;) {
      const busy = this.#asyncOps.filter((op) => op.hasPending?.() ?? false);
      if (busy.length === 0) return;
      for (const op of busy) await (op.drain as () => Promise<void>)();
    }
  }

  /**
   * Takes a checkpoint and waits until it is durable: waits for the commit in flight, cuts a new
   * checkpoint (drains asynchronous work, then takes the rows produced since the last cut, the
   * state changes and the source positions), commits it and acknowledges its offsets upstream.
   * The loop itself does not wait: see {@link Runtime.#startCheckpoint}.
   */
  async checkpoint(): Promise<void> {
    await this.#startCheckpoint();
    await this.#settle();
  }

  /**
   * Cuts a checkpoint and starts committing it without waiting; first waits for the previous
   * commit (at most one in flight, strictly in order): that wait is the back-pressure of a slow
   * database.
   */
  async #startCheckpoint(): Promise<void> {
    await this.open();
    await this.#settle();
    const cut = await this.#cut();
    this.#committing = true;
    this.#inflight = this.#commitAndAcknowledge(cut).then(
      () => {
        this.#committing = false;
      },
      (error: unknown) => {
        this.#committing = false;
        this.#commitFailure ??= { error };
      },
    );
  }

  /** Waits for the commit in flight, if any; throws its failure. */
  async #settle(): Promise<void> {
    if (this.#inflight !== undefined) {
      await this.#inflight;
      this.#inflight = undefined;
    }
    this.#throwCommitFailure();
  }

  #throwCommitFailure(): void {
    const failure = this.#commitFailure;
    if (failure !== undefined) throw failure.error;
  }

  /** Freezes everything since the last cut into a checkpoint; the loop then goes on afresh. */
  async #cut(): Promise<CutCheckpoint> {
    const startedMs = this.#clock.nowMs();
    await this.#drainAsync();
    // The previous checkpoint is committed (`#startCheckpoint` waited for it): ids stay consecutive.
    const id = this.#checkpointId + 1;
    const taken: Array<{ nodeId: string; name: string; table: StateStore; changes: TableChange<unknown>[] }> = [];
    let changed = 0;
    let live = 0;
    const discard = this.#committer.discardsState === true;
    for (const node of this.#order) {
      for (const [name, table] of node.tables) {
        const took = table.takeChanges();
        // The changes are taken (so they are not reported again) but not serialized.
        if (discard) continue;
        const changes = Array.isArray(took) ? (took as TableChange<unknown>[]) : [...took];
        taken.push({ nodeId: node.spec.id, name, table, changes });
        changed += changes.length;
        live += table.measure().entries;
      }
    }
    // Full when the live state is smaller than the delta (at the end of a drain every key expires:
    // one "delete the job's state" instead of a deletion per key): never dearer than the delta.
    const full = id === 1 || live < changed;
    const entries: SnapshotEntry[] = [];
    for (const { nodeId, name, table, changes } of taken) {
      for (const [key, value] of full ? table.allEntries() : changes) {
        if (full && value === undefined) continue;
        const exp = value === undefined ? undefined : table.expiryOf?.(key);
        entries.push(frozenEntry(nodeId, name, key, value, exp));
      }
    }
    const checkpoint: Checkpoint = {
      id,
      snapshot: {
        version: SNAPSHOT_FORMAT_VERSION,
        checkpointId: id,
        kind: full ? 'full' : 'delta',
        meta: this.#meta(),
        entries,
      },
      outputs: this.#outputs,
    };
    this.#outputs = new Map([...this.#outputs.keys()].map((k) => [k, []]));
    this.#bufferedRows = 0;
    this.#pressure = false;
    this.#recordsSinceCheckpoint = 0;
    this.#lastCheckpointAtMs = startedMs;
    const arrivals = this.#arrivals;
    this.#arrivals = new ArrivalSample();
    const offsets = this.#sources.map((src): [SourceRunner, Map<number, number>] => [src, src.offsets()]);
    return { checkpoint, offsets, arrivals, startedMs };
  }

  /** Commits a cut checkpoint, then acknowledges its offsets upstream and reports it. */
  async #commitAndAcknowledge(cut: CutCheckpoint): Promise<void> {
    const { checkpoint } = cut;
    await this.#commit(checkpoint);
    this.#checkpointId = checkpoint.id;
    this.#checkpointsTaken++;
    for (const [src, offsets] of cut.offsets) await src.spec.reader.commit?.(offsets);
    const now = this.#clock.nowMs();
    for (const [sink, rows] of checkpoint.outputs) {
      if (rows.length > 0) this.#metrics.eventsOut.inc({ sink }, rows.length);
    }
    const latency = this.#metrics.endToEndLatencySeconds;
    cut.arrivals.forEach((t) => {
      latency.observe({}, Math.max(0, now - t) / 1000);
    });
    this.#metrics.lastCheckpointTimestampSeconds.set({}, now / 1000);
    this.#metrics.checkpointDurationSeconds.observe({}, (now - cut.startedMs) / 1000);
    this.publishMetrics();
  }

  /**
   * Commits, retrying while the failure is retriable (the database is unavailable) — for as long
   * as it takes, unless the run is stopped. The same (frozen) checkpoint object is committed each
   * time, so its delta is never lost; nothing is acknowledged meanwhile, and the input waits as
   * soon as the next checkpoint is due to be cut.
   */
  async #commit(checkpoint: Checkpoint): Promise<void> {
    let backoffMs: number | undefined;
    for (;;) {
      try {
        await this.#committer.commit(checkpoint);
        this.#health.recovered('checkpoint');
        return;
      } catch (err) {
        if (!isRetriable(err) || this.#signal?.aborted === true || this.#abandoned) throw err;
        this.#health.failing('checkpoint', err);
        this.#metrics.commitRetries.inc({});
        backoffMs = nextBackoffMs(backoffMs, 100, this.#maxRetryBackoffMs);
        await this.#clock.sleep(backoffMs);
      }
    }
  }

  /** Whether the runtime is working normally or retrying something (for /health and logs). */
  health(): RuntimeHealth {
    return this.#health.health();
  }

  #meta(): SnapshotMeta {
    const meta: SnapshotMeta = { sources: {}, nodes: {} };
    for (const src of this.#sources) {
      const offsets: Record<string, number> = {};
      src.spec.reader.partitions.forEach((p, i) => {
        offsets[p] = src.nextOffsets[i] as number;
      });
      meta.sources[src.node.spec.id] = { offsets, maxEventTimeMs: src.tracker.maxEventTimes() };
    }
    for (const node of this.#order) {
      meta.nodes[node.spec.id] = {
        inputWatermarksMs: [...node.inputWm],
        watermarkMs: node.wm,
        outputWatermarkMs: node.outWm,
      };
    }
    return meta;
  }

  // ---- observation ------------------------------------------------------------------------

  /** Per-step counters, watermarks and state sizes (for the dashboard and tests). */
  stats(): NodeStats[] {
    return this.#order.map((node) => {
      let entries = 0;
      let bytes = 0;
      for (const t of node.tables.values()) {
        const s = t.measure();
        entries += s.entries;
        bytes += s.bytes;
      }
      return {
        id: node.spec.id,
        kind: node.spec.kind,
        inputs: node.spec.inputs.map((r) => (r.port === 'out' ? r.node : `${r.node}.${r.port}`)),
        recordsIn: node.recordsIn,
        recordsOut: node.recordsOut,
        watermarkMs: node.spec.kind === 'source' ? node.outWm : node.wm,
        idle: node.idle,
        state: { entries, bytes },
        details: node.operator?.describe?.() ?? {},
      };
    });
  }

  /** Total state entries over all operators. */
  stateEntries(): number {
    return this.stats().reduce((n, s) => n + s.state.entries, 0);
  }

  /** Pushes the current counters and gauges to the metrics registry. */
  publishMetrics(): void {
    const m = this.#metrics;
    const now = this.#clock.nowMs();
    for (const src of this.#sources) {
      const lag = src.spec.reader.lag?.();
      if (lag !== undefined) m.consumerLagRecords.set({ source: src.node.spec.id }, lag);
    }
    const delta = (id: string, now: number): number => {
      const prev = this.#published.get(id) ?? 0;
      this.#published.set(id, now);
      return now - prev;
    };
    for (const s of this.stats()) {
      const op = { operator: s.id };
      m.recordsIn.inc(op, delta(`in:${s.id}`, s.recordsIn));
      for (const [port, n] of Object.entries(s.recordsOut)) {
        const d = delta(`out:${s.id}:${port}`, n);
        m.recordsOut.inc({ operator: s.id, output: port }, d);
        if (port.startsWith('late')) m.lateRecords.inc(op, d);
        if (port === 'invalid') m.invalidRecords.inc({ source: s.id }, d);
      }
      if (Number.isFinite(s.watermarkMs)) m.watermarkMs.set(op, s.watermarkMs);
      m.stateEntries.set(op, s.state.entries);
      m.stateBytes.set(op, s.state.bytes);
      if (s.kind === 'source') m.eventsIn.inc({ source: s.id }, delta(`events:${s.id}`, s.recordsIn));
      else if (Number.isFinite(s.watermarkMs)) m.watermarkLagSeconds.set(op, (now - s.watermarkMs) / 1000);
    }
  }

  /** The committed checkpoint id (0 before the first). */
  get checkpointId(): number {
    return this.#checkpointId;
  }

  async close(): Promise<void> {
    for (const node of this.#order) await node.operator?.close?.();
    for (const src of this.#sources) await src.spec.reader.close?.();
  }
}
