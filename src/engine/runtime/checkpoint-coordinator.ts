import type { Checkpoint, CheckpointCommitter, NodeChunk, StoredChunk } from '../checkpoint.ts';
import { FlowmarkError } from '../errors.ts';
import { type HealthTracker, isRetriable, nextBackoffMs } from '../health.ts';
import { frozenEntry, SNAPSHOT_FORMAT_VERSION, type SnapshotEntry, type SnapshotMeta } from '../snapshot.ts';
import type { ChunkedStateStore, StateStore } from '../state/state-store.ts';
import type { TableChange } from '../state/state-table.ts';
import { type Clock, MIN_WATERMARK } from '../time.ts';
import { sameMeta } from './checkpoint-cadence.ts';
import type { RuntimeGraph } from './graph.ts';
import { ArrivalSample, type RuntimeStats } from './runtime-stats.ts';
import type { SourceRunner } from './source-runner.ts';

/** What the coordinator needs of the graph: its state, its watermarks and its sink rows. */
export type CheckpointedGraph = Pick<
  RuntimeGraph,
  | 'nodes'
  | 'node'
  | 'drainAsync'
  | 'takeSinkRows'
  | 'hasSinkRows'
  | 'watermarkMeta'
  | 'restoreWatermarks'
  | 'afterRestore'
>;

export interface CheckpointCoordinatorOptions {
  committer: CheckpointCommitter;
  clock: Clock;
  health: HealthTracker;
  stats: Pick<RuntimeStats, 'checkpointCommitted' | 'commitRetried'>;
  /** Longest wait between two attempts of a failed commit. */
  maxRetryBackoffMs: number;
}

/** A checkpoint cut and handed to the committer, with what to do once it is durable. */
interface CutCheckpoint {
  checkpoint: Checkpoint;
  /** Per source, the offsets it covers: acknowledged upstream once it is committed. */
  offsets: Array<[SourceRunner, Map<number, number>]>;
  arrivals: ArrivalSample;
  startedMs: number;
}

/**
 * Checkpoints (as Flink's SubtaskCheckpointCoordinator): restores the last one, cuts new ones,
 * commits them in the background, and acknowledges their offsets upstream once they are durable.
 *
 * - **Cut** (`start`): waits for the commit in flight, drains the asynchronous operators, then
 *   freezes everything since the last cut — the sink rows (swapped out), the state changes
 *   (serialized now, as operators mutate their state in place), the source offsets and the
 *   watermarks — into checkpoint N, and starts committing it without waiting.
 * - **Commit**: at most one in flight, strictly in order (ids stay consecutive). A retriable
 *   failure (the database is away) is retried with backoff for as long as it takes, the same
 *   frozen object each time; any other failure is kept and thrown at the loop's next turn
 *   (`throwFailure`) or by `settle`.
 * - **Acknowledge**: only after N is committed are its offsets passed to the readers' `commit`.
 * - **Restore**: refills the state tables, the watermarks and the source positions from the
 *   committer's restore point, and tells the operators.
 *
 * It also keeps what the records read since the last cut add to the next checkpoint: their
 * count (for `checkpointEveryRecords`) and a sample of their arrival times (end-to-end latency).
 */
export class CheckpointCoordinator {
  readonly #graph: CheckpointedGraph;
  readonly #sources: readonly SourceRunner[];
  readonly #committer: CheckpointCommitter;
  readonly #clock: Clock;
  readonly #health: HealthTracker;
  readonly #stats: CheckpointCoordinatorOptions['stats'];
  readonly #maxRetryBackoffMs: number;
  #checkpointId = 0;
  #taken = 0;
  #recordsSinceCut = 0;
  #lastCutAtMs: number;
  /** The meta of the last cut (or of the restore): what a new cut is compared with. */
  #lastCutMeta: SnapshotMeta;
  /** Arrival times of records read since the last cut (a bounded, evenly strided sample). */
  #arrivals = new ArrivalSample();
  /** The commit in flight (commit + acknowledgement of the last cut), if any; never rejects. */
  #inflight: Promise<void> | undefined;
  /** Whether {@link CheckpointCoordinator.#inflight} has not settled yet. */
  #committing = false;
  /** The failure of the commit in flight, thrown at the loop's next turn. */
  #failure: { error: unknown } | undefined;
  /** Set when the restore upgraded JSON state rows to time-bucketed tables: the next cut is full. */
  #upgradedLegacyState = false;
  /** Set when the run ends with an error: a commit being retried gives up. */
  #abandoned = false;
  /** The run's stop signal: a commit being retried gives up once it aborts. */
  signal: AbortSignal | undefined;

  constructor(graph: CheckpointedGraph, sources: readonly SourceRunner[], options: CheckpointCoordinatorOptions) {
    this.#graph = graph;
    this.#sources = sources;
    this.#committer = options.committer;
    this.#clock = options.clock;
    this.#health = options.health;
    this.#stats = options.stats;
    this.#maxRetryBackoffMs = options.maxRetryBackoffMs;
    this.#lastCutAtMs = this.#clock.nowMs();
    this.#lastCutMeta = this.#meta();
  }

  /** The id of the last committed checkpoint (0 before the first). */
  get checkpointId(): number {
    return this.#checkpointId;
  }

  /** Checkpoints committed by this runtime. */
  get taken(): number {
    return this.#taken;
  }

  /** Whether a commit is in flight. */
  get committing(): boolean {
    return this.#committing;
  }

  /** Processing time of the last cut (or of the start). */
  get lastCutAtMs(): number {
    return this.#lastCutAtMs;
  }

  /** Source records read since the last cut. */
  get recordsSinceCut(): number {
    return this.#recordsSinceCut;
  }

  /**
   * Whether a checkpoint cut now would say anything the last one did not: records were read,
   * sink rows wait, or a watermark or source position moved (processing-time idleness moves
   * watermarks without any record). State changes only through these, so they are covered.
   */
  changedSinceCut(): boolean {
    return this.#recordsSinceCut > 0 || this.#graph.hasSinkRows || !sameMeta(this.#meta(), this.#lastCutMeta);
  }

  /** A source record was read; `arrivalMs` is when it arrived in its queue, if known. */
  noteRecord(arrivalMs: number | undefined): void {
    this.#recordsSinceCut++;
    if (arrivalMs !== undefined) this.#arrivals.add(arrivalMs);
  }

  // ---- restore ----------------------------------------------------------------------------

  /** Restores the committer's last checkpoint, if any: state, watermarks, source positions. */
  async restore(): Promise<void> {
    await this.#restorePoint();
    // What was restored is what the last checkpoint said: nothing new to commit yet.
    this.#lastCutMeta = this.#meta();
  }

  async #restorePoint(): Promise<void> {
    const point = await this.#committer.load();
    if (point === undefined) return;
    const wmOf = (node: string): number => point.meta.nodes[node]?.watermarkMs ?? MIN_WATERMARK;
    // Chunks first: a time-bucketed table restores only into an empty table, and legacy entries
    // (below) are added on top.
    const chunksByTable = new Map<ChunkedStateStore, { node: string; chunks: StoredChunk[] }>();
    for await (const c of point.chunks ?? []) {
      const table = this.#chunkedTable(c.node, c.table);
      let group = chunksByTable.get(table);
      if (group === undefined) chunksByTable.set(table, (group = { node: c.node, chunks: [] }));
      group.chunks.push(c);
    }
    for (const [table, { node, chunks }] of chunksByTable) table.restore(chunks, wmOf(node));
    for await (const e of point.entries) {
      const node = this.#graph.node(e.node);
      const table = node?.tables.get(e.table);
      if (table !== undefined) {
        table.restoreEntry(e.key, e.value, e.expiresAtMs);
        continue;
      }
      // State an earlier release kept as JSON rows, now a time-bucketed table: upgraded here, once.
      // Its entries go into the next checkpoint's chunk; that checkpoint is full, so it also
      // deletes the JSON rows — in one transaction, so a crash before it leaves them in place.
      const chunked = node?.chunkedTables.get(e.table);
      if (chunked?.restoreLegacyEntry === undefined) throw this.#unknownState(e.node, e.table);
      chunked.restoreLegacyEntry(e.key, e.value, e.expiresAtMs);
      this.#upgradedLegacyState = true;
    }
    this.#graph.restoreWatermarks(point.meta.nodes);
    for (const src of this.#sources) {
      const pos = point.meta.sources[src.id];
      if (pos !== undefined) await src.restore(pos);
    }
    this.#graph.afterRestore();
    this.#checkpointId = point.checkpointId;
  }

  #chunkedTable(nodeId: string, name: string): ChunkedStateStore {
    const table = this.#graph.node(nodeId)?.chunkedTables.get(name);
    if (table === undefined) throw this.#unknownState(nodeId, name);
    return table;
  }

  #unknownState(node: string, table: string): FlowmarkError {
    return new FlowmarkError(
      'FM_SNAPSHOT_MISMATCH',
      `the checkpoint holds state ${node}/${table}, which this pipeline does not have: the pipeline changed since the checkpoint was taken`,
    );
  }

  // ---- cut, commit, acknowledge -----------------------------------------------------------

  /**
   * Cuts a checkpoint and starts committing it without waiting; first waits for the previous
   * commit (at most one in flight, strictly in order): that wait is the back-pressure of a slow
   * database.
   */
  async start(): Promise<void> {
    await this.settle();
    const cut = await this.#cut();
    this.#committing = true;
    this.#inflight = this.#commitAndAcknowledge(cut).then(
      () => {
        this.#committing = false;
      },
      (error: unknown) => {
        this.#committing = false;
        this.#failure ??= { error };
      },
    );
  }

  /** Waits for the commit in flight, if any; throws its failure. */
  async settle(): Promise<void> {
    if (this.#inflight !== undefined) {
      await this.#inflight;
      this.#inflight = undefined;
    }
    this.throwFailure();
  }

  /** Throws the failure of the last commit, if it failed. */
  throwFailure(): void {
    const failure = this.#failure;
    if (failure !== undefined) throw failure.error;
  }

  /** The run ends with an error: a commit being retried gives up; waits for it to settle. */
  async abandon(): Promise<void> {
    this.#abandoned = true;
    await this.#inflight;
  }

  /** Freezes everything since the last cut into a checkpoint; the loop then goes on afresh. */
  async #cut(): Promise<CutCheckpoint> {
    const startedMs = this.#clock.nowMs();
    await this.#graph.drainAsync();
    // The previous checkpoint is committed (`start` waited for it): ids stay consecutive.
    const id = this.#checkpointId + 1;
    const taken: Array<{ nodeId: string; name: string; table: StateStore; changes: TableChange<unknown>[] }> = [];
    let changed = 0;
    let live = 0;
    const discard = this.#committer.discardsState === true;
    for (const node of this.#graph.nodes) {
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
    const chunks: NodeChunk[] = [];
    for (const node of this.#graph.nodes) {
      for (const table of node.chunkedTables.values()) {
        if (discard) {
          table.skipChunk();
          continue;
        }
        const chunk = table.takeChunk();
        if (chunk !== undefined) chunks.push({ node: node.spec.id, chunk });
      }
    }
    // Full when the live state is smaller than the delta (at the end of a drain every key expires:
    // one "delete the job's state" instead of a deletion per key): never dearer than the delta.
    // Also right after an upgrade of JSON state rows, which a full snapshot deletes.
    const full = id === 1 || live < changed || this.#upgradedLegacyState;
    this.#upgradedLegacyState = false;
    const entries: SnapshotEntry[] = [];
    for (const { nodeId, name, table, changes } of taken) {
      for (const [key, value] of full ? table.allEntries() : changes) {
        if (full && value === undefined) continue;
        const exp = value === undefined ? undefined : table.expiryOf?.(key);
        entries.push(frozenEntry(nodeId, name, key, value, exp));
      }
    }
    const meta = this.#meta();
    this.#lastCutMeta = meta;
    const checkpoint: Checkpoint = {
      id,
      snapshot: {
        version: SNAPSHOT_FORMAT_VERSION,
        checkpointId: id,
        kind: full ? 'full' : 'delta',
        meta,
        entries,
      },
      outputs: this.#graph.takeSinkRows(),
      chunks,
    };
    this.#recordsSinceCut = 0;
    this.#lastCutAtMs = startedMs;
    const arrivals = this.#arrivals;
    this.#arrivals = new ArrivalSample();
    const offsets = this.#sources.map((src): [SourceRunner, Map<number, number>] => [src, src.offsets()]);
    return { checkpoint, offsets, arrivals, startedMs };
  }

  #meta(): SnapshotMeta {
    const sources: SnapshotMeta['sources'] = {};
    for (const src of this.#sources) sources[src.id] = src.position();
    return { sources, nodes: this.#graph.watermarkMeta() };
  }

  /** Commits a cut checkpoint, then acknowledges its offsets upstream and reports it. */
  async #commitAndAcknowledge(cut: CutCheckpoint): Promise<void> {
    const { checkpoint } = cut;
    await this.#commit(checkpoint);
    this.#checkpointId = checkpoint.id;
    this.#taken++;
    for (const [src, offsets] of cut.offsets) await src.reader.commit?.(offsets);
    this.#stats.checkpointCommitted({ outputs: checkpoint.outputs, arrivals: cut.arrivals, startedMs: cut.startedMs });
  }

  /**
   * Commits, retrying while the failure is retriable (the database is unavailable) — for as long
   * as it takes, unless the run is stopped. The same (frozen) checkpoint object is committed each
   * time, so its delta is never lost; nothing is acknowledged meanwhile, and the input waits as
   * soon as the next checkpoint must be cut (the sink rows reached their bound).
   */
  async #commit(checkpoint: Checkpoint): Promise<void> {
    let backoffMs: number | undefined;
    for (;;) {
      try {
        await this.#committer.commit(checkpoint);
        this.#health.recovered('checkpoint');
        return;
      } catch (err) {
        if (!isRetriable(err) || this.signal?.aborted === true || this.#abandoned) throw err;
        this.#health.failing('checkpoint', err);
        this.#stats.commitRetried();
        backoffMs = nextBackoffMs(backoffMs, 100, this.#maxRetryBackoffMs);
        await this.#clock.sleep(backoffMs);
      }
    }
  }
}
