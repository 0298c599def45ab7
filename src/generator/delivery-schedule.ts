/**
 * How the simulated website's events reach the queue: the order of arrival, which is not the
 * order of event time. Each event is delivered after a delay:
 *
 * - 0 (in order) by default;
 * - 1 ms…`maxDisorderMs` for a fraction `disorder` of events (out of order, within the bound: a
 *   consumer whose watermark allows `maxDisorderMs` of out-of-orderness loses none of them);
 * - `lateMinDelayMs`…`lateMaxDelayMs` (> the bound) for a fraction `late` (truly late: they
 *   arrive after later events have moved the watermark past them).
 *
 * Lines are released in order of (event time + delay, order of acceptance), so with `late` = 0
 * every line satisfies (max event time of the lines before it) − (its event time) ≤
 * `maxDisorderMs`. A fraction `duplicates` of checkouts is delivered twice, byte for byte (a
 * producer's retry), the copy up to `maxDisorderMs` after the original (and within the bound
 * when the original is). A fraction `malformed` of events is replaced by a broken line
 * (`malformed-lines.ts`). The choices come from their own seeded source, so the knobs change
 * how the same events are delivered, never which events the website produced.
 */
import { MinHeap } from '../engine/index.ts';
import { eventLine, type GeneratedEvent } from './event-lines.ts';
import { type MalformedKind, malformedLine } from './malformed-lines.ts';
import { RandomSource } from './random-source.ts';

export interface DeliveryOptions {
  seed: number;
  /** Fraction of events delivered out of order within `maxDisorderMs`, in [0, 1]. */
  disorder: number;
  /** The bound of disorder, ms (default 10 s). */
  maxDisorderMs: number;
  /** Fraction of events delivered after more than the bound, in [0, 1]; disorder + late ≤ 1. */
  late: number;
  /** Delay of a late event, ms: uniform in [lateMinDelayMs, lateMaxDelayMs]; min > maxDisorderMs. */
  lateMinDelayMs: number;
  lateMaxDelayMs: number;
  /** Fraction of checkouts delivered twice, in [0, 1]. */
  duplicates: number;
  /** Fraction of events whose line is broken, in [0, 1]. */
  malformed: number;
}

/** What a line is: a click, a checkout, the second delivery of a checkout, or a broken line. */
export type LineKind = 'click' | 'checkout' | 'duplicate' | 'malformed';

/** One line as the queue receives it. */
export interface DeliveredLine {
  /** The JSON text, without a newline. */
  line: string;
  kind: LineKind;
  /** For a malformed line: what is wrong with it. */
  malformedKind?: MalformedKind;
  /**
   * The user id the line carries (absent on a malformed line): a queue keys the line by it
   * without parsing the line again.
   */
  userId?: string;
  /** The event time of the event the line carries (or was made from). */
  eventTimeMs: number;
  /** When it arrives: event time + delivery delay. */
  arrivalMs: number;
}

/** Counts of the lines released so far. */
export interface DeliveryStats {
  lines: number;
  clicks: number;
  checkouts: number;
  duplicates: number;
  malformed: number;
  /** Lines whose event time is below that of an earlier well-formed line. */
  outOfOrder: number;
  /** Lines more than `maxDisorderMs` below the largest event time before them: late for such a watermark. */
  beyondBound: number;
  /** Smallest and largest event time of the well-formed lines (NaN before the first). */
  minEventTimeMs: number;
  maxEventTimeMs: number;
}

/**
 * Turns events in event-time order into lines in arrival order.
 *
 * @example
 * const d = new DeliverySchedule({ ...DEFAULT_DELIVERY, seed: 1, disorder: 0.1 });
 * const out: DeliveredLine[] = [];
 * for (const e of events) d.accept(e, 2, out); // out fills in arrival order
 * d.flush(out);                                 // the lines still on their way
 */
export class DeliverySchedule {
  readonly stats: DeliveryStats = {
    lines: 0,
    clicks: 0,
    checkouts: 0,
    duplicates: 0,
    malformed: 0,
    outOfOrder: 0,
    beyondBound: 0,
    minEventTimeMs: Number.NaN,
    maxEventTimeMs: Number.NaN,
  };
  private readonly options: DeliveryOptions;
  private readonly rng: RandomSource;
  /** Lines not released yet, by (arrival time, scheduling order). */
  private readonly heap = new MinHeap<DeliveredLine>();
  private maxSeenMs = Number.NEGATIVE_INFINITY;

  constructor(options: DeliveryOptions) {
    this.options = options;
    this.rng = new RandomSource(options.seed, 'delivery');
  }

  /** Lines accepted but not released yet. */
  get pending(): number {
    return this.heap.size;
  }

  /**
   * Accepts the next event (event times must not decrease from one call to the next). First
   * releases into `out` every pending line that arrives no later than this event could; then
   * schedules this event's line(s). A checkout may be duplicated only if `room` ≥ 2. Returns the
   * number of lines scheduled (1 or 2).
   */
  accept(event: GeneratedEvent, room: number, out: DeliveredLine[]): number {
    const o = this.options;
    const rng = this.rng;
    const t = event.eventTimeMs;
    this.release(t, out);
    let line: DeliveredLine;
    if (o.malformed > 0 && rng.chance(o.malformed)) {
      const bad = malformedLine(event, rng);
      line = { line: bad.line, kind: 'malformed', malformedKind: bad.kind, eventTimeMs: t, arrivalMs: t };
    } else {
      line = { line: eventLine(event), kind: event.type, userId: event.userId, eventTimeMs: t, arrivalMs: t };
    }
    const delay = this.delay();
    line.arrivalMs = t + delay;
    // Nothing pending arrives at or before t now, so a line with no delay goes out at once.
    if (delay === 0) this.emit(line, out);
    else this.schedule(line);
    if (line.kind !== 'checkout' || room < 2 || !(o.duplicates > 0) || !rng.chance(o.duplicates)) return 1;
    const bound = o.maxDisorderMs;
    const copyDelay =
      delay < bound ? delay + rng.int(1, bound - delay) : delay > bound ? delay + rng.int(0, bound) : delay;
    this.schedule({ ...line, kind: 'duplicate', arrivalMs: t + copyDelay });
    return 2;
  }

  /** Releases into `out`, in arrival order, every pending line arriving at or before `upToMs`. */
  release(upToMs: number, out: DeliveredLine[]): void {
    const heap = this.heap;
    while (heap.size > 0 && heap.peekPriority() <= upToMs) this.emit(heap.pop() as DeliveredLine, out);
  }

  /** Releases every pending line (the end of a bounded run). */
  flush(out: DeliveredLine[]): void {
    this.release(Number.POSITIVE_INFINITY, out);
  }

  private delay(): number {
    const o = this.options;
    if (!(o.late > 0) && !(o.disorder > 0)) return 0;
    const u = this.rng.next();
    if (u < o.late) return this.rng.int(o.lateMinDelayMs, o.lateMaxDelayMs);
    if (u < o.late + o.disorder && o.maxDisorderMs >= 1) return this.rng.int(1, o.maxDisorderMs);
    return 0;
  }

  private emit(l: DeliveredLine, out: DeliveredLine[]): void {
    const s = this.stats;
    s.lines++;
    if (l.kind === 'malformed') s.malformed++;
    else {
      if (l.kind === 'click') s.clicks++;
      else if (l.kind === 'checkout') s.checkouts++;
      else s.duplicates++;
      const t = l.eventTimeMs;
      if (t < this.maxSeenMs) {
        s.outOfOrder++;
        if (this.maxSeenMs - t > this.options.maxDisorderMs) s.beyondBound++;
      } else this.maxSeenMs = t;
      if (!(t >= s.minEventTimeMs)) s.minEventTimeMs = t;
      if (!(t <= s.maxEventTimeMs)) s.maxEventTimeMs = t;
    }
    out.push(l);
  }

  private schedule(line: DeliveredLine): void {
    this.heap.push(line.arrivalMs, line);
  }
}
