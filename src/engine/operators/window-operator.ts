import { FlowmarkError } from '../errors.ts';
import type { Key, Operator, OperatorContext, Output } from '../operator.ts';
import type { StateStore } from '../state/state-store.ts';
import type { StateSize, TableChange } from '../state/state-table.ts';
import { MIN_WATERMARK } from '../time.ts';
import type { AggregateFunction, WindowAssigner, WindowOptions, WindowResult } from '../windows/window-types.ts';

/** The state of one key in one window as snapshotted: the accumulator and how many results were emitted. */
type CellState<A> = [acc: A, emitted: number];

/**
 * One window: its cells (one per key) as parallel arrays indexed by cell number, so that the
 * per-record path touches a map entry holding a small integer and two array slots, and the
 * garbage collector sees a few arrays per window rather than an object per cell.
 */
interface Bucket<A> {
  readonly start: number;
  readonly end: number;
  /** Key → cell number. */
  readonly index: Map<Key, number>;
  readonly keys: Key[];
  readonly accs: A[];
  /** How many results were emitted per cell. */
  readonly emitted: number[];
  /** The snapshot epoch in which each cell last changed (see `#takeChanges`). */
  readonly epochs: number[];
  /**
   * The store key `${start}:${end}:${key}` of each cell, built when the cell is first reported to
   * a snapshot (or restored from one); `undefined` while no snapshot holds the cell.
   */
  readonly tks: (string | undefined)[];
  /** How many cells have a store key: their deletion must be reported. */
  reported: number;
  /** The cells changed in the current snapshot epoch, each once. */
  changed: number[];
}

function newBucket<A>(start: number, end: number): Bucket<A> {
  return {
    start,
    end,
    index: new Map(),
    keys: [],
    accs: [],
    emitted: [],
    epochs: [],
    tks: [],
    reported: 0,
    changed: [],
  };
}

const TUMBLING = 0;
const HOPPING = 1;
const CUMULATE = 2;
/** Cells sampled by `measure` to estimate bytes per entry. */
const SAMPLE_SIZE = 32;

/**
 * Event-time windows with incremental aggregation, for the tumbling, hopping and cumulate
 * assigners (sessions are {@link SessionWindowOperator}). With W the operator's watermark and
 * L = `allowedLatenessMs` (default 0):
 *
 * - Windows are half-open `[start, end)`:
 *   tumbling(size, offset): start = ⌊(t − offset)/size⌋·size + offset, end = start + size;
 *   hopping(size, slide):   every start = k·slide with start ≤ t < start + size;
 *   cumulate(step, max):    base = ⌊t/max⌋·max, windows [base, base + j·step) for j = 1..max/step
 *                           with base + j·step > t.
 * - A record is late iff t < W − L: it goes unchanged (same value, same event time) to `late`
 *   and is counted in no window. Nothing is dropped silently.
 * - A window `[s, e)` fires when W ≥ e: one {@link WindowResult} per key, `firing` 0, event time
 *   e − 1. Windows fire in order of (end, start), keys within a window in string order, so a
 *   restored run emits exactly the sequence an uninterrupted one does.
 * - With L > 0 a record with W − L ≤ t accepted into a window that already fired (e ≤ W)
 *   re-emits that key's result of that window at once, again with event time e − 1 (which is
 *   behind the output watermark: downstream upserts by (key, window)). `firing` is per key per
 *   window the number of results emitted before this one: 0, 1, 2, …, so a key first seen in a
 *   window that already fired gets firing 0.
 * - A window's state is deleted once W ≥ e + L (with L = 0: as soon as it fires). Every
 *   accepted record has e > t ≥ W − L, so it never needs a window that was already deleted.
 * - After firing and cleaning up, the watermark is forwarded unchanged.
 *
 * State: one store `windows`, keyed `${start}:${end}:${key}` (the numbers never contain ':', so
 * the key parses back), holding `[accumulator, emitted]`. It is implemented over the operator's
 * own index (window end → key → cell; for these assigners a window's end determines its start,
 * so the end identifies the window), with no second copy: a changed cell is stamped with the
 * current snapshot epoch and listed in its window once per epoch (a number compare on the hot
 * path instead of a hash-set insert), and `takeChanges` reports the listed cells, building a
 * cell's store key only when it is first reported. A deletion is reported only for a cell some
 * snapshot holds: a cell created and deleted between two checkpoints leaves no entry.
 */
export class WindowOperator<T, A, R> implements Operator {
  readonly #keyOf: (value: T) => Key;
  readonly #assigner: WindowAssigner;
  readonly #agg: AggregateFunction<T, A, R>;
  readonly #latenessMs: number;
  readonly #kind: number;
  // Assigner parameters: (size, offset) for tumbling, (size, slide) for hopping, (step, maxSize) for cumulate.
  readonly #p1: number;
  readonly #p2: number;
  #out!: Output<WindowResult<R>>;
  #late!: Output<T>;
  #wm = MIN_WATERMARK;
  readonly #buckets = new Map<number, Bucket<A>>();
  /** Ends of the live buckets, ascending: the prefix with end ≤ W has fired. */
  #ends: number[] = [];
  /** Cells in all live buckets. */
  #liveCells = 0;
  // Most records land in the window of the previous one.
  #lastEnd = Number.NaN;
  #lastBucket: Bucket<A> | undefined;
  /** The keys of the window fired last, in string order. */
  #prevKeys: Key[] = [];
  /** Cells stamped with the current epoch are in their bucket's `changed`; `takeChanges` starts a new one. */
  #snapshotEpoch = 1;
  /** Store keys of deleted cells that a snapshot holds. */
  #deleted: string[] = [];
  #bytesPerEntry = 0;
  #bytesSampledAtSize = -1;

  constructor(
    keyOf: (value: T) => Key,
    assigner: WindowAssigner,
    aggregate: AggregateFunction<T, A, R>,
    options: WindowOptions = {},
  ) {
    this.#keyOf = keyOf;
    this.#assigner = assigner;
    this.#agg = aggregate;
    this.#latenessMs = validLateness(options.allowedLatenessMs);
    switch (assigner.kind) {
      case 'tumbling':
        positive('tumbling window sizeMs', assigner.sizeMs);
        if (!Number.isFinite(assigner.offsetMs)) {
          invalid(`tumbling window offsetMs must be a finite number of ms, got ${String(assigner.offsetMs)}`);
        }
        this.#kind = TUMBLING;
        this.#p1 = assigner.sizeMs;
        this.#p2 = assigner.offsetMs;
        break;
      case 'hopping':
        positive('hopping window sizeMs', assigner.sizeMs);
        positive('hopping window slideMs', assigner.slideMs);
        if (assigner.slideMs > assigner.sizeMs) {
          invalid(
            `hopping window slideMs (${assigner.slideMs}) must be ≤ sizeMs (${assigner.sizeMs}): records would fall between windows`,
          );
        }
        this.#kind = HOPPING;
        this.#p1 = assigner.sizeMs;
        this.#p2 = assigner.slideMs;
        break;
      case 'cumulate':
        positive('cumulate window stepMs', assigner.stepMs);
        positive('cumulate window maxSizeMs', assigner.maxSizeMs);
        if (assigner.maxSizeMs % assigner.stepMs !== 0) {
          invalid(
            `cumulate window maxSizeMs (${assigner.maxSizeMs}) must be a multiple of stepMs (${assigner.stepMs})`,
          );
        }
        this.#kind = CUMULATE;
        this.#p1 = assigner.stepMs;
        this.#p2 = assigner.maxSizeMs;
        break;
      default:
        invalid(`WindowOperator does not run ${assigner.kind} windows; session windows use SessionWindowOperator`);
    }
  }

  open(ctx: OperatorContext): void {
    this.#out = ctx.output();
    this.#late = ctx.output('late');
    const store: StateStore = {
      takeChanges: () => this.#takeChanges(),
      allEntries: () => this.#allEntries(),
      restoreEntry: (key, value) => this.#restoreEntry(key, value as CellState<A>),
      measure: () => this.#measure(),
    };
    ctx.registerState('windows', store);
  }

  processRecord(_input: number, value: unknown, eventTimeMs: number): void {
    const t = eventTimeMs;
    if (t < this.#wm - this.#latenessMs) {
      this.#late.push(value as T, t);
      return;
    }
    const key = this.#keyOf(value as T);
    const p1 = this.#p1;
    const p2 = this.#p2;
    if (this.#kind === TUMBLING) {
      const start = Math.floor((t - p2) / p1) * p1 + p2;
      this.#add(start, start + p1, key, value as T);
    } else if (this.#kind === HOPPING) {
      const last = Math.floor(t / p2) * p2;
      // Ascending starts, so that late re-emissions come out in (end, start) order too.
      for (let s = Math.floor((t - p1) / p2) * p2 + p2; s <= last; s += p2) this.#add(s, s + p1, key, value as T);
    } else {
      const base = Math.floor(t / p2) * p2;
      for (let end = base + (Math.floor((t - base) / p1) + 1) * p1; end <= base + p2; end += p1) {
        this.#add(base, end, key, value as T);
      }
    }
  }

  #add(start: number, end: number, key: Key, value: T): void {
    let b = this.#lastBucket;
    if (end !== this.#lastEnd || b === undefined) {
      b = this.#buckets.get(end) ?? this.#openBucket(start, end);
      this.#lastEnd = end;
      this.#lastBucket = b;
    }
    const epoch = this.#snapshotEpoch;
    let i = b.index.get(key);
    if (i === undefined) {
      i = b.keys.length;
      b.index.set(key, i);
      b.keys.push(key);
      b.accs.push(this.#agg.add(this.#agg.create(), value));
      b.emitted.push(0);
      b.epochs.push(epoch);
      b.tks.push(undefined);
      b.changed.push(i);
      this.#liveCells++;
    } else {
      b.accs[i] = this.#agg.add(b.accs[i] as A, value);
      if (b.epochs[i] !== epoch) {
        b.epochs[i] = epoch;
        b.changed.push(i);
      }
    }
    // Only possible under allowed lateness: the window already fired, so update its result now
    // (the cell is already listed as changed, so the new emitted count reaches the snapshot).
    if (end <= this.#wm) this.#emit(b, i);
  }

  #openBucket(start: number, end: number): Bucket<A> {
    const b = newBucket<A>(start, end);
    this.#buckets.set(end, b);
    const ends = this.#ends;
    if (ends.length === 0 || (ends[ends.length - 1] as number) < end) ends.push(end);
    else ends.splice(firstAbove(ends, end), 0, end);
    return b;
  }

  #emit(b: Bucket<A>, i: number): void {
    const emitted = b.emitted[i] as number;
    this.#out.push(
      {
        key: b.keys[i] as Key,
        windowStartMs: b.start,
        windowEndMs: b.end,
        value: this.#agg.result(b.accs[i] as A),
        firing: emitted,
      },
      b.end - 1,
    );
    b.emitted[i] = emitted + 1;
  }

  processWatermark(watermarkMs: number): number {
    const prev = this.#wm;
    if (watermarkMs <= prev) return MIN_WATERMARK;
    this.#wm = watermarkMs;
    const ends = this.#ends;
    // Nothing reached its end, so nothing fires or is deleted: the common case, once per advance.
    if (ends.length > 0 && (ends[0] as number) <= watermarkMs) this.#fireAndCleanUp(prev, watermarkMs);
    return watermarkMs;
  }

  #fireAndCleanUp(prev: number, watermarkMs: number): void {
    const ends = this.#ends;
    const lateness = this.#latenessMs;
    // Buckets with end ≤ prev fired earlier; fire those in (prev, watermark].
    for (let n = firstAbove(ends, prev); n < ends.length && (ends[n] as number) <= watermarkMs; n++) {
      const end = ends[n] as number;
      const b = this.#buckets.get(end) as Bucket<A>;
      const order = this.#sortedCells(b);
      if (end + lateness > watermarkMs) {
        // The emitted count is state while the window can still receive late records.
        const epoch = this.#snapshotEpoch;
        const epochs = b.epochs;
        for (const i of order) {
          this.#emit(b, i);
          if (epochs[i] !== epoch) {
            epochs[i] = epoch;
            b.changed.push(i);
          }
        }
      } else {
        for (const i of order) this.#emit(b, i);
      }
    }
    let n = 0;
    while (n < ends.length && (ends[n] as number) + lateness <= watermarkMs) {
      const end = ends[n++] as number;
      const b = this.#buckets.get(end) as Bucket<A>;
      this.#liveCells -= b.keys.length;
      if (b.reported > 0) for (const tk of b.tks) if (tk !== undefined) this.#deleted.push(tk);
      this.#buckets.delete(end);
    }
    if (n > 0) {
      ends.splice(0, n);
      this.#lastEnd = Number.NaN;
      this.#lastBucket = undefined;
    }
  }

  /**
   * The cells of `b` in string order of their keys. Sorting is the main cost of firing, and
   * consecutive windows mostly share keys, so this reuses the previous window's order: its keys
   * still present (one look-up each) merged with the sorted new ones.
   */
  #sortedCells(b: Bucket<A>): number[] {
    const prev = this.#prevKeys;
    const keys = b.keys;
    const n = keys.length;
    let order: number[];
    if (prev.length === 0 || prev.length > 2 * n) {
      order = sortByKey(
        keys,
        Array.from({ length: n }, (_, i) => i),
      );
    } else {
      const seen = new Uint8Array(n);
      const kept: number[] = [];
      for (const k of prev) {
        const i = b.index.get(k);
        if (i === undefined) continue;
        seen[i] = 1;
        kept.push(i);
      }
      if (kept.length === n) order = kept;
      else {
        const fresh: number[] = [];
        for (let i = 0; i < n; i++) if (seen[i] === 0) fresh.push(i);
        order = mergeSorted(keys, kept, sortByKey(keys, fresh));
      }
    }
    const sorted: Key[] = new Array(n);
    for (let j = 0; j < n; j++) sorted[j] = keys[order[j] as number] as Key;
    this.#prevKeys = sorted;
    return order;
  }

  // ---- the `windows` state store --------------------------------------------------------

  #storeKey(b: Bucket<A>, i: number): string {
    let tk = b.tks[i];
    if (tk === undefined) {
      tk = `${b.start}:${b.end}:${b.keys[i] as Key}`;
      b.tks[i] = tk;
      b.reported++;
    }
    return tk;
  }

  /** The cells changed and deleted since the previous call; starts a new snapshot epoch. */
  #takeChanges(): TableChange<CellState<A>>[] {
    const out: TableChange<CellState<A>>[] = [];
    for (const tk of this.#deleted) out.push([tk, undefined]);
    this.#deleted = [];
    for (const b of this.#buckets.values()) {
      if (b.changed.length === 0) continue;
      for (const i of b.changed) out.push([this.#storeKey(b, i), [b.accs[i] as A, b.emitted[i] as number]]);
      b.changed = [];
    }
    this.#snapshotEpoch++;
    return out;
  }

  /** Every live cell. A full snapshot holds them, so their deletions will be reported. */
  #allEntries(): TableChange<CellState<A>>[] {
    const out: TableChange<CellState<A>>[] = [];
    for (const b of this.#buckets.values()) {
      for (let i = 0; i < b.keys.length; i++) {
        out.push([this.#storeKey(b, i), [b.accs[i] as A, b.emitted[i] as number]]);
      }
    }
    return out;
  }

  #restoreEntry(tk: string, value: CellState<A>): void {
    const c1 = tk.indexOf(':');
    const c2 = tk.indexOf(':', c1 + 1);
    const start = Number(tk.slice(0, c1));
    const end = Number(tk.slice(c1 + 1, c2));
    const key = tk.slice(c2 + 1);
    let b = this.#buckets.get(end);
    if (b === undefined) {
      b = newBucket<A>(start, end);
      this.#buckets.set(end, b);
    }
    let i = b.index.get(key);
    if (i === undefined) {
      i = b.keys.length;
      b.index.set(key, i);
      b.keys.push(key);
      // Not a change (epoch 0 is never current), and held by the snapshot.
      b.epochs.push(0);
      b.tks.push(tk);
      b.reported++;
      this.#liveCells++;
    }
    b.accs[i] = value[0];
    b.emitted[i] = value[1];
  }

  /** Live cells, and bytes estimated from a sample of serialized cells (cheap to call). */
  #measure(): StateSize {
    const n = this.#liveCells;
    if (n === 0) return { entries: 0, bytes: 0 };
    // Re-sample when the state has changed size by more than a quarter since the last sample.
    if (this.#bytesSampledAtSize < 0 || Math.abs(n - this.#bytesSampledAtSize) * 4 > this.#bytesSampledAtSize) {
      let total = 0;
      let count = 0;
      sample: for (const b of this.#buckets.values()) {
        const prefix = String(b.start).length + String(b.end).length + 2;
        for (let i = 0; i < b.keys.length; i++) {
          const json = JSON.stringify([b.accs[i], b.emitted[i]]);
          total += 2 * (prefix + (b.keys[i] as Key).length) + 2 * json.length + 64;
          if (++count >= SAMPLE_SIZE) break sample;
        }
      }
      if (count > 0) {
        this.#bytesPerEntry = total / count;
        this.#bytesSampledAtSize = n;
      }
    }
    return { entries: n, bytes: Math.round(n * this.#bytesPerEntry) };
  }

  afterRestore(watermarkMs: number): void {
    this.#wm = watermarkMs;
    this.#ends = [...this.#buckets.keys()].sort((a, b) => a - b);
    this.#lastEnd = Number.NaN;
    this.#lastBucket = undefined;
  }

  describe(): Record<string, unknown> {
    const a = this.#assigner;
    const params =
      a.kind === 'tumbling'
        ? { sizeMs: a.sizeMs, offsetMs: a.offsetMs }
        : a.kind === 'hopping'
          ? { sizeMs: a.sizeMs, slideMs: a.slideMs }
          : a.kind === 'cumulate'
            ? { stepMs: a.stepMs, maxSizeMs: a.maxSizeMs }
            : {};
    return { assigner: a.kind, ...params, allowedLatenessMs: this.#latenessMs, openWindows: this.#buckets.size };
  }
}

/** Sorts cell numbers `cells` in place by the string order of their keys; returns them. */
function sortByKey(keys: readonly Key[], cells: number[]): number[] {
  return cells.sort((x, y) => {
    const a = keys[x] as Key;
    const b = keys[y] as Key;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/** The index of the first element of ascending `xs` that is > `x`. */
function firstAbove(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Merges two lists of cell numbers, each ascending by key. */
function mergeSorted(keys: readonly Key[], a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as number;
    const y = b[j] as number;
    if ((keys[x] as Key) < (keys[y] as Key)) {
      out.push(x);
      i++;
    } else {
      out.push(y);
      j++;
    }
  }
  while (i < a.length) out.push(a[i++] as number);
  while (j < b.length) out.push(b[j++] as number);
  return out;
}

function invalid(message: string): never {
  throw new FlowmarkError('FM_PIPELINE_INVALID', message);
}

function positive(name: string, value: number): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    invalid(`${name} must be a positive, finite number of ms, got ${String(value)}`);
  }
}

/** Validates `allowedLatenessMs` (shared with the session operator); returns it, 0 by default. */
export function validLateness(allowedLatenessMs: number | undefined): number {
  const l = allowedLatenessMs ?? 0;
  if (!(typeof l === 'number' && Number.isFinite(l) && l >= 0)) {
    invalid(`allowedLatenessMs must be a finite number of ms ≥ 0, got ${String(l)}`);
  }
  return l;
}
