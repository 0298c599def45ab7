/**
 * Repartitions one partition of a source topic whose records are not keyed (the reference
 * producers' `clicks` and `checkouts`) into an internal topic keyed by `keyOf(value)` (the user
 * id), each record in an envelope naming its source partition and offset (repartition-envelope.ts).
 *
 * Exactly-once without Kafka transactions (docs/decisions.md): the records go through the
 * worker's idempotent producer (one request in flight: in order per internal partition, a retried
 * request is kept once), and the source offset is committed to the group only after every record
 * before it is acknowledged by the broker — nothing is acknowledged upstream before it is durable
 * downstream (ARCHITECTURE §3.7). A repartitioner killed between the two re-sends from the
 * committed offset; the job reading the internal topic drops what it has already seen per source
 * partition ({@link RepartitionedSource}).
 *
 * A record `keyOf` cannot place (not JSON, no user id) goes to the internal partition of its
 * source partition's own key, where the job makes it a dead letter — once, as any record.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { flatMessage } from './kafka-fetcher.ts';
import type { KafkaProducer } from './kafka-producer.ts';
import { KafkaSource } from './kafka-source.ts';
import { encodeEnvelope } from './repartition-envelope.ts';

export interface KafkaRepartitionerOptions {
  bootstrap: readonly string[];
  producer: KafkaProducer;
  /** The source topic and the partition of it this repartitioner owns. */
  from: string;
  partition: number;
  /** The internal topic. */
  to: string;
  /** The record's key in the internal topic (the user id); undefined: the record cannot be placed. */
  keyOf: (value: string) => string | undefined;
  /** The group's committed offset of the source partition (undefined: none: from its first record). */
  committed: () => Promise<number | undefined>;
  /** Commits the next source offset to the group (throws when this worker no longer owns it). */
  commit: (nextOffset: number) => Promise<void>;
  /** Drain: stop at the partition's end offset at start, once it is committed. */
  drain: boolean;
  onWarning?: (message: string) => void;
  /** Test hook: called after the internal topic acknowledged a batch, before its source offset is committed. */
  afterAcknowledged?: (nextOffset: number) => void | Promise<void>;
}

/** Records per poll of the source partition (one batch to the producer, one commit). */
const BATCH = 4096;

export class KafkaRepartitioner {
  readonly #o: KafkaRepartitionerOptions;
  readonly #stop = new AbortController();
  #source: KafkaSource | undefined;
  #done: Promise<void> | undefined;
  /** Records written to the internal topic so far. */
  written = 0;

  constructor(o: KafkaRepartitionerOptions) {
    this.#o = o;
  }

  /** Runs until `stop` (or, draining, until the partition's end is committed); rejects on a producer failure. */
  start(): Promise<void> {
    this.#done ??= this.#run();
    return this.#done;
  }

  /** Stops reading; resolves once the loop has returned (its last batch may be acknowledged but not committed). */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#source?.interrupt();
    await this.#done?.catch(() => {});
  }

  async #run(): Promise<void> {
    const o = this.#o;
    const source = KafkaSource.standalone({
      bootstrap: o.bootstrap,
      topic: o.from,
      partitions: [o.partition],
      endAtOpen: o.drain,
      onWarning: o.onWarning,
    });
    this.#source = source;
    try {
      const committed = await o.committed();
      await source.seek(committed === undefined ? new Map() : new Map([[o.partition, committed]]));
      const unplaced = `flowmark-unplaced-${o.from}-${o.partition}`;
      let committedNext = committed;
      while (!this.#stop.signal.aborted) {
        const { records, ended } = await source.poll(BATCH);
        if (this.#stop.signal.aborted) break;
        for (const r of records) {
          o.producer.append(
            o.to,
            encodeEnvelope({ partition: o.partition, offset: r.offset, timestampMs: r.timestampMs ?? 0 }, r.value),
            o.keyOf(r.value) ?? unplaced,
          );
        }
        this.written += records.length;
        const next = source.positions().get(o.partition) ?? 0;
        if (next !== committedNext) {
          await o.producer.flush();
          await o.afterAcknowledged?.(next);
          if (await this.#commit(next, ended === true)) committedNext = next;
        }
        if (ended === true && committedNext === next) break;
        if (ended === true) await sleep(200, undefined, { signal: this.#stop.signal }).catch(() => {});
      }
    } finally {
      await source.close();
    }
  }

  /**
   * Commits `next`; a refusal (a rebalance in progress, the partition moved) is not a failure: the
   * records are in the internal topic, and whoever reads the partition next re-sends from the
   * last committed offset (the job drops the duplicates). At the end of a drain it must succeed,
   * since the jobs wait for it: the caller tries again.
   */
  async #commit(next: number, mustSucceed: boolean): Promise<boolean> {
    try {
      await this.#o.commit(next);
      return true;
    } catch (err) {
      if (mustSucceed) return false;
      (this.#o.onWarning ?? ((m) => process.stderr.write(`flowmark: ${m}\n`)))(
        `kafka: committing ${this.#o.from} partition ${this.#o.partition} offset ${next} after repartitioning it failed (${flatMessage(err).trim()}); the next commit covers it`,
      );
      return false;
    }
  }
}
