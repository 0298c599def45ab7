import type { Clock } from '../time.ts';
import { type CadenceState, CheckpointCadence } from './checkpoint-cadence.ts';
import type { CheckpointCoordinator } from './checkpoint-coordinator.ts';
import type { RuntimeGraph } from './graph.ts';
import type { RuntimeStats } from './runtime-stats.ts';
import type { SourceRunner } from './source-runner.ts';

/** What the loop needs of checkpointing: when to cut, and whether a commit is in flight. */
export type CheckpointTrigger = Pick<
  CheckpointCoordinator,
  | 'committing'
  | 'lastCutAtMs'
  | 'recordsSinceCut'
  | 'changedSinceCut'
  | 'noteRecord'
  | 'start'
  | 'settle'
  | 'throwFailure'
>;

/** What the loop needs of the graph: the pressure flag and the asynchronous operators. */
export type PolledGraph = Pick<RuntimeGraph, 'pressure' | 'sinkRowsFull' | 'endOfBatch' | 'drainAsync'>;

export interface PollLoopOptions {
  clock: Clock;
  /** Most records asked of a source per poll. */
  pollMaxRecords: number;
  /** The least processing time between two checkpoints (they are cut once the previous is durable). */
  checkpointIntervalMs: number;
  /** The least time between two checkpoints while the input has a backlog. */
  backlogCheckpointIntervalMs: number;
  /** The longest time without a checkpoint while nothing changes (liveness). */
  checkpointHeartbeatMs: number;
  /** Also checkpoint after this many source records (0 = off). */
  checkpointEveryRecords: number;
  /**
   * The longest wait when no source delivered anything: the waits start at 1 ms after a poll that
   * delivered and double up to this.
   */
  idleWaitMs: number;
}

/** How often (processing time) the loop yields to the event loop while records keep coming. */
const YIELD_EVERY_MS = 50;
/**
 * Within a poll's records, every this many: while a commit is in flight the loop yields (each
 * statement of the commit's transaction needs an event-loop turn to be sent and answered, and a
 * database that waits for the loop is idle time taken from the overlap); once it is durable, the
 * loop asks whether the next checkpoint is due, so that a large poll does not hold back the cut.
 */
const CHECK_EVERY_RECORDS = 256;

/**
 * The first wait of the loop when a poll delivers nothing, doubled at each empty turn up to
 * `idleWaitMs`: a record that arrives in a queue that was just busy (a live input between two
 * batches of its producer) is seen within a millisecond or two, and a quiet input is polled only
 * every `idleWaitMs` — a poll of the log reads its files, so an idle job stays cheap.
 */
const FIRST_IDLE_WAIT_MS = 1;

/** Gives the event loop a turn (I/O callbacks included), whatever the clock. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The source loop (the mailbox loop of Flink's StreamTask, without a mailbox): polls the sources,
 * pushes their records into the graph one at a time, and decides when to checkpoint — as soon
 * as the previous checkpoint is durable, if something changed ({@link CheckpointCadence}: group
 * commit, with a minimum interval, a longer one under backlog, and a heartbeat), every
 * `checkpointEveryRecords`, and whenever the sink rows reach their bound. A commit in flight
 * never pauses the input. Under pressure it waits (for the checkpoint, or for the asynchronous
 * operators to drain) before it reads on. It ends when every source has ended, or on the signal.
 */
export class PollLoop {
  readonly #sources: readonly SourceRunner[];
  readonly #graph: PolledGraph;
  readonly #checkpoints: CheckpointTrigger;
  readonly #stats: Pick<RuntimeStats, 'backpressured'>;
  readonly #clock: Clock;
  readonly #pollMaxRecords: number;
  readonly #cadence: CheckpointCadence;
  readonly #checkpointEveryRecords: number;
  readonly #idleWaitMs: number;
  /** The next wait when nothing is delivered (see {@link FIRST_IDLE_WAIT_MS}). */
  #nextIdleWaitMs: number;
  /** True when every source reader has a read schedule (`readRound`): see `#pollOrder`. */
  readonly #scheduled: boolean;
  #lastYieldMs = 0;
  /** Source records read by this runtime. */
  recordsRead = 0;

  constructor(
    sources: readonly SourceRunner[],
    graph: PolledGraph,
    checkpoints: CheckpointTrigger,
    stats: Pick<RuntimeStats, 'backpressured'>,
    options: PollLoopOptions,
  ) {
    this.#sources = sources;
    this.#graph = graph;
    this.#checkpoints = checkpoints;
    this.#stats = stats;
    this.#clock = options.clock;
    this.#pollMaxRecords = options.pollMaxRecords;
    this.#cadence = new CheckpointCadence({
      minIntervalMs: options.checkpointIntervalMs,
      backlogIntervalMs: options.backlogCheckpointIntervalMs,
      heartbeatMs: options.checkpointHeartbeatMs,
    });
    this.#checkpointEveryRecords = options.checkpointEveryRecords;
    this.#idleWaitMs = options.idleWaitMs;
    this.#nextIdleWaitMs = Math.min(FIRST_IDLE_WAIT_MS, options.idleWaitMs);
    this.#scheduled = sources.every((s) => s.reader.readRound !== undefined);
  }

  /** Runs until every source has ended or `signal` aborts. */
  async run(signal: AbortSignal | undefined): Promise<void> {
    const clock = this.#clock;
    while (signal?.aborted !== true) {
      this.#checkpoints.throwFailure();
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
      if (clock.nowMs() - this.#lastYieldMs >= YIELD_EVERY_MS) {
        this.#lastYieldMs = clock.nowMs();
        await clock.sleep(0);
      }
      // Due: cut now. While the previous checkpoint is still committing it is not due: reading
      // goes on and the cut waits for a later turn.
      if (this.#cutDue()) await this.#checkpoints.start();
      if (delivered > 0) {
        this.#nextIdleWaitMs = Math.min(FIRST_IDLE_WAIT_MS, this.#idleWaitMs);
      } else if (this.#checkpoints.committing) {
        // Nothing to read: a commit in flight finishing is what could change that soonest.
        await this.#checkpoints.settle();
      } else {
        // Not past the moment the next cut is due: a change waiting for the interval goes out then.
        await clock.sleep(Math.min(this.#nextIdleWaitMs, this.#cadence.msUntilDue(this.#cadenceState())));
        this.#nextIdleWaitMs = Math.min(2 * this.#nextIdleWaitMs, this.#idleWaitMs);
      }
    }
  }

  #cutDue(): boolean {
    return this.#cadence.due(this.#cadenceState());
  }

  #cadenceState(): CadenceState {
    const checkpoints = this.#checkpoints;
    return {
      nowMs: this.#clock.nowMs(),
      lastCutAtMs: checkpoints.lastCutAtMs,
      committing: checkpoints.committing,
      backlog: this.#sources.some((s) => s.behind && !s.ended),
      changed: () => checkpoints.changedSinceCut(),
    };
  }

  /**
   * The sources to poll in this turn of the loop. Scheduled (every reader has `readRound`): by
   * lowest round, then declaration order — the loop polls them in turn until one delivers.
   * Otherwise each source once, in declaration order.
   */
  #pollOrder(): SourceRunner[] {
    const open = this.#sources.filter((s) => !s.ended);
    if (!this.#scheduled) return open;
    const rounds = new Map(open.map((s) => [s, (s.reader.readRound as () => number)()]));
    return open.sort((a, b) => (rounds.get(a) as number) - (rounds.get(b) as number));
  }

  /** Polls one source once and pushes what it delivered; returns the number of records. */
  async #pollOnce(src: SourceRunner): Promise<number> {
    // A reader that waits when it has nothing (Kafka's long poll) waits no longer than the loop
    // would sleep: the other sources may have records meanwhile, and a cut may come due.
    const res = await src.reader.poll(this.#pollMaxRecords, this.#idleWaitMs);
    const graph = this.#graph;
    const checkpoints = this.#checkpoints;
    const everyRecords = this.#checkpointEveryRecords;
    let sinceCheck = 0;
    for (const rec of res.records) {
      this.recordsRead++;
      checkpoints.noteRecord(rec.timestampMs);
      src.ingest(rec);
      if (graph.pressure) await this.#relievePressure();
      if (everyRecords > 0 && checkpoints.recordsSinceCut >= everyRecords) await checkpoints.start();
      if (++sinceCheck >= CHECK_EVERY_RECORDS) {
        sinceCheck = 0;
        if (checkpoints.committing) await yieldToEventLoop();
        else if (this.#cutDue()) await checkpoints.start();
      }
    }
    graph.endOfBatch();
    src.afterPoll(res, this.#clock.nowMs());
    if (res.ended === true) {
      src.ended = true;
      // The end of input is the end of every source (a drain, a replay): one source that ends
      // early does not release its watermark before the others end, so that a drained run and a
      // live run stopped at the same place have judged every record alike.
      if (this.#sources.every((s) => s.ended)) {
        for (const s of this.#sources) s.finish();
      }
    }
    return res.records.length;
  }

  async #relievePressure(): Promise<void> {
    const started = this.#clock.nowMs();
    this.#graph.pressure = false;
    if (this.#graph.sinkRowsFull()) await this.#checkpoints.start();
    else await this.#graph.drainAsync();
    this.#stats.backpressured((this.#clock.nowMs() - started) / 1000);
  }
}
