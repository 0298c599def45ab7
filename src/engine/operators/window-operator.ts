import { FlowmarkError } from '../errors.ts';
import type { Key, Operator, OperatorContext, Output } from '../operator.ts';
import type { StateTable } from '../state/state-table.ts';
import { MIN_WATERMARK } from '../time.ts';
import type { AggregateFunction, WindowAssigner, WindowOptions, WindowResult } from '../windows/window-types.ts';

/** The state of one key in one window: the accumulator and how many results were emitted for it. */
type CellState<A> = [acc: A, emitted: number];

interface Cell<A> {
  /** The state-table key, built once when the cell is created. */
  readonly tk: string;
  /** The state-table value itself: mutated in place, then announced with `touch`. */
  readonly st: CellState<A>;
  /** Scratch for {@link WindowOperator} key ordering. */
  mark: number;
  /** The snapshot epoch in which the cell last changed (see `prepareSnapshot`). */
  dirty: number;
}

interface Bucket<A> {
  readonly start: number;
  readonly end: number;
  readonly cells: Map<Key, Cell<A>>;
}

const TUMBLING = 0;
const HOPPING = 1;
const CUMULATE = 2;

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
 * State: one table `windows`, keyed `${start}:${end}:${key}` (the numbers never contain ':', so
 * the key parses back), holding `[accumulator, emitted]`. The same array objects are held by an
 * in-memory index (window end → key → cell), which is the fast path per record and is rebuilt
 * from the table in `afterRestore`. For these assigners a window's end determines its start, so
 * the end identifies the window.
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
  #ctx!: OperatorContext;
  #table!: StateTable<CellState<A>>;
  #wm = MIN_WATERMARK;
  readonly #buckets = new Map<number, Bucket<A>>();
  /** Ends of the live buckets, ascending: the prefix with end ≤ W has fired. */
  #ends: number[] = [];
  // Most records land in the window of the previous one.
  #lastEnd = Number.NaN;
  #lastBucket: Bucket<A> | undefined;
  /** The keys of the window fired last, in string order. */
  #prevKeys: Key[] = [];
  #markEpoch = 0;
  // Changed cells are announced to the table once per snapshot, not on every record: a number
  // compare on the hot path instead of a hash-set insert.
  #snapshotEpoch = 1;
  #dirtyCells: Cell<A>[] = [];

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
    this.#ctx = ctx;
    this.#out = ctx.output();
    this.#late = ctx.output('late');
    this.#table = ctx.table<CellState<A>>('windows');
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
    let b = end === this.#lastEnd ? this.#lastBucket : this.#buckets.get(end);
    if (b === undefined) b = this.#openBucket(start, end);
    this.#lastEnd = end;
    this.#lastBucket = b;
    let cell = b.cells.get(key);
    if (cell === undefined) {
      cell = {
        tk: `${start}:${end}:${key}`,
        st: [this.#agg.add(this.#agg.create(), value), 0],
        mark: 0,
        dirty: this.#snapshotEpoch,
      };
      b.cells.set(key, cell);
      this.#table.set(cell.tk, cell.st);
    } else {
      cell.st[0] = this.#agg.add(cell.st[0], value);
      if (cell.dirty !== this.#snapshotEpoch) {
        cell.dirty = this.#snapshotEpoch;
        this.#dirtyCells.push(cell);
      }
    }
    // Only possible under allowed lateness: the window already fired, so update its result now.
    if (end <= this.#wm) this.#emit(b, key, cell);
  }

  #openBucket(start: number, end: number): Bucket<A> {
    const b: Bucket<A> = { start, end, cells: new Map() };
    this.#buckets.set(end, b);
    const ends = this.#ends;
    if (ends.length === 0 || (ends[ends.length - 1] as number) < end) ends.push(end);
    else ends.splice(firstAbove(ends, end), 0, end);
    return b;
  }

  #emit(b: Bucket<A>, key: Key, cell: Cell<A>): void {
    const st = cell.st;
    this.#out.push(
      { key, windowStartMs: b.start, windowEndMs: b.end, value: this.#agg.result(st[0]), firing: st[1] },
      b.end - 1,
    );
    st[1]++;
  }

  processWatermark(watermarkMs: number): void {
    const prev = this.#wm;
    if (watermarkMs <= prev) return;
    this.#wm = watermarkMs;
    const ends = this.#ends;
    const lateness = this.#latenessMs;
    // Buckets with end ≤ prev fired earlier; fire those in (prev, watermark].
    for (let i = firstAbove(ends, prev); i < ends.length && (ends[i] as number) <= watermarkMs; i++) {
      const end = ends[i] as number;
      const b = this.#buckets.get(end) as Bucket<A>;
      const kept = end + lateness > watermarkMs;
      for (const key of this.#sortedKeys(b.cells)) {
        const cell = b.cells.get(key) as Cell<A>;
        this.#emit(b, key, cell);
        // The emitted count is state only while the window can still receive late records.
        if (kept) this.#table.touch(cell.tk);
      }
    }
    let n = 0;
    while (n < ends.length && (ends[n] as number) + lateness <= watermarkMs) {
      const end = ends[n++] as number;
      const b = this.#buckets.get(end) as Bucket<A>;
      for (const cell of b.cells.values()) this.#table.delete(cell.tk);
      this.#buckets.delete(end);
    }
    if (n > 0) {
      ends.splice(0, n);
      this.#lastEnd = Number.NaN;
      this.#lastBucket = undefined;
    }
    this.#ctx.emitWatermark(watermarkMs);
  }

  /**
   * The keys of `cells` in string order. Sorting strings is the main cost of firing, and
   * consecutive windows mostly share keys, so this reuses the previous window's order: its keys
   * still present (one look-up each) merged with the sorted new ones.
   */
  #sortedKeys(cells: Map<Key, Cell<A>>): Key[] {
    const prev = this.#prevKeys;
    let keys: Key[];
    if (prev.length === 0 || prev.length > 2 * cells.size) {
      keys = [...cells.keys()].sort();
    } else {
      const mark = ++this.#markEpoch;
      const kept: Key[] = [];
      for (const k of prev) {
        const c = cells.get(k);
        if (c === undefined) continue;
        c.mark = mark;
        kept.push(k);
      }
      if (kept.length === cells.size) keys = kept;
      else {
        const fresh: Key[] = [];
        for (const [k, c] of cells) if (c.mark !== mark) fresh.push(k);
        keys = mergeSorted(kept, fresh.sort());
      }
    }
    this.#prevKeys = keys;
    return keys;
  }

  prepareSnapshot(): void {
    const table = this.#table;
    for (const cell of this.#dirtyCells) if (table.has(cell.tk)) table.touch(cell.tk);
    this.#dirtyCells = [];
    this.#snapshotEpoch++;
  }

  afterRestore(watermarkMs: number): void {
    this.#wm = watermarkMs;
    this.#buckets.clear();
    this.#lastEnd = Number.NaN;
    this.#lastBucket = undefined;
    for (const [tk, st] of this.#table.entries()) {
      const c1 = tk.indexOf(':');
      const c2 = tk.indexOf(':', c1 + 1);
      const start = Number(tk.slice(0, c1));
      const end = Number(tk.slice(c1 + 1, c2));
      let b = this.#buckets.get(end);
      if (b === undefined) {
        b = { start, end, cells: new Map() };
        this.#buckets.set(end, b);
      }
      b.cells.set(tk.slice(c2 + 1), { tk, st, mark: 0, dirty: 0 });
    }
    this.#ends = [...this.#buckets.keys()].sort((a, b) => a - b);
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

/** Merges two ascending string arrays. */
function mergeSorted(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as string;
    const y = b[j] as string;
    if (x < y) {
      out.push(x);
      i++;
    } else {
      out.push(y);
      j++;
    }
  }
  while (i < a.length) out.push(a[i++] as string);
  while (j < b.length) out.push(b[j++] as string);
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
