import { FlowmarkError } from '../errors.ts';
import type { AsyncOperatorFacet, Operator, OperatorContext, Output } from '../operator.ts';
import type { NodeSpec, Pipeline } from '../pipeline.ts';
import type { SnapshotMeta } from '../snapshot.ts';
import type { ColdStorage } from '../state/cold-storage.ts';
import type { ChunkedStateStore, StateStore } from '../state/state-store.ts';
import { StateTable } from '../state/state-table.ts';
import { TimeBucketedTable } from '../state/time-bucketed-table.ts';
import { type Clock, MIN_WATERMARK } from '../time.ts';
import { resumed, type ValveChange, WatermarkValve } from './watermark-valve.ts';

/** Where an output port leads: a node and which of its inputs. */
export interface Edge {
  readonly node: RuntimeNode;
  readonly input: number;
}

/** What the graph tells about operators that retry an external call (the runtime's health). */
export interface OperatorHealth {
  failing(what: string, err: unknown): void;
  recovered(what: string): void;
}

export interface RuntimeGraphOptions {
  clock: Clock;
  health: OperatorHealth;
  /** Sink rows held before the loop must checkpoint (back-pressure). */
  maxBufferedRows: number;
  /** The memory budget and directory of the time-bucketed tables (none: they stay in memory). */
  coldStorage?: ColdStorage;
}

/** One node of the running graph: a source, an operator or a sink. */
export class RuntimeNode {
  readonly spec: NodeSpec;
  /** The operator; undefined for sources and sinks, which the runtime runs itself. */
  operator: Operator | undefined;
  /** Combines the watermarks and idleness of the node's inputs. */
  readonly valve: WatermarkValve;
  /** The last watermark this node forwarded downstream. */
  outWm = MIN_WATERMARK;
  /** Whether the node told downstream it is idle. */
  idle = false;
  readonly edges = new Map<string, Edge[]>();
  readonly tables = new Map<string, StateStore>();
  /** The node's time-bucketed tables, checkpointed as chunks. */
  readonly chunkedTables = new Map<string, ChunkedStateStore>();
  recordsIn = 0;
  readonly #outCounters = new Map<string, { n: number }>();
  #downstream: Edge[] | undefined;

  constructor(spec: NodeSpec) {
    this.spec = spec;
    this.valve = new WatermarkValve(spec.inputs.length);
    for (const port of spec.ports) {
      this.edges.set(port.name, []);
      this.#outCounters.set(port.name, { n: 0 });
    }
  }

  /** The node's watermark: the minimum over its active inputs (what its operator has seen). */
  get wm(): number {
    return this.valve.watermark;
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

  /** Every edge leaving the node, over all ports (watermarks go to all of them). */
  downstream(): Edge[] {
    this.#downstream ??= [...this.edges.values()].flat();
    return this.#downstream;
  }
}

/**
 * The running dataflow graph: nodes and edges built from a {@link Pipeline}, the operators
 * opened with their contexts, and how records and watermarks move along the edges. Records are
 * delivered by direct calls, one at a time; a node's watermark comes from its
 * {@link WatermarkValve} and goes through its operator's `processWatermark`, which returns what
 * to forward. Rows that reach a sink are held here until the next checkpoint takes them.
 *
 * It raises `pressure` when the sink rows reach their bound or an asynchronous operator asks
 * for a drain; the poll loop relieves it.
 */
export class RuntimeGraph {
  /** In declaration order, which is topological. */
  readonly nodes: readonly RuntimeNode[];
  readonly #byId = new Map<string, RuntimeNode>();
  /** The asynchronous facets of the operators that have one, in graph order. */
  readonly asyncOps: readonly AsyncOperatorFacet[];
  /** Set when the loop must checkpoint or drain before reading on. */
  pressure = false;
  readonly #clock: Clock;
  readonly #health: OperatorHealth;
  readonly #maxBufferedRows: number;
  readonly #coldStorage: ColdStorage | undefined;
  #sinkRows = new Map<string, unknown[]>();
  #bufferedRows = 0;

  constructor(pipeline: Pipeline, options: RuntimeGraphOptions) {
    this.#clock = options.clock;
    this.#health = options.health;
    this.#maxBufferedRows = options.maxBufferedRows;
    this.#coldStorage = options.coldStorage;
    const nodes: RuntimeNode[] = [];
    for (const spec of pipeline.nodes()) {
      const node = new RuntimeNode(spec);
      this.#byId.set(spec.id, node);
      nodes.push(node);
      spec.inputs.forEach((ref, input) => {
        (this.#byId.get(ref.node) as RuntimeNode).edges.get(ref.port)?.push({ node, input });
      });
    }
    this.nodes = nodes;
    const asyncOps: AsyncOperatorFacet[] = [];
    for (const node of nodes) {
      for (const port of node.spec.ports) {
        if (port.role !== 'data' && (node.edges.get(port.name) as Edge[]).length === 0) {
          throw new FlowmarkError(
            'FM_PIPELINE_INVALID',
            `the "${port.name}" output of step "${node.spec.id}" goes nowhere: its records would be lost; sink it (for example .sink('dead-letters'))`,
          );
        }
      }
      if (node.spec.kind === 'sink') {
        this.#sinkRows.set(node.spec.id, []);
      } else if (node.spec.kind !== 'source') {
        const op = (node.spec.create as () => Operator)();
        node.operator = op;
        op.open(this.#context(node));
        if (op.async !== undefined) asyncOps.push(op.async);
      }
    }
    this.asyncOps = asyncOps;
  }

  node(id: string): RuntimeNode | undefined {
    return this.#byId.get(id);
  }

  #context(node: RuntimeNode): OperatorContext {
    const id = node.spec.id;
    const claim = (name: string): void => {
      if (node.tables.has(name) || node.chunkedTables.has(name)) {
        throw new FlowmarkError('FM_PIPELINE_INVALID', `step "${id}" declares state "${name}" twice`);
      }
    };
    const register = (name: string, store: StateStore): void => {
      claim(name);
      node.tables.set(name, store);
    };
    const registerChunked = (name: string, store: ChunkedStateStore): void => {
      claim(name);
      node.chunkedTables.set(name, store);
      if (this.#coldStorage !== undefined && store instanceof TimeBucketedTable) {
        store.useColdStorage(this.#coldStorage, this.#coldStorage.tableDir(id, name));
      }
    };
    return {
      nodeId: id,
      clock: this.#clock,
      table: <V>(name: string, options?: { ttlMs?: number }) => {
        const t = new StateTable<V>(name, options);
        register(name, t);
        return t;
      },
      timeTable: (spec) => {
        const t = new TimeBucketedTable(spec);
        registerChunked(spec.name, t);
        return t;
      },
      registerState: (name, store) => register(name, store),
      registerChunkedState: (name, store) => registerChunked(name, store),
      output: <T>(port = 'out') => this.output(node, port) as Output<T>,
      emitWatermark: (wm) => this.emitWatermark(node, wm),
      signalPressure: () => {
        this.pressure = true;
      },
      retrying: (err) => this.#health.failing(id, err),
      recovered: () => this.#health.recovered(id),
    };
  }

  // ---- records ----------------------------------------------------------------------------

  /** The output port `port` of `node`: counts, then delivers to every edge. */
  output(node: RuntimeNode, port: string): Output {
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
        (this.#sinkRows.get(id) as unknown[]).push(v);
        if (++this.#bufferedRows >= this.#maxBufferedRows) this.pressure = true;
      };
    }
    const input = edge.input;
    return (v, ts) => {
      target.recordsIn++;
      (target.operator as Operator).processRecord(input, v, ts);
    };
  }

  /** Whether any sink row is waiting for the next checkpoint. */
  get hasSinkRows(): boolean {
    return this.#bufferedRows > 0;
  }

  /** Whether the sink rows reached their bound (the loop must checkpoint, not just drain). */
  sinkRowsFull(): boolean {
    return this.#bufferedRows >= this.#maxBufferedRows;
  }

  /**
   * Takes the rows every sink received since the last call (sink id → rows in emission order)
   * and starts afresh; clears the pressure, which the cut that calls this relieves.
   */
  takeSinkRows(): Map<string, unknown[]> {
    const rows = this.#sinkRows;
    this.#sinkRows = new Map([...rows.keys()].map((k) => [k, []]));
    this.#bufferedRows = 0;
    this.pressure = false;
    return rows;
  }

  // ---- asynchronous operators -------------------------------------------------------------

  /** The source loop pushed a whole poll batch: asynchronous operators start partial work. */
  endOfBatch(): void {
    for (const op of this.asyncOps) op.endOfBatch();
  }

  /** Completes the work of every asynchronous operator (draining one may feed another). */
  async drainAsync(): Promise<void> {
    for (;;) {
      const busy = this.asyncOps.filter((op) => op.hasPending());
      if (busy.length === 0) return;
      for (const op of busy) await op.drain();
    }
  }

  // ---- watermarks -------------------------------------------------------------------------

  /** `node` forwards `wm` (only an advance, or its current watermark when it was idle). */
  emitWatermark(node: RuntimeNode, wm: number): void {
    if (wm <= node.outWm && !node.idle) return;
    if (wm > node.outWm) node.outWm = wm;
    node.idle = false;
    for (const { node: target, input } of node.downstream()) {
      const op = target.operator;
      // A sink forwards nothing: its valve only keeps its input watermarks (for the snapshot).
      if (op === undefined) target.valve.recordWatermark(input, node.outWm);
      else this.#act(target, op, target.valve.inputWatermark(input, node.outWm));
    }
  }

  /** `node` tells downstream it is idle: it holds nothing back until it forwards again. */
  emitIdle(node: RuntimeNode): void {
    if (node.idle) return;
    node.idle = true;
    for (const { node: target, input } of node.downstream()) {
      const op = target.operator;
      if (op === undefined) target.valve.recordIdle(input);
      else this.#act(target, op, target.valve.inputIdle(input));
    }
  }

  /** Acts on what an input event did to the valve of `node` (an operator's). */
  #act(node: RuntimeNode, op: Operator, change: ValveChange): void {
    if (change === 'idle') {
      this.emitIdle(node);
      return;
    }
    const wasIdle = node.idle;
    if (change === 'advanced') {
      const wm = node.valve.watermark;
      this.emitWatermark(node, op.processWatermark === undefined ? wm : op.processWatermark(wm));
    }
    // Active again without an advance: tell downstream we hold the watermark again.
    if (wasIdle && node.idle) this.emitWatermark(node, node.outWm);
  }

  // ---- checkpoint and restore -------------------------------------------------------------

  /** Per node, its input watermarks, its watermark and the one it forwarded (snapshot meta). */
  watermarkMeta(): SnapshotMeta['nodes'] {
    const nodes: SnapshotMeta['nodes'] = {};
    for (const node of this.nodes) {
      nodes[node.spec.id] = {
        inputWatermarksMs: [...node.valve.inputWatermarks],
        watermarkMs: node.wm,
        outputWatermarkMs: node.outWm,
      };
    }
    return nodes;
  }

  /** Resumes the watermarks of the nodes from a checkpoint's meta (+∞ starts again at −∞). */
  restoreWatermarks(meta: SnapshotMeta['nodes']): void {
    for (const [id, m] of Object.entries(meta)) {
      const node = this.#byId.get(id);
      if (node === undefined) continue;
      node.valve.restore(m.inputWatermarksMs, m.watermarkMs);
      node.outWm = resumed(m.outputWatermarkMs);
    }
  }

  /** Tells every operator that its state was restored, with its watermark. */
  afterRestore(): void {
    for (const node of this.nodes) node.operator?.afterRestore?.(node.wm);
  }

  async close(): Promise<void> {
    for (const node of this.nodes) await node.operator?.close?.();
    for (const node of this.nodes) {
      for (const t of node.chunkedTables.values()) if (t instanceof TimeBucketedTable) t.closeColdStorage();
    }
  }
}
