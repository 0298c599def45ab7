import type { ColumnSpecs } from './state/column-codecs.ts';
import type { ChunkedStateStore, StateStore } from './state/state-store.ts';
import type { StateTable, StateTableOptions } from './state/state-table.ts';
import type { TimeBucketedTable, TimeBucketedTableSpec } from './state/time-bucketed-table.ts';
import type { Clock } from './time.ts';

/** Where an operator sends records: one output port. */
export interface Output<T = unknown> {
  push(value: T, eventTimeMs: number): void;
}

/**
 * What the records of an output port are. The runtime decides by the role, never by the port's
 * name: a `late` or `invalid` port left unconnected is refused (its records would vanish), and
 * their counts feed `flowmark_late_records_total` and `flowmark_invalid_records_total`.
 */
export type PortRole = 'data' | 'late' | 'invalid';

/** An output port of a step: its name (what the builder returns it as) and its role. */
export interface PortSpec {
  readonly name: string;
  readonly role: PortRole;
}

/** The main output of every step that has one. */
export const OUT_PORT: PortSpec = { name: 'out', role: 'data' };
/** The records a stateful single-input operator found behind its watermark. */
export const LATE_PORT: PortSpec = { name: 'late', role: 'late' };

/** The kinds of operator steps, one per builder method (windows and joins by variant). */
export type OperatorKind =
  | 'map'
  | 'filter'
  | 'flatMap'
  | 'union'
  | 'process'
  | 'lookupJoin'
  | 'window:tumbling'
  | 'window:hopping'
  | 'window:cumulate'
  | 'window:session'
  | 'intervalJoin:inner'
  | 'intervalJoin:leftOuter';

/** The kind of a step of the graph: a source, a sink, or an operator. */
export type NodeKind = 'source' | 'sink' | OperatorKind;

/** What the runtime gives an operator when it opens. */
export interface OperatorContext {
  readonly nodeId: string;
  readonly clock: Clock;
  /** Declares a state table that the runtime snapshots and restores. Call in `open` only. */
  table<V>(name: string, options?: StateTableOptions): StateTable<V>;
  /**
   * Declares a time-bucketed table (entries with an event time that expire by the watermark,
   * millions of them: see docs/engine.md for when to use which), checkpointed as binary chunks.
   * The operator advances its watermark (`advanceWatermark`). Call in `open` only.
   */
  timeTable<S extends ColumnSpecs>(spec: TimeBucketedTableSpec<S>): TimeBucketedTable<S>;
  /** Registers state the operator keeps in its own structures; snapshotted through `store`. */
  registerState(name: string, store: StateStore): void;
  /** Registers state checkpointed as chunks (a time-bucketed table wrapped by the operator). */
  registerChunkedState(name: string, store: ChunkedStateStore): void;
  /** The output port `port` ('out' by default). */
  output<T = unknown>(port?: string): Output<T>;
  /**
   * Forwards a watermark that `processWatermark` held back, later, from an asynchronous
   * operator's own callbacks (a look-up join once the records before it have left). Synchronous
   * operators never need it: they return the watermark to forward. Only advances are forwarded.
   */
  emitWatermark(watermarkMs: number): void;
  /** Tells the runtime that asynchronous work is piling up: it will call `drain` soon. */
  signalPressure(): void;
  /** Reports that the operator's external call failed with `err` and will be retried (health, logs). */
  retrying(err: unknown): void;
  /** Reports that the external call succeeds again. */
  recovered(): void;
}

/**
 * The hooks of an operator that does asynchronous work (a look-up join): present all together
 * or not at all, so that the runtime cannot drain an operator it does not know to be busy.
 */
export interface AsyncOperatorFacet {
  /** Whether asynchronous work is in flight (or a failure waits to be thrown by `drain`). */
  hasPending(): boolean;
  /**
   * The source loop has pushed a whole poll batch: start any partial asynchronous work now,
   * without waiting for it (so that a slow stream is not held until the next checkpoint).
   */
  endOfBatch(): void;
  /** Completes in-flight asynchronous work, emitting its results; throws its failure. */
  drain(): Promise<void>;
}

/**
 * The one operator interface. Only `open` and `processRecord` are required; the optional hooks
 * have the defaults described on each.
 *
 * The runtime calls `processRecord` and `processWatermark` on one thread, never re-entrantly.
 * An asynchronous operator may also emit from its own callbacks, which run only while the
 * runtime's loop is awaiting (never in the middle of another operator's call).
 */
export interface Operator {
  open(ctx: OperatorContext): void;
  processRecord(input: number, value: unknown, eventTimeMs: number): void;
  /**
   * Receives the operator's watermark (the minimum over its active inputs, only when it
   * advances), fires what it makes due, and returns the watermark to forward downstream (as
   * Arroyo's `handle_watermark`): usually the same value; lower to hold results back (an
   * interval join holds it at its earliest buffered left). The runtime forwards only advances,
   * so returning a value at or below the last one forwarded (`MIN_WATERMARK`) forwards nothing
   * now. Default: forward the watermark unchanged.
   */
  processWatermark?(watermarkMs: number): number;
  /**
   * Called once after the state tables were restored from a checkpoint, with the operator's
   * watermark at that checkpoint: rebuild in-memory indexes and remember the watermark.
   */
  afterRestore?(watermarkMs: number): void;
  /** Asynchronous work, if the operator does any. Default: none. */
  readonly async?: AsyncOperatorFacet;
  /** Extra facts for the dashboard's graph view. */
  describe?(): Record<string, unknown>;
  close?(): void | Promise<void>;
}

/** The key type of keyed streams. Ids are strings (ARCHITECTURE §3.1). */
export type Key = string;
