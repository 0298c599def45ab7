import type { Operator, OperatorContext, Output } from '../../src/engine/operator.ts';
import {
  CompactedSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  SNAPSHOT_FORMAT_VERSION,
  type SnapshotEntry,
} from '../../src/engine/snapshot.ts';
import type { ColumnSpecs } from '../../src/engine/state/column-codecs.ts';
import type { ChunkedStateStore, StateStore } from '../../src/engine/state/state-store.ts';
import { StateTable } from '../../src/engine/state/state-table.ts';
import { TimeBucketedTable } from '../../src/engine/state/time-bucketed-table.ts';
import { ManualClock, MIN_WATERMARK } from '../../src/engine/time.ts';

export interface Emitted<T = unknown> {
  value: T;
  ts: number;
}

/**
 * Drives one operator directly, in the chained style of Flink's operator test harnesses:
 *
 *   h.element('a', 10).element('b', 12).watermark(20).assertOut([...])
 *
 * It combines per-input watermarks exactly as the runtime does (minimum over inputs, only
 * advances delivered) and can snapshot the operator's state through the byte format and restore
 * it into a fresh operator mid-case (`restart()`).
 */
export class OperatorHarness {
  readonly #create: () => Operator;
  readonly #ports: readonly string[];
  readonly clock: ManualClock;
  #op!: Operator;
  #tables = new Map<string, StateStore>();
  #chunked = new Map<string, ChunkedStateStore>();
  #store = new CompactedSnapshot();
  /** The chunks of the time-bucketed tables, as a durable store keeps them (expired ones dropped). */
  #chunks: Array<{ table: string; seq: number; bytes: Uint8Array; expiresAtMs: number }> = [];
  #checkpoints = 0;
  #inputWm: number[];
  #wm = MIN_WATERMARK;
  /** The last watermark forwarded: as the runtime, the harness forwards only advances. */
  #outWm = MIN_WATERMARK;
  readonly outputs = new Map<string, Emitted[]>();
  readonly watermarks: number[] = [];
  pressureSignals = 0;
  /** Errors reported through `ctx.retrying`, and the number of `ctx.recovered` calls. */
  readonly retries: unknown[] = [];
  recoveries = 0;

  constructor(
    create: () => Operator,
    options: { inputs?: number; ports?: readonly string[]; clock?: ManualClock } = {},
  ) {
    this.#create = create;
    this.#ports = options.ports ?? ['out', 'late'];
    this.clock = options.clock ?? new ManualClock(0);
    this.#inputWm = Array.from({ length: options.inputs ?? 1 }, () => MIN_WATERMARK);
    for (const p of this.#ports) this.outputs.set(p, []);
    this.#open();
  }

  #open(): void {
    this.#op = this.#create();
    this.#tables = new Map();
    this.#chunked = new Map();
    const ctx: OperatorContext = {
      nodeId: 'op',
      clock: this.clock,
      table: <V>(name: string, options?: { ttlMs?: number }) => {
        const t = new StateTable<V>(name, options);
        this.#tables.set(name, t as StateTable<unknown>);
        return t;
      },
      timeTable: (spec) => {
        const t = new TimeBucketedTable(spec);
        this.#chunked.set(spec.name, t);
        return t;
      },
      registerState: (name, store) => void this.#tables.set(name, store),
      registerChunkedState: (name, store) => void this.#chunked.set(name, store),
      output: <T>(port = 'out'): Output<T> => {
        const list = this.outputs.get(port);
        if (list === undefined) throw new Error(`harness: no port ${port}`);
        return { push: (value, ts) => void list.push({ value, ts }) };
      },
      emitWatermark: (wm) => this.#forward(wm),
      signalPressure: () => void this.pressureSignals++,
      retrying: (err) => void this.retries.push(err),
      recovered: () => void this.recoveries++,
    };
    this.#op.open(ctx);
  }

  get operator(): Operator {
    return this.#op;
  }

  element(value: unknown, ts: number, input = 0): this {
    this.#op.processRecord(input, value, ts);
    return this;
  }

  watermark(wm: number, input = 0): this {
    if (wm > (this.#inputWm[input] as number)) this.#inputWm[input] = wm;
    const min = Math.min(...this.#inputWm);
    if (min > this.#wm) {
      this.#wm = min;
      this.#forward(this.#op.processWatermark ? this.#op.processWatermark(min) : min);
    }
    return this;
  }

  #forward(wm: number): void {
    if (wm <= this.#outWm) return;
    this.#outWm = wm;
    this.watermarks.push(wm);
  }

  /** Sets the watermark of every input. */
  watermarkAll(wm: number): this {
    for (let i = 0; i < this.#inputWm.length; i++) this.watermark(wm, i);
    return this;
  }

  async drain(): Promise<this> {
    const facet = this.#op.async;
    while (facet?.hasPending()) await facet.drain();
    return this;
  }

  out<T = unknown>(port = 'out'): T[] {
    return (this.outputs.get(port) ?? []).map((e) => e.value as T);
  }

  emitted<T = unknown>(port = 'out'): Emitted<T>[] {
    return (this.outputs.get(port) ?? []) as Emitted<T>[];
  }

  clearOutputs(): this {
    for (const list of this.outputs.values()) list.length = 0;
    this.watermarks.length = 0;
    return this;
  }

  stateEntries(): number {
    let n = 0;
    for (const t of this.#tables.values()) n += t.measure().entries;
    for (const t of this.#chunked.values()) n += t.measure().entries;
    return n;
  }

  table(name: string): StateStore | undefined {
    return this.#tables.get(name);
  }

  /** A time-bucketed table of the operator (declared through `ctx.timeTable` or a keyed function's `timeTable`). */
  timeTable(name: string): TimeBucketedTable<ColumnSpecs> | undefined {
    const t = this.#chunked.get(name);
    return t instanceof TimeBucketedTable ? (t as TimeBucketedTable<ColumnSpecs>) : undefined;
  }

  /**
   * Takes an incremental checkpoint as the runtime does: only the changes since the previous one,
   * through the byte format, into a compacted store. A change an operator forgot to announce is
   * missing from the store, and a later `restart()` shows it.
   */
  checkpoint(): this {
    const entries: SnapshotEntry[] = [];
    for (const [name, t] of this.#tables) {
      for (const [key, value] of t.takeChanges()) {
        const e: SnapshotEntry = { node: 'op', table: name, key, value };
        const exp = value === undefined ? undefined : t.expiryOf?.(key);
        if (exp !== undefined) e.expiresAtMs = exp;
        entries.push(e);
      }
    }
    const id = ++this.#checkpoints;
    const bytes = encodeSnapshot({
      version: SNAPSHOT_FORMAT_VERSION,
      checkpointId: id,
      kind: id === 1 ? 'full' : 'delta',
      meta: { sources: {}, nodes: {} },
      entries,
    });
    this.#store.apply(decodeSnapshot(bytes));
    for (const t of this.#chunked.values()) {
      const c = t.takeChunk();
      if (c !== undefined)
        this.#chunks.push({ table: c.table, seq: c.seq, bytes: c.bytes, expiresAtMs: c.expiresAtMs });
    }
    // As a durable store: a chunk whose entries have all expired by the watermark is deleted.
    this.#chunks = this.#chunks.filter((c) => !(this.#wm > c.expiresAtMs));
    return this;
  }

  /**
   * Checkpoints (incrementally, see `checkpoint`), opens a fresh operator, restores the compacted
   * state into it and tells it its watermark: what a crash and restart does. Outputs so far are kept.
   */
  restart(): this {
    this.checkpoint();
    this.#open();
    for (const [name, t] of this.#chunked) {
      const mine = this.#chunks.filter((c) => c.table === name);
      t.restore(
        mine.map((c) => ({ bytes: c.bytes, name: `${name}#${c.seq}` })),
        this.#wm,
      );
    }
    for (const e of this.#store.entries()) {
      const t = this.#tables.get(e.table);
      if (t === undefined) throw new Error(`harness: restored table ${e.table} was not declared`);
      t.restoreEntry(e.key, e.value, e.expiresAtMs);
    }
    this.#op.afterRestore?.(this.#wm);
    return this;
  }
}
