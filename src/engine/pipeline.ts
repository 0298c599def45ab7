import { FlowmarkError } from './errors.ts';
import type { IntervalJoinSpec } from './interval-join-types.ts';
import type { LookupJoinSpec } from './lookup-types.ts';
import {
  type Key,
  LATE_PORT,
  type NodeKind,
  type Operator,
  type OperatorKind,
  OUT_PORT,
  type PortSpec,
} from './operator.ts';
import { IntervalJoinOperator } from './operators/interval-join-operator.ts';
import { type KeyedProcessFunction, KeyedProcessOperator } from './operators/keyed-process-operator.ts';
import { LookupJoinOperator } from './operators/lookup-join-operator.ts';
import { SessionWindowOperator } from './operators/session-window-operator.ts';
import { FilterOperator, FlatMapOperator, MapOperator, UnionOperator } from './operators/stateless-operators.ts';
import { WindowOperator } from './operators/window-operator.ts';
import type { InvalidRecord, Rejected, SourceReader } from './source.ts';
import type { AggregateFunction, WindowAssigner, WindowOptions, WindowResult } from './windows/window-types.ts';

/** Where a stream comes from: an output port of a node. */
export interface PortRef {
  readonly node: string;
  readonly port: string;
}

/** A node of the dataflow graph, as declared by the builder. */
export interface NodeSpec {
  readonly id: string;
  readonly kind: NodeKind;
  readonly inputs: readonly PortRef[];
  /** The output ports, each with its role (see {@link PortSpec}). */
  readonly ports: readonly PortSpec[];
  /** Creates the operator (absent for sources and sinks, which the runtime runs itself). */
  readonly create?: () => Operator;
  readonly source?: SourceSpec<unknown, unknown>;
}

/** A source: a reader of raw records, how to decode them, and its watermark settings. */
export interface SourceSpec<R, T> {
  reader: SourceReader<R>;
  /** Turns a raw record into a value, or a {@link Rejected} (sent to `invalid`). Default: identity. */
  decode?: (raw: R) => T | Rejected;
  /** The event time of a decoded value, in ms. */
  eventTimeMs: (value: T) => number;
  /** The bound of disorder: per partition W = max event time − this (default 15 s). */
  maxOutOfOrdernessMs?: number;
  /** Processing time after which a caught-up partition stops holding the watermark (default 30 s). */
  idleTimeoutMs?: number;
}

export const DEFAULT_MAX_OUT_OF_ORDERNESS_MS = 15_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/**
 * Builds a dataflow graph. Each step has a unique string id; each call returns a new immutable
 * stream, so that the whole dataflow reads top to bottom:
 *
 * @example
 * const p = new Pipeline();
 * const { out: clicks, invalid } = p.source('clicks', { reader, decode: parseClick, eventTimeMs: (c) => c.timeMs });
 * const { out: counts, late } = clicks
 *   .keyBy((c) => c.userId)
 *   .window('clicks-per-minute', tumbling(60_000), count);
 * counts.sink('counts');
 * late.sink('late');
 * invalid.sink('dead-letters');
 */
export class Pipeline {
  readonly #nodes = new Map<string, NodeSpec>();

  /** The declared nodes, in declaration order (which is a topological order). */
  nodes(): readonly NodeSpec[] {
    return [...this.#nodes.values()];
  }

  /** @internal */
  addNode(spec: NodeSpec): void {
    if (!/^[A-Za-z0-9_.:-]+$/.test(spec.id)) {
      throw new FlowmarkError(
        'FM_PIPELINE_INVALID',
        `step id "${spec.id}" must use only letters, digits, '_', '.', ':' and '-'`,
      );
    }
    if (this.#nodes.has(spec.id)) {
      throw new FlowmarkError(
        'FM_PIPELINE_DUPLICATE_ID',
        `step id "${spec.id}" is used twice; every step needs its own id`,
      );
    }
    for (const input of spec.inputs) {
      const from = this.#nodes.get(input.node);
      if (from === undefined || !from.ports.some((p) => p.name === input.port)) {
        throw new FlowmarkError(
          'FM_PIPELINE_INVALID',
          `step "${spec.id}" reads ${input.node}.${input.port}, which does not exist`,
        );
      }
    }
    if (spec.create !== undefined) {
      // Operators check their parameters when constructed: do it now, so that a bad step is
      // reported while the pipeline is built, with its id, not later when it starts.
      try {
        spec.create();
      } catch (err) {
        if (err instanceof FlowmarkError) {
          throw new FlowmarkError(err.code, `step "${spec.id}": ${err.message}`, { cause: err });
        }
        throw err;
      }
    }
    this.#nodes.set(spec.id, spec);
  }

  /** A source; `invalid` carries the raw records that `decode` rejected. */
  source<R, T>(id: string, spec: SourceSpec<R, T>): { out: Stream<T>; invalid: Stream<InvalidRecord<R>> } {
    this.addNode({
      id,
      kind: 'source',
      inputs: [],
      ports: [OUT_PORT, { name: 'invalid', role: 'invalid' }],
      source: spec as unknown as SourceSpec<unknown, unknown>,
    });
    return {
      out: new Stream<T>(this, { node: id, port: 'out' }),
      invalid: new Stream(this, { node: id, port: 'invalid' }),
    };
  }

  /** Merges streams of one type; the watermark is the minimum over the inputs. */
  union<T>(id: string, ...streams: Stream<T>[]): Stream<T> {
    return Stream.derive<T>(
      this,
      id,
      'union',
      streams.map((s) => s.ref),
      () => new UnionOperator(),
    );
  }
}

/** An immutable stream of `T`: every operation returns a new stream and adds one named step. */
export class Stream<T> {
  readonly pipeline: Pipeline;
  readonly ref: PortRef;

  constructor(pipeline: Pipeline, ref: PortRef) {
    this.pipeline = pipeline;
    this.ref = ref;
  }

  /** @internal */
  static derive<U>(
    pipeline: Pipeline,
    id: string,
    kind: OperatorKind,
    inputs: readonly PortRef[],
    create: () => Operator,
    ports: readonly PortSpec[] = [OUT_PORT],
  ): Stream<U> {
    pipeline.addNode({ id, kind, inputs, ports, create });
    return new Stream<U>(pipeline, { node: id, port: 'out' });
  }

  map<U>(id: string, fn: (value: T) => U): Stream<U> {
    return Stream.derive<U>(this.pipeline, id, 'map', [this.ref], () => new MapOperator(fn));
  }

  filter<U extends T>(id: string, fn: (value: T) => value is U): Stream<U>;
  filter(id: string, fn: (value: T) => boolean): Stream<T>;
  filter(id: string, fn: (value: T) => boolean): Stream<T> {
    return Stream.derive<T>(this.pipeline, id, 'filter', [this.ref], () => new FilterOperator(fn));
  }

  flatMap<U>(id: string, fn: (value: T) => Iterable<U>): Stream<U> {
    return Stream.derive<U>(this.pipeline, id, 'flatMap', [this.ref], () => new FlatMapOperator(fn));
  }

  union(id: string, ...others: Stream<T>[]): Stream<T> {
    return this.pipeline.union(id, this, ...others);
  }

  /** Partitions the stream by key for keyed state, timers, windows and joins. Adds no step. */
  keyBy(keyOf: (value: T) => Key): KeyedStream<T> {
    return new KeyedStream<T>(this, keyOf);
  }

  /** Enriches each record by an asynchronous, batched, cached look-up; keeps input order. */
  lookupJoin<V, O>(id: string, spec: LookupJoinSpec<T, V, O>): Stream<O> {
    return Stream.derive<O>(this.pipeline, id, 'lookupJoin', [this.ref], () => new LookupJoinOperator(spec));
  }

  /** Ends the stream in the named output; its rows are handed to the committer at each checkpoint. */
  sink(id: string): void {
    this.pipeline.addNode({ id, kind: 'sink', inputs: [this.ref], ports: [] });
  }
}

/** A stream with a key function: the entry to keyed state, timers, windows and joins. */
export class KeyedStream<T> {
  readonly stream: Stream<T>;
  readonly keyOf: (value: T) => Key;

  constructor(stream: Stream<T>, keyOf: (value: T) => Key) {
    this.stream = stream;
    this.keyOf = keyOf;
  }

  #named<O>(id: string, ports: readonly PortSpec[]): O {
    const out: Record<string, Stream<unknown>> = {};
    for (const { name } of ports) out[name] = new Stream(this.stream.pipeline, { node: id, port: name });
    return out as O;
  }

  /** Per-key logic with state and timers; records behind the watermark go to `late`. */
  process<O, S>(id: string, fn: KeyedProcessFunction<T, O, S>): { out: Stream<O>; late: Stream<T> } {
    const ports = [OUT_PORT, LATE_PORT];
    this.stream.pipeline.addNode({
      id,
      kind: 'process',
      inputs: [this.stream.ref],
      ports,
      create: () => new KeyedProcessOperator(this.keyOf, fn),
    });
    return this.#named<{ out: Stream<O>; late: Stream<T> }>(id, ports);
  }

  /** Event-time windows with incremental aggregation; see {@link WindowAssigner}. */
  window<A, R>(
    id: string,
    assigner: WindowAssigner,
    aggregate: AggregateFunction<T, A, R>,
    options: WindowOptions = {},
  ): { out: Stream<WindowResult<R>>; late: Stream<T> } {
    const ports = [OUT_PORT, LATE_PORT];
    const create =
      assigner.kind === 'session'
        ? () => new SessionWindowOperator(this.keyOf, assigner.gapMs, aggregate, options)
        : () => new WindowOperator(this.keyOf, assigner, aggregate, options);
    this.stream.pipeline.addNode({ id, kind: `window:${assigner.kind}`, inputs: [this.stream.ref], ports, create });
    return this.#named<{ out: Stream<WindowResult<R>>; late: Stream<T> }>(id, ports);
  }

  /** Joins with `right` on the key within an event-time interval; see {@link IntervalJoinSpec}. */
  intervalJoin<R, O>(
    id: string,
    right: KeyedStream<R>,
    spec: IntervalJoinSpec<T, R, O>,
  ): { out: Stream<O>; lateLeft: Stream<T>; lateRight: Stream<R> } {
    if (!(spec.lowerMs <= spec.upperMs)) {
      throw new FlowmarkError(
        'FM_PIPELINE_INVALID',
        `interval join "${id}": lowerMs (${spec.lowerMs}) must be ≤ upperMs (${spec.upperMs})`,
      );
    }
    const ports: PortSpec[] = [OUT_PORT, { name: 'lateLeft', role: 'late' }, { name: 'lateRight', role: 'late' }];
    this.stream.pipeline.addNode({
      id,
      kind: spec.kind === 'leftOuter' ? 'intervalJoin:leftOuter' : 'intervalJoin:inner',
      inputs: [this.stream.ref, right.stream.ref],
      ports,
      create: () => new IntervalJoinOperator(this.keyOf, right.keyOf, spec),
    });
    return this.#named<{ out: Stream<O>; lateLeft: Stream<T>; lateRight: Stream<R> }>(id, ports);
  }
}
