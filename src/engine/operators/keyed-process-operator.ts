import { MinHeap } from '../heap.ts';
import type { Key, Operator, OperatorContext, Output } from '../operator.ts';
import type { ColumnSpecs, ColumnValue, Row } from '../state/column-codecs.ts';
import type { ChunkedStateStore } from '../state/state-store.ts';
import type { StateTable, StateTableOptions } from '../state/state-table.ts';
import { TimeBucketedTable, type TimeBucketedTableSpec } from '../state/time-bucketed-table.ts';
import { MIN_WATERMARK } from '../time.ts';

/** A value per key. */
export interface ValueState<V> {
  get(): V | undefined;
  set(value: V): void;
  clear(): void;
}

/** A list per key kept sorted by event time (stable for equal times). */
export interface SortedListState<V> {
  add(eventTimeMs: number, value: V): void;
  /** Entries with `fromMs ≤ t ≤ toMs`, in time order. */
  range(fromMs: number, toMs: number): Array<readonly [number, V]>;
  all(): ReadonlyArray<readonly [number, V]>;
  /** Removes entries with `t < beforeMs`; returns how many. */
  removeBefore(beforeMs: number): number;
  size(): number;
  clear(): void;
}

/** A map per key. */
export interface MapState<V> {
  get(mapKey: string): V | undefined;
  set(mapKey: string, value: V): void;
  delete(mapKey: string): void;
  entries(): Array<[string, V]>;
  clear(): void;
}

/**
 * The current key's entries of a time-bucketed table ({@link TimeBucketedTable}): entries with an
 * event time, as typed columns, that expire `retentionMs` after their time (whole buckets at a
 * time, as the watermark passes). For state with many entries — a key's clicks, a set of ids seen.
 * A ref (what `first`, `last`, `range`, `findId` return; −1 for none) is valid until the next
 * change of the table.
 */
export interface TimeTableState<S extends ColumnSpecs> {
  /** Adds an entry; false (nothing added) when it has expired already. */
  insert(timeMs: number, row: Row<S>): boolean;
  /** Deletes the entries at `timeMs` (with id `id`, for a table with an id column). */
  delete(timeMs: number, id?: string | number | null): number;
  first(fromMs: number, toMs: number): number;
  last(fromMs: number, toMs: number): number;
  /** The refs of the entries in [fromMs, toMs] by (time, id), appended to `out`. */
  range(fromMs: number, toMs: number, out?: number[]): number[];
  findId(id: string | number | null): number;
  timeOf(ref: number): number;
  value<K extends keyof S & string>(ref: number, column: K): ColumnValue<S[K]>;
}

/**
 * A time-bucketed table's declaration in a keyed process function. `legacy` reads the value a
 * release before time-bucketed state kept under this name as JSON (a sorted list's
 * `[[t, value], …]`, a value with its TTL expiry): the entries to insert, for the one-time upgrade.
 */
export interface TimeTableDeclaration<S extends ColumnSpecs> extends TimeBucketedTableSpec<S> {
  legacy?: (value: unknown, expiresAtMs: number | undefined) => Iterable<readonly [timeMs: number, row: Row<S>]>;
}

/** Declares the named state of a keyed process function, once, when the operator opens. */
export interface StateDeclarer {
  value<V>(name: string, options?: StateTableOptions): ValueState<V>;
  sortedList<V>(name: string, options?: StateTableOptions): SortedListState<V>;
  map<V>(name: string, options?: StateTableOptions): MapState<V>;
  timeTable<S extends ColumnSpecs>(declaration: TimeTableDeclaration<S>): TimeTableState<S>;
}

export interface KeyedProcessContext<O> {
  readonly key: Key;
  /** The event time of the record being processed, or of the timer firing. */
  readonly eventTimeMs: number;
  readonly watermarkMs: number;
  /** Emits a result; its event time defaults to the current record's or timer's. */
  emit(value: O, eventTimeMs?: number): void;
  /** An event-time timer for the current key; it fires once the watermark is > `timeMs`. */
  registerTimer(timeMs: number): void;
  deleteTimer(timeMs: number): void;
}

/**
 * Per-key logic with state and event-time timers (like Flink's KeyedProcessFunction).
 * Records later than the watermark never reach `onElement`: they go to the `late` output.
 */
export interface KeyedProcessFunction<I, O, S> {
  state?(declare: StateDeclarer): S;
  onElement(value: I, ctx: KeyedProcessContext<O>, state: S): void;
  onTimer?(timerMs: number, ctx: KeyedProcessContext<O>, state: S): void;
}

type TimerEntry = readonly [timeMs: number, key: Key];

/** Width of the timers' buckets: a second of event time (retention 0 would give 1 ms buckets). */
const TIMER_BUCKET_MS = 1000;

/** A time-bucketed table that also reads what an earlier release kept under its name as JSON. */
class UpgradableTimeTable<S extends ColumnSpecs> extends TimeBucketedTable<S> implements ChunkedStateStore {
  readonly restoreLegacyEntry: ChunkedStateStore['restoreLegacyEntry'];

  constructor(d: TimeTableDeclaration<S>) {
    super(d);
    const legacy = d.legacy;
    this.restoreLegacyEntry =
      legacy === undefined
        ? undefined
        : (key, value, expiresAtMs) => {
            for (const [timeMs, row] of legacy(value, expiresAtMs)) this.insert(key, timeMs, row);
          };
  }
}

/** `all()` of a key with no list: one shared empty list, not an allocation per new key. */
const NO_ENTRIES: ReadonlyArray<readonly [number, never]> = Object.freeze([]);

/**
 * Runs a {@link KeyedProcessFunction}. Semantics:
 * - a record with event time < the operator's watermark is late: sent unchanged to `late`;
 * - a timer registered for `t` fires once the watermark is > t (every record with time ≤ t has
 *   arrived), in order of (t, key), before the watermark is forwarded;
 * - TTL state is dropped once the watermark passes its last write time + TTL.
 */
export class KeyedProcessOperator<I, O, S> implements Operator {
  readonly #fn: KeyedProcessFunction<I, O, S>;
  readonly #keyOf: (value: I) => Key;
  #out!: Output<O>;
  #late!: Output<I>;
  #ctx!: OperatorContext;
  #state!: S;
  #tables: StateTable<unknown>[] = [];
  #timeTables: Array<TimeBucketedTable<ColumnSpecs>> = [];
  /**
   * The timers, one entry per (key, time), in a time-bucketed table that drops them as they fire
   * (retention 0: an entry at t expires once the watermark is > t, which is when it fires): a
   * timer set and fired between two checkpoints is never written, and one written is never
   * deleted row by row.
   */
  #timerTimes!: TimeBucketedTable<Record<string, never>>;
  /**
   * Timers that the table cannot hold: behind the operator's watermark when registered (fired at
   * the next watermark), or not an integer time — and the timers a release before time-bucketed
   * state wrote, restored into this table (same name, same format).
   */
  #timers!: StateTable<TimerEntry>;
  /** Every timer's (time, key), duplicates and deleted ones included: checked when popped. */
  #timerHeap = new MinHeap<Key>();
  #watermarkMs = MIN_WATERMARK;
  #key: Key = '';
  #eventTimeMs = 0;
  readonly #processCtx: KeyedProcessContext<O>;

  constructor(keyOf: (value: I) => Key, fn: KeyedProcessFunction<I, O, S>) {
    this.#keyOf = keyOf;
    this.#fn = fn;
    const self = this;
    this.#processCtx = {
      get key() {
        return self.#key;
      },
      get eventTimeMs() {
        return self.#eventTimeMs;
      },
      get watermarkMs() {
        return self.#watermarkMs;
      },
      emit: (value, eventTimeMs) => self.#out.push(value, eventTimeMs ?? self.#eventTimeMs),
      registerTimer: (timeMs) => self.#registerTimer(timeMs),
      deleteTimer: (timeMs) => {
        self.#timerTimes.delete(self.#key, timeMs);
        self.#timers.delete(`${timeMs}|${self.#key}`);
      },
    };
  }

  open(ctx: OperatorContext): void {
    this.#ctx = ctx;
    this.#out = ctx.output();
    this.#late = ctx.output('late');
    this.#timers = ctx.table<TimerEntry>('timers');
    this.#timerTimes = ctx.timeTable({
      name: 'timer-times',
      retentionMs: 0,
      bucketWidthMs: TIMER_BUCKET_MS,
      columns: {},
    });
    this.#state = this.#fn.state ? this.#fn.state(this.#declarer()) : (undefined as S);
  }

  #declarer(): StateDeclarer {
    const table = <V>(name: string, options?: StateTableOptions): StateTable<V> => {
      if (name === 'timers' || name === 'timer-times') throw new RangeError(`state name "${name}" is reserved`);
      const t = this.#ctx.table<V>(name, options);
      this.#tables.push(t as StateTable<unknown>);
      return t;
    };
    return {
      value: <V>(name: string, options?: StateTableOptions): ValueState<V> => {
        const t = table<V>(name, options);
        return {
          get: () => t.get(this.#key),
          set: (v) => t.set(this.#key, v, this.#eventTimeMs),
          clear: () => void t.delete(this.#key),
        };
      },
      sortedList: <V>(name: string, options?: StateTableOptions): SortedListState<V> => {
        const t = table<Array<[number, V]>>(name, options);
        return {
          add: (ts, v) => {
            const list = t.get(this.#key);
            if (list === undefined) {
              t.set(this.#key, [[ts, v]], this.#eventTimeMs);
              return;
            }
            // Insert after every entry with time ≤ ts: stable for equal times.
            let lo = 0;
            let hi = list.length;
            while (lo < hi) {
              const mid = (lo + hi) >> 1;
              if ((list[mid] as [number, V])[0] <= ts) lo = mid + 1;
              else hi = mid;
            }
            // In-order input appends: push is cheaper than a splice at the end.
            if (lo === list.length) list.push([ts, v]);
            else list.splice(lo, 0, [ts, v]);
            t.set(this.#key, list, this.#eventTimeMs);
          },
          range: (fromMs, toMs) => (t.get(this.#key) ?? []).filter(([ts]) => ts >= fromMs && ts <= toMs),
          all: () => t.get(this.#key) ?? NO_ENTRIES,
          removeBefore: (beforeMs) => {
            const list = t.get(this.#key);
            if (list === undefined) return 0;
            let n = 0;
            while (n < list.length && (list[n] as [number, V])[0] < beforeMs) n++;
            if (n === 0) return 0;
            if (n === list.length) t.delete(this.#key);
            else {
              list.splice(0, n);
              t.touch(this.#key);
            }
            return n;
          },
          size: () => t.get(this.#key)?.length ?? 0,
          clear: () => void t.delete(this.#key),
        };
      },
      timeTable: <S extends ColumnSpecs>(d: TimeTableDeclaration<S>): TimeTableState<S> => {
        if (d.name === 'timers' || d.name === 'timer-times') throw new RangeError(`state name "${d.name}" is reserved`);
        const t = new UpgradableTimeTable<S>(d);
        this.#ctx.registerChunkedState(d.name, t);
        this.#timeTables.push(t as unknown as TimeBucketedTable<ColumnSpecs>);
        return {
          insert: (timeMs, row) => t.insert(this.#key, timeMs, row),
          delete: (timeMs, id) => t.delete(this.#key, timeMs, id),
          first: (fromMs, toMs) => t.first(this.#key, fromMs, toMs),
          last: (fromMs, toMs) => t.last(this.#key, fromMs, toMs),
          range: (fromMs, toMs, out) => t.range(this.#key, fromMs, toMs, out),
          findId: (id) => t.findId(this.#key, id),
          timeOf: (ref) => t.timeOf(ref),
          value: (ref, column) => t.value(ref, column),
        };
      },
      map: <V>(name: string, options?: StateTableOptions): MapState<V> => {
        const t = table<Record<string, V>>(name, options);
        return {
          get: (k) => t.get(this.#key)?.[k],
          set: (k, v) => {
            const m = t.get(this.#key) ?? {};
            m[k] = v;
            t.set(this.#key, m, this.#eventTimeMs);
          },
          delete: (k) => {
            const m = t.get(this.#key);
            if (m === undefined || !(k in m)) return;
            delete m[k];
            if (Object.keys(m).length === 0) t.delete(this.#key);
            else t.touch(this.#key);
          },
          entries: () => Object.entries(t.get(this.#key) ?? {}),
          clear: () => void t.delete(this.#key),
        };
      },
    };
  }

  #registerTimer(timeMs: number): void {
    const key = this.#key;
    if (Number.isSafeInteger(timeMs) && timeMs >= this.#watermarkMs) {
      if (this.#timerTimes.first(key, timeMs, timeMs) >= 0) return;
      this.#timerTimes.insert(key, timeMs, {});
    } else {
      const id = `${timeMs}|${key}`;
      if (this.#timers.has(id)) return;
      this.#timers.set(id, [timeMs, key]);
    }
    this.#timerHeap.push(timeMs, key);
  }

  /** Whether the timer (key, timeMs) is set, forgetting it if so. */
  #takeTimer(key: Key, timeMs: number): boolean {
    // A timer in the table is not deleted: it expires when the table's watermark moves past it,
    // right after the timers fire.
    if (this.#timerTimes.first(key, timeMs, timeMs) >= 0) return true;
    return this.#timers.delete(`${timeMs}|${key}`);
  }

  processRecord(_input: number, value: unknown, eventTimeMs: number): void {
    if (eventTimeMs < this.#watermarkMs) {
      this.#late.push(value as I, eventTimeMs);
      return;
    }
    this.#key = this.#keyOf(value as I);
    this.#eventTimeMs = eventTimeMs;
    this.#fn.onElement(value as I, this.#processCtx, this.#state);
  }

  processWatermark(watermarkMs: number): number {
    this.#watermarkMs = watermarkMs;
    const heap = this.#timerHeap;
    while (heap.size > 0 && heap.peekPriority() < watermarkMs) {
      // Timers due at the same time fire in key order, so that a restored run (whose heap was
      // rebuilt from the table) fires them exactly as the uninterrupted one did.
      const dueMs = heap.peekPriority();
      const due: Key[] = [];
      while (heap.size > 0 && heap.peekPriority() === dueMs) due.push(heap.pop() as Key);
      due.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (let i = 0; i < due.length; i++) {
        const key = due[i] as Key;
        // A duplicate heap entry (a timer deleted and set again), or a deleted timer.
        if ((i > 0 && due[i - 1] === key) || !this.#takeTimer(key, dueMs)) continue;
        this.#key = key;
        this.#eventTimeMs = dueMs;
        this.#fn.onTimer?.(dueMs, this.#processCtx, this.#state);
      }
    }
    for (const t of this.#tables) t.expire(watermarkMs);
    // After the timers: a timer at t reads the entries up to t, which the new watermark expires.
    for (const t of this.#timeTables) t.advanceWatermark(watermarkMs);
    this.#timerTimes.advanceWatermark(watermarkMs);
    return watermarkMs;
  }

  afterRestore(watermarkMs: number): void {
    this.#watermarkMs = watermarkMs;
    // Entries upgraded from JSON state rows may have expired by the restored watermark.
    for (const t of this.#timeTables) t.advanceWatermark(watermarkMs);
    this.#timerTimes.advanceWatermark(watermarkMs);
    this.#timerHeap.clear();
    for (const [, [timeMs, key]] of this.#timers.entries()) this.#timerHeap.push(timeMs, key);
    const t = this.#timerTimes;
    for (const key of t.keys()) {
      for (const ref of t.range(key, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY)) {
        this.#timerHeap.push(t.timeOf(ref), key);
      }
    }
  }

  describe(): Record<string, unknown> {
    return { timers: this.#timers.size + this.#timerTimes.size };
  }
}
