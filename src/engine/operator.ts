import type { StateStore } from './state/state-store.ts';
import type { StateTable, StateTableOptions } from './state/state-table.ts';
import type { Clock } from './time.ts';

/** Where an operator sends records: one output port. */
export interface Output<T = unknown> {
  push(value: T, eventTimeMs: number): void;
}

/** What the runtime gives an operator when it opens. */
export interface OperatorContext {
  readonly nodeId: string;
  readonly clock: Clock;
  /** Declares a state table that the runtime snapshots and restores. Call in `open` only. */
  table<V>(name: string, options?: StateTableOptions): StateTable<V>;
  /** Registers state the operator keeps in its own structures; snapshotted through `store`. */
  registerState(name: string, store: StateStore): void;
  /** The output port `port` ('out' by default). */
  output<T = unknown>(port?: string): Output<T>;
  /** Forwards a watermark downstream; never call with a value lower than a previous one. */
  emitWatermark(watermarkMs: number): void;
  /** Tells the runtime that asynchronous work is piling up: it will call `drain` soon. */
  signalPressure(): void;
  /** Reports that the operator's external call failed with `err` and will be retried (health, logs). */
  retrying(err: unknown): void;
  /** Reports that the external call succeeds again. */
  recovered(): void;
}

/**
 * The one operator interface. Only `open` and `processRecord` are required; the optional hooks
 * have the defaults described on each.
 *
 * The runtime calls `processRecord` and `processWatermark` on one thread, never re-entrantly.
 * An asynchronous operator may also emit from its own callbacks, which run only while the
 * runtime's loop is awaiting (never in the middle of another operator's call).
 * `processWatermark` receives the operator's watermark: the minimum over its active inputs,
 * only when it advances.
 */
export interface Operator {
  open(ctx: OperatorContext): void;
  processRecord(input: number, value: unknown, eventTimeMs: number): void;
  /** Default: forward the watermark unchanged. */
  processWatermark?(watermarkMs: number): void;
  /**
   * Called once after the state tables were restored from a checkpoint, with the operator's
   * watermark at that checkpoint: rebuild in-memory indexes and remember the watermark.
   */
  afterRestore?(watermarkMs: number): void;
  /** Whether asynchronous work is in flight. Default: none. */
  hasPending?(): boolean;
  /**
   * The source loop has pushed a whole poll batch: start any partial asynchronous work now,
   * without waiting for it (so that a slow stream is not held until the next checkpoint).
   */
  endOfBatch?(): void;
  /** Completes in-flight asynchronous work, emitting its results. */
  drain?(): Promise<void>;
  /** Extra facts for the dashboard's graph view. */
  describe?(): Record<string, unknown>;
  close?(): void | Promise<void>;
}

/** The key type of keyed streams. Ids are strings (ARCHITECTURE §3.1). */
export type Key = string;
