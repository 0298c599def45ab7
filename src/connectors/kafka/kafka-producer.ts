/**
 * Appends records to Kafka topics, buffered and batched, through an idempotent producer
 * (acks=all): the broker keeps each record once, in order, even when a request is retried.
 *
 * Guarantees:
 * - a record with a key goes to `partitionForKey(key, partitions)`, the Java client's murmur2
 *   partitioner, so every Kafka client agrees on it and a user's clicks and checkouts share a
 *   partition number; without a key, records are spread: all the unkeyed records of one batch of
 *   a topic go to one partition, the next batch to the next (like Kafka's sticky partitioner);
 * - records appended to one partition keep their order (one request in flight at a time);
 * - `append` only buffers: a record is *acknowledged* once a later `flush()` resolved (written
 *   to the leader and its in-sync replicas). A failure (a topic that does not exist, a record too
 *   large for the broker, a broker gone longer than the retries) rejects `flush()` with a
 *   FlowmarkError; the producer is then failed: later calls throw the same error. After a crash,
 *   records that were not acknowledged may or may not be in the topic (the pipeline de-duplicates
 *   by id).
 *
 * @example
 * const producer = new KafkaProducer({ bootstrap: ['127.0.0.1:9092'] });
 * producer.append('clicks', line, userId);
 * await producer.ready();   // back-pressure: waits while too much is in flight
 * await producer.flush();   // everything appended so far is acknowledged
 * await producer.close();
 */
import { Producer } from '@platformatic/kafka';
import { FlowmarkError, isFlowmarkError } from '../../engine/index.ts';
import { KAFKA_CLIENT_ID, kafkaErrorText } from './kafka-options.ts';
import { partitionForKey } from './kafka-partitioner.ts';

export interface KafkaProducerOptions {
  bootstrap: readonly string[];
  clientId?: string;
  /** How long a record may wait in the buffer for more to batch with it (default 5 ms). */
  lingerMs?: number;
  /** A batch is sent as soon as this many records are buffered (default 16 384). */
  batchRecords?: number;
  /**
   * Bytes of one partition's records in one request (default 900 000): the broker refuses a
   * record batch larger than its `max.message.bytes` (1 MiB by default).
   */
  maxBatchBytes?: number;
  /** `ready()` waits while more records than this are buffered or in flight (default 200 000). */
  maxPendingRecords?: number;
  /** Attempts of a request before the producer fails (default 30, about a second apart). */
  retries?: number;
}

interface Pending {
  topic: string;
  key: Buffer | undefined;
  value: Buffer;
}

interface OutMessage {
  topic: string;
  key?: Buffer;
  value: Buffer;
  partition: number;
}

export class KafkaProducer {
  readonly #producer: Producer;
  readonly #bootstrap: readonly string[];
  readonly #lingerMs: number;
  readonly #batchRecords: number;
  readonly #maxBatchBytes: number;
  readonly #maxPending: number;
  #buffer: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The sends in order; each starts when the one before it ended. Never rejects. */
  #tail: Promise<void> = Promise.resolve();
  /** The batches sent or being sent, oldest first, with their record counts. */
  readonly #inFlight: Array<{ done: Promise<void>; records: number }> = [];
  /** The partition of a topic's unkeyed records in the batch being placed, and the next one's. */
  readonly #sticky = new Map<string, number>();
  readonly #nextSticky = new Map<string, number>();
  #failure: FlowmarkError | undefined;
  #appended = 0;
  #acknowledged = 0;
  #closed = false;

  constructor(options: KafkaProducerOptions) {
    this.#bootstrap = options.bootstrap;
    this.#lingerMs = options.lingerMs ?? 5;
    this.#batchRecords = options.batchRecords ?? 16_384;
    this.#maxBatchBytes = options.maxBatchBytes ?? 900_000;
    this.#maxPending = options.maxPendingRecords ?? 200_000;
    this.#producer = new Producer({
      clientId: options.clientId ?? KAFKA_CLIENT_ID,
      bootstrapBrokers: [...options.bootstrap],
      idempotent: true,
      acks: -1,
      autocreateTopics: false,
      // The client takes 0 or 1 retries of an idempotent producer as "forever".
      retries: Math.max(2, options.retries ?? 30),
      retryDelay: 1000,
    });
  }

  /** Records appended so far, and those of them acknowledged by the broker. */
  get stats(): { appended: number; acknowledged: number } {
    return { appended: this.#appended, acknowledged: this.#acknowledged };
  }

  /** Buffers one record, routed by `key` (or spread when there is none). Throws once the producer failed. */
  append(topic: string, value: string, key?: string): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closed) throw new FlowmarkError('FM_SINK_FAILED', 'the Kafka producer is closed');
    this.#buffer.push({
      topic,
      key: key === undefined ? undefined : Buffer.from(key, 'utf8'),
      value: Buffer.from(value, 'utf8'),
    });
    this.#appended++;
    if (this.#buffer.length >= this.#batchRecords) this.#dispatch();
    else this.#timer ??= setTimeout(() => this.#dispatch(), this.#lingerMs);
  }

  /**
   * Back-pressure: resolves once at most `maxPendingRecords` records are buffered or in flight
   * (at once when fewer are). Rejects when the producer failed.
   */
  async ready(): Promise<void> {
    while (this.#failure === undefined && this.#appended - this.#acknowledged > this.#maxPending) {
      if (this.#buffer.length > 0) this.#dispatch();
      const oldest = this.#inFlight[0];
      if (oldest === undefined) break;
      await oldest.done;
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Resolves when every record appended before the call is acknowledged; rejects on a failure. */
  async flush(): Promise<void> {
    if (this.#buffer.length > 0) this.#dispatch();
    await this.#tail;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Flushes, then closes the connections (they are closed even when the flush fails). */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      if (this.#failure === undefined) await this.flush();
    } finally {
      this.#closed = true;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      await this.#producer.close();
    }
  }

  #dispatch(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const batch = this.#buffer;
    if (batch.length === 0) return;
    this.#buffer = [];
    const done = this.#tail.then(async () => {
      if (this.#failure !== undefined) return; // failed earlier: nothing more is sent
      try {
        await this.#send(batch);
        this.#acknowledged += batch.length;
      } catch (err) {
        this.#failure ??= this.#asFlowmarkError(err);
      }
    });
    const entry = { done, records: batch.length };
    this.#inFlight.push(entry);
    this.#tail = done.then(() => {
      this.#inFlight.splice(this.#inFlight.indexOf(entry), 1);
    });
  }

  /** Sends one batch: places each record, then one request per round of ≤ maxBatchBytes per partition. */
  async #send(batch: readonly Pending[]): Promise<void> {
    const counts = await this.#partitionCounts([...new Set(batch.map((r) => r.topic))]);
    const groups = new Map<string, { chunks: OutMessage[][]; bytes: number }>();
    for (const r of batch) {
      const n = counts.get(r.topic) as number;
      const partition = r.key === undefined ? this.#stickyPartition(r.topic, n) : partitionForKey(r.key, n);
      const id = `${r.topic}\u0000${partition}`;
      let g = groups.get(id);
      if (g === undefined) {
        g = { chunks: [[]], bytes: 0 };
        groups.set(id, g);
      }
      const size = r.value.length + (r.key?.length ?? 0) + 32;
      if (g.bytes + size > this.#maxBatchBytes && g.bytes > 0) {
        g.chunks.push([]);
        g.bytes = 0;
      }
      g.bytes += size;
      (g.chunks.at(-1) as OutMessage[]).push(
        r.key === undefined
          ? { topic: r.topic, value: r.value, partition }
          : { topic: r.topic, key: r.key, value: r.value, partition },
      );
    }
    for (const t of counts.keys()) this.#sticky.delete(t); // the next batch takes the next partition
    const rounds = Math.max(...[...groups.values()].map((g) => g.chunks.length));
    for (let i = 0; i < rounds; i++) {
      const messages = [...groups.values()].flatMap((g) => g.chunks[i] ?? []);
      await this.#producer.send({ messages });
    }
  }

  #stickyPartition(topic: string, partitions: number): number {
    let p = this.#sticky.get(topic);
    if (p === undefined) {
      p = (this.#nextSticky.get(topic) ?? 0) % partitions;
      this.#nextSticky.set(topic, p + 1);
      this.#sticky.set(topic, p);
    }
    return p;
  }

  async #partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    let md: Awaited<ReturnType<Producer['metadata']>>;
    try {
      md = await this.#producer.metadata({ topics: [...topics], retries: 3 });
    } catch (err) {
      const unknown = /unknown topic/i.test(kafkaErrorText(err));
      throw new FlowmarkError(
        unknown ? 'FM_SINK_FAILED' : 'FM_KAFKA_UNAVAILABLE',
        unknown
          ? `Kafka at ${this.#bootstrap.join(',')} has no topic ${topics.join(' or ')}: create it first (flowmark import --kafka and produce --kafka create clicks and checkouts)`
          : `reading the metadata of ${topics.join(', ')} at ${this.#bootstrap.join(',')} failed: ${kafkaErrorText(err)} (is the broker running and reachable?)`,
        { cause: err },
      );
    }
    const out = new Map<string, number>();
    for (const t of topics) out.set(t, md.topics.get(t)?.partitionsCount ?? 0);
    return out;
  }

  #asFlowmarkError(err: unknown): FlowmarkError {
    if (isFlowmarkError(err)) return err;
    return new FlowmarkError(
      'FM_SINK_FAILED',
      `writing to Kafka at ${this.#bootstrap.join(',')} failed: ${kafkaErrorText(err)}`,
      { cause: err },
    );
  }
}
