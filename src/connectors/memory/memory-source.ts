import { FlowmarkError, type PollResult, type SourceReader, type SourceRecord } from '../../engine/index.ts';

export interface MemorySourceOptions {
  /** Partition ids (default [0]). */
  partitions?: readonly number[];
  /** A bounded source ends once everything appended was read (default true). */
  bounded?: boolean;
  /** Throw when this many records have been delivered (a crash, for recovery tests). */
  failAfterRecords?: number;
}

/**
 * An in-memory source with partitions and offsets, for tests and benchmarks. Records are
 * delivered in the global order they were appended (the "arrival order"), each with the next
 * offset of its partition. Offsets acknowledged by the runtime are visible in `committed`.
 *
 * @example
 * const src = MemorySource.of([{ id: 'a', t: 1000 }, { id: 'b', t: 2000 }]);
 */
export class MemorySource<R> implements SourceReader<R> {
  readonly partitions: readonly number[];
  readonly committed = new Map<number, number>();
  readonly #records: SourceRecord<R>[] = [];
  readonly #nextOffset = new Map<number, number>();
  /** Records not yet delivered, per partition: a partition with none is caught up. */
  readonly #remaining = new Map<number, number>();
  #position = 0;
  #skipBelow = new Map<number, number>();
  #bounded: boolean;
  #delivered = 0;
  #failAfter: number | undefined;

  constructor(options: MemorySourceOptions = {}) {
    this.partitions = options.partitions ?? [0];
    this.#bounded = options.bounded ?? true;
    this.#failAfter = options.failAfterRecords;
    for (const p of this.partitions) {
      this.#nextOffset.set(p, 0);
      this.#remaining.set(p, 0);
    }
  }

  /** A bounded, single-partition source holding `values` in order. */
  static of<R>(values: Iterable<R>, options: MemorySourceOptions = {}): MemorySource<R> {
    const src = new MemorySource<R>(options);
    const partition = src.partitions[0] as number;
    let offset = 0;
    for (const value of values) src.#records.push({ partition, offset: offset++, value });
    src.#nextOffset.set(partition, offset);
    src.#remaining.set(partition, offset);
    return src;
  }

  /** Appends a record to `partition`; returns its offset. */
  append(value: R, partition = this.partitions[0] as number): number {
    const offset = this.#nextOffset.get(partition);
    if (offset === undefined)
      throw new RangeError(`partition ${partition} is not one of ${this.partitions.join(', ')}`);
    this.#records.push({ partition, offset, value });
    this.#nextOffset.set(partition, offset + 1);
    this.#remaining.set(partition, (this.#remaining.get(partition) ?? 0) + 1);
    return offset;
  }

  /** Marks the end of a live source: it ends once everything appended was read. */
  end(): void {
    this.#bounded = true;
  }

  get length(): number {
    return this.#records.length;
  }

  seek(nextOffsets: ReadonlyMap<number, number>): void {
    // Resume at the first record not yet covered by its partition's offset; records of other
    // partitions after it but below their own offsets are skipped by `poll`.
    this.#skipBelow = new Map(nextOffsets);
    let i = 0;
    while (i < this.#records.length) {
      const r = this.#records[i] as SourceRecord<R>;
      if (r.offset >= (nextOffsets.get(r.partition) ?? 0)) break;
      i++;
    }
    this.#position = i;
    for (const p of this.partitions) this.#remaining.set(p, 0);
    for (let j = i; j < this.#records.length; j++) {
      const r = this.#records[j] as SourceRecord<R>;
      if (r.offset >= (nextOffsets.get(r.partition) ?? 0))
        this.#remaining.set(r.partition, (this.#remaining.get(r.partition) ?? 0) + 1);
    }
  }

  poll(maxRecords: number): PollResult<R> {
    let end = Math.min(this.#records.length, this.#position + maxRecords);
    if (this.#failAfter !== undefined) {
      const left = this.#failAfter - this.#delivered;
      if (left <= 0) {
        throw new FlowmarkError('FM_SOURCE_FAILED', `memory source: injected failure after ${this.#failAfter} records`);
      }
      end = Math.min(end, this.#position + left);
    }
    let records = this.#records.slice(this.#position, end);
    this.#position = end;
    if (this.#skipBelow.size > 0) records = records.filter((r) => r.offset >= (this.#skipBelow.get(r.partition) ?? 0));
    this.#delivered += records.length;
    for (const r of records) this.#remaining.set(r.partition, (this.#remaining.get(r.partition) as number) - 1);
    const caughtUp = this.partitions.filter((p) => this.#remaining.get(p) === 0);
    return { records, caughtUp, ended: this.#bounded && this.#position >= this.#records.length };
  }

  commit(nextOffsets: ReadonlyMap<number, number>): void {
    for (const [p, o] of nextOffsets) this.committed.set(p, o);
  }
}
