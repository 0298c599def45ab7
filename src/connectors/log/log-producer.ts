/**
 * Appends raw payloads (one line each) to the topics of a {@link LogDirectory}.
 *
 * Guarantees:
 * - a record with a key goes to `partitionForKey(key, partitions)` (FNV-1a, stable forever), so
 *   all records of a key are in one partition, in append order; without a key, records are
 *   spread round-robin over the partitions;
 * - `append` returns the record's partition and offset at once, but the record is only
 *   *acknowledged* once a later `flush()` resolved: then it is on disk and survives `kill -9`
 *   and power loss. Until then it sits in a memory buffer (or the OS cache) and may be lost;
 *   after a crash, records that were not acknowledged may or may not be in the log, so a producer
 *   that appends them again may create duplicates (the pipeline de-duplicates by id);
 * - records appended by one producer to one partition keep their order.
 *
 * @example
 * const producer = new LogProducer(log);
 * producer.append('checkouts', line, userId);
 * producer.appendBatch('clicks', lines.map((payload) => ({ payload, key: userOf(payload) })));
 * await producer.flush();
 */
import { FlowmarkError } from '../../engine/index.ts';
import type { LogDirectory } from './log-directory.ts';
import type { LogPartition } from './log-partition.ts';
import { partitionForKey } from './log-partitioner.ts';

export interface AppendResult {
  partition: number;
  offset: number;
}

/** One record of `appendBatch`: a payload and an optional routing key. */
export interface ProducerRecord {
  payload: string;
  key?: string | undefined;
}

/** A topic as the producer uses it: its partitions and the round-robin position. */
interface TopicState {
  readonly name: string;
  readonly partitions: readonly LogPartition[];
  roundRobin: number;
}

export class LogProducer {
  readonly #log: LogDirectory;
  readonly #nowMs: () => number;
  readonly #topics = new Map<string, TopicState>();
  #last: TopicState | undefined;

  constructor(log: LogDirectory) {
    if (log.readOnly) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `log ${log.dir} was opened read-only: a producer needs a writable log`,
      );
    }
    this.#log = log;
    this.#nowMs = log.options.nowMs;
  }

  /** Buffers one record, routed by `key` (or round-robin); returns where it will be. */
  append(topic: string, payload: string, key?: string): AppendResult {
    const t = this.#topic(topic);
    const partition = key === undefined ? this.#next(t) : partitionForKey(key, t.partitions.length);
    const offset = (t.partitions[partition] as LogPartition).append(payload, this.#nowMs());
    return { partition, offset };
  }

  /** Buffers one record in a given partition (for tools and tests that place records themselves). */
  appendToPartition(topic: string, partition: number, payload: string): AppendResult {
    const p = this.#topic(topic).partitions[partition];
    if (p === undefined) this.#log.topic(topic).partition(partition); // throws a RangeError naming the partitions
    const offset = (p as LogPartition).append(payload, this.#nowMs());
    return { partition, offset };
  }

  /** Buffers many records (strings are unkeyed), all with one append time; returns where each will be. */
  appendBatch(topic: string, records: ReadonlyArray<string | ProducerRecord>): AppendResult[] {
    const t = this.#topic(topic);
    const n = t.partitions.length;
    const now = this.#nowMs();
    const out: AppendResult[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as string | ProducerRecord;
      const payload = typeof r === 'string' ? r : r.payload;
      const key = typeof r === 'string' ? undefined : r.key;
      const partition = key === undefined ? this.#next(t) : partitionForKey(key, n);
      const offset = (t.partitions[partition] as LogPartition).append(payload, now);
      out[i] = { partition, offset };
    }
    return out;
  }

  /** Resolves once everything appended before the call is durable (the log's `flush()`). */
  flush(): Promise<void> {
    return this.#log.flush();
  }

  #topic(name: string): TopicState {
    const last = this.#last;
    if (last !== undefined && last.name === name) return last;
    let t = this.#topics.get(name);
    if (t === undefined) {
      t = { name, partitions: this.#log.topic(name).partitions, roundRobin: 0 };
      this.#topics.set(name, t);
    }
    this.#last = t;
    return t;
  }

  #next(t: TopicState): number {
    const i = t.roundRobin;
    t.roundRobin = i + 1 === t.partitions.length ? 0 : i + 1;
    return i;
  }
}
