/**
 * One flowmark worker's membership of a Kafka consumer group over co-partitioned topics (e.g.
 * `['clicks', 'checkouts']`): the distributed part of scale-out is Kafka's group protocol, not
 * ours.
 *
 * - Assignment ({@link coPartitionAssigner}): partition NUMBERS are split among the members, and
 *   a member always gets partition p of every topic together. Sticky: each member's subscription
 *   carries the partitions it owns, and a member that joins or leaves moves only what must move.
 *   All topics must have the same partition count: `start` checks it and throws
 *   `FM_KAFKA_NOT_COPARTITIONED` naming the topics and their counts.
 * - Partitions added to the topics while running (`kafka-topics.sh --alter --partitions`) are
 *   noticed within `partitionCheckMs` (1 s: the topics' metadata is read again): once every topic has
 *   the new count, the member joins again with it, the group rebalances, and the new partitions
 *   go to members without moving the others. Until then the co-partitioned prefix is read.
 * - `onAssignment` hears this member's partition numbers after every rebalance (also when they
 *   did not change): a member that joins, leaves (`close`) or dies (no heartbeat for
 *   `sessionTimeoutMs`) makes every member hear its new set within a few seconds.
 * - Positions are NOT the group's: flowmark's checkpoint holds them (fenced per partition by the
 *   caller), and the sources' `commit` only mirrors them to the group's offsets, as this member.
 * - A broker outage: heartbeats are retried; when the member was dropped meanwhile it joins again
 *   (with backoff, for as long as it takes) and `onAssignment` hears the result.
 *
 * @example
 * const worker = new KafkaWorker({ bootstrap: ['127.0.0.1:9092'], groupId: 'flowmark', topics: ['clicks', 'checkouts'],
 *   onAssignment: (partitions) => console.log('mine:', partitions) });  // mine: [0, 1]
 * await worker.start();
 * const clicks = worker.source('clicks', { partitions: [0, 1] });
 */

import { Consumer, type ConsumerGroupJoinPayload } from '@platformatic/kafka';
import { FlowmarkError } from '../../engine/index.ts';
import {
  CO_PARTITION_PROTOCOL,
  commonPartitionCount,
  coPartitionAssigner,
  encodeMemberState,
} from './co-partition-assigner.ts';
import { flatMessage } from './kafka-fetcher.ts';
import { FETCH_CLIENT_OPTIONS, KafkaSource, type KafkaSourceOptions } from './kafka-source.ts';

export interface KafkaWorkerOptions {
  bootstrap: string[];
  groupId: string;
  topics: readonly string[];
  clientId?: string;
  /** A member silent this long is dropped and its partitions move (default 10 s). */
  sessionTimeoutMs?: number;
  /** Called after every rebalance with this member's partition numbers, sorted (may be the same set). */
  onAssignment: (partitions: readonly number[]) => void;
  /** Where trouble with the group is reported (default: a line on stderr). */
  onWarning?: (message: string) => void;
  /** How often the topics' partition counts are read again, to pick up added partitions (default 1 s). */
  partitionCheckMs?: number;
  /** Told when the topics' common partition count grew (the rebalance that follows hands the new partitions out). */
  onPartitionsAdded?: (from: number, to: number) => void;
}

const DEFAULT_SESSION_TIMEOUT_MS = 10_000;
// Often: records a producer writes under the new count before this worker knows it are taken for
// misplaced (the producers' own metadata is as old as 5 s with @platformatic/kafka, 5 min with Java's).
const DEFAULT_PARTITION_CHECK_MS = 1_000;
const MAX_REJOIN_BACKOFF_MS = 5_000;

export class KafkaWorker {
  readonly #options: KafkaWorkerOptions;
  readonly #consumer: Consumer;
  readonly #sources = new Set<KafkaSource>();
  readonly #warn: (message: string) => void;
  #assignment: readonly number[] = [];
  #assignError: FlowmarkError | undefined;
  #started = false;
  #closed = false;
  #rejoinTimer: NodeJS.Timeout | undefined;
  #rejoinBackoffMs = 0;
  /** The generation that gave this member its assignment (−1 before the first). */
  #generation = -1;
  /** The topics' common partition count as this member last told the group. */
  #partitionCount = 0;
  #partitionTimer: NodeJS.Timeout | undefined;
  #unevenWarned = '';

  constructor(options: KafkaWorkerOptions) {
    if (options.topics.length === 0)
      throw new FlowmarkError('FM_CONFIG_INVALID', 'a Kafka worker needs at least one topic');
    this.#options = options;
    this.#warn = options.onWarning ?? ((m) => process.stderr.write(`flowmark: ${m}\n`));
    const sessionTimeout = options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
    this.#consumer = new Consumer({
      clientId: options.clientId ?? 'flowmark',
      bootstrapBrokers: [...options.bootstrap],
      groupId: options.groupId,
      sessionTimeout,
      // A rebalance waits this long for every member to join again; members learn of it at their next heartbeat.
      rebalanceTimeout: Math.max(sessionTimeout, 15_000),
      heartbeatInterval: Math.max(100, Math.floor(sessionTimeout / 10)),
      protocols: [{ name: CO_PARTITION_PROTOCOL, version: 1 }],
      // Read at every join, with metadata just read: what this member owns (for a sticky
      // assignment) and the partition count it sees (a new count makes the group rebalance).
      protocolsMetadata: (_protocols, topics, metadata) => {
        this.#sawPartitionCount(Math.min(...topics.map((t) => metadata.topics.get(t)?.partitionsCount ?? 0)));
        return encodeMemberState({
          owned: this.#assignment,
          generation: this.#generation,
          partitions: this.#partitionCount,
        });
      },
      partitionAssigner: (current, members, topics, metadata) => {
        try {
          this.#assignError = undefined;
          return coPartitionAssigner(current, members, topics, metadata);
        } catch (err) {
          // Thrown inside the library's callback it would crash the process: nobody reads instead.
          this.#assignError = err as FlowmarkError;
          return [...members.keys()].map((memberId) => ({ memberId, assignments: new Map() }));
        }
      },
      retries: 3,
      retryDelay: 500,
    });
    this.#consumer.topics.trackAll(...options.topics);
    this.#consumer.on('consumer:group:join', (payload: ConsumerGroupJoinPayload) => this.#joined(payload));
    // The library emits 'error' when joining again after a lost membership failed: try later.
    this.#consumer.on('error', (err: unknown) => this.#rejoinLater(err));
  }

  /** This member's partition numbers, as last assigned. */
  get assignment(): readonly number[] {
    return this.#assignment;
  }

  /** The topics' common partition count as this member last read it (0 before `start`). */
  get partitionCount(): number {
    return this.#partitionCount;
  }

  /** The member id the coordinator gave this worker (null before `start`). */
  get memberId(): string | null {
    return this.#consumer.memberId;
  }

  /**
   * Checks that the topics exist and are co-partitioned, joins the group and resolves once the
   * first assignment was delivered to `onAssignment`.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const topics = [...this.#options.topics];
    let metadata: Awaited<ReturnType<Consumer['metadata']>>;
    try {
      metadata = await this.#consumer.metadata({ topics, forceUpdate: true });
    } catch (err) {
      throw new FlowmarkError(
        'FM_KAFKA_UNAVAILABLE',
        `cannot read the metadata of Kafka topics ${topics.join(', ')} at ${this.#options.bootstrap.join(',')}: ` +
          `${flatMessage(err).trim()}. Check that the broker runs and the topics exist.`,
        { cause: err },
      );
    }
    this.#partitionCount = commonPartitionCount(topics, (t) => metadata.topics.get(t)?.partitionsCount);
    try {
      await this.#consumer.joinGroup({});
    } catch (err) {
      throw new FlowmarkError(
        'FM_KAFKA_UNAVAILABLE',
        `cannot join the Kafka consumer group ${this.#options.groupId}: ${flatMessage(err).trim()}`,
        { cause: err },
      );
    }
    if (this.#assignError !== undefined) throw this.#assignError;
    this.#watchPartitions();
  }

  /** Reads the topics' partition counts every `partitionCheckMs`; a larger common count is told to the group. */
  #watchPartitions(): void {
    const every = this.#options.partitionCheckMs ?? DEFAULT_PARTITION_CHECK_MS;
    this.#partitionTimer = setTimeout(async () => {
      if (this.#closed) return;
      try {
        const topics = [...this.#options.topics];
        const metadata = await this.#consumer.metadata({ topics, forceUpdate: true });
        const count = Math.min(...topics.map((t) => metadata.topics.get(t)?.partitionsCount ?? 0));
        this.#warnUneven(topics.map((t) => [t, metadata.topics.get(t)?.partitionsCount ?? 0]));
        if (count > this.#partitionCount && !this.#closed) {
          this.#sawPartitionCount(count);
          // Joining again with the new count in its subscription makes the coordinator rebalance
          // (a member whose subscription changed), and the leader assigns the new partitions.
          await this.#consumer.joinGroup({});
        }
      } catch (err) {
        // A broker away: the next check tries again; the group's own retries handle membership.
        if (!this.#closed)
          this.#warn(
            `kafka: group ${this.#options.groupId}: reading the topics' partition counts: ${flatMessage(err).trim()}`,
          );
      }
      if (!this.#closed) this.#watchPartitions();
    }, every);
    this.#partitionTimer.unref();
  }

  /**
   * A reader of `topic` (one of the worker's topics) over `options.partitions`, with its own fetch
   * connection (a fetch session per reader and broker); its `commit` mirrors offsets to the group
   * as this member. Closed with the worker, or before by its own `close`.
   */
  source(topic: string, options: KafkaSourceOptions): KafkaSource {
    if (!this.#options.topics.includes(topic)) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `kafka worker: ${topic} is not one of its topics (${this.#options.topics.join(', ')})`,
      );
    }
    const client = new Consumer({
      clientId: `${this.#options.clientId ?? 'flowmark'}-fetch-${topic}`,
      bootstrapBrokers: [...this.#options.bootstrap],
      groupId: this.#options.groupId,
      ...FETCH_CLIENT_OPTIONS,
    });
    const source = new KafkaSource(
      topic,
      { onWarning: this.#warn, ...options },
      {
        client,
        ownsClient: true,
        onClose: () => this.#sources.delete(source),
        mirror: async (t, nextOffsets) => {
          await this.#consumer.commit({
            offsets: [...nextOffsets].map(([partition, offset]) => ({
              topic: t,
              partition,
              offset: BigInt(offset),
              leaderEpoch: -1,
            })),
          });
        },
      },
    );
    this.#sources.add(source);
    void source.open().catch(() => {}); // early: metadata and offsets are ready by the first poll (poll reports failures)
    return source;
  }

  /**
   * Commits `nextOffsets` of `topic` (any topic, not only the worker's) as this member of the
   * group: the broker refuses it once the member's generation is over (a rebalance, a member
   * dropped), so a worker that lost its partitions cannot move their offsets. Repartitioners keep
   * their source positions here (kafka-repartitioner.ts).
   */
  async commitOffsets(topic: string, nextOffsets: ReadonlyMap<number, number>): Promise<void> {
    await this.#consumer.commit({
      offsets: [...nextOffsets].map(([partition, offset]) => ({
        topic,
        partition,
        offset: BigInt(offset),
        leaderEpoch: -1,
      })),
    });
  }

  /** The group's committed offsets of `partitions` of `topic` (a partition with none is absent). */
  async committedOffsets(topic: string, partitions: readonly number[]): Promise<Map<number, number>> {
    const got = await this.#consumer.listCommittedOffsets({ topics: [{ topic, partitions: [...partitions] }] });
    const list = got.get(topic) ?? [];
    const out = new Map<number, number>();
    for (const p of partitions) {
      const o = list[p];
      if (o !== undefined && o >= 0n) out.set(p, Number(o));
    }
    return out;
  }

  /** The end offsets (next offset to be written) of `partitions` of `topic` now. */
  async endOffsets(topic: string, partitions: readonly number[]): Promise<Map<number, number>> {
    const got = await this.#consumer.listOffsets({
      topics: [topic],
      partitions: { [topic]: [...partitions] },
      timestamp: -1n,
    });
    const list = got.get(topic) ?? [];
    return new Map(partitions.map((p) => [p, Number(list[p] ?? 0n)]));
  }

  /** Closes the worker's sources and leaves the group, so that the others rebalance at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#rejoinTimer);
    clearTimeout(this.#partitionTimer);
    await Promise.all([...this.#sources].map((s) => s.close()));
    await this.#consumer.close().catch(async () => {
      await this.#consumer.close(true).catch(() => {});
    });
  }

  #joined(payload: ConsumerGroupJoinPayload): void {
    if (payload.assignments === undefined) return;
    this.#rejoinBackoffMs = 0;
    const partitions = new Set<number>();
    for (const a of payload.assignments) for (const p of a.partitions) partitions.add(p);
    this.#assignment = [...partitions].sort((a, b) => a - b);
    this.#generation = this.#consumer.generationId;
    if (this.#assignError !== undefined) {
      this.#warn(`kafka: group ${this.#options.groupId}: ${this.#assignError.message}`);
    }
    this.#options.onAssignment(this.#assignment);
  }

  /** Records a larger common partition count (read at a join or by the watch), telling `onPartitionsAdded`. */
  #sawPartitionCount(count: number): void {
    if (count <= this.#partitionCount) return;
    const from = this.#partitionCount;
    this.#partitionCount = count;
    if (from > 0) this.#options.onPartitionsAdded?.(from, count);
  }

  /** Once per layout: topics whose counts differ (one altered, not yet the other) are read as far as they agree. */
  #warnUneven(counts: ReadonlyArray<readonly [string, number]>): void {
    const layout = counts.map(([t, n]) => `${t}: ${n} partitions`).join(', ');
    if (new Set(counts.map(([, n]) => n)).size <= 1 || layout === this.#unevenWarned) return;
    this.#unevenWarned = layout;
    this.#warn(
      `kafka: group ${this.#options.groupId}: the topics have different partition counts (${layout}): partitions 0..${Math.min(...counts.map(([, n]) => n)) - 1} are read; the others wait until every topic has as many (add partitions to the smaller ones)`,
    );
  }

  #rejoinLater(err: unknown): void {
    if (this.#closed || this.#rejoinTimer !== undefined) return;
    this.#rejoinBackoffMs = Math.min(MAX_REJOIN_BACKOFF_MS, Math.max(250, this.#rejoinBackoffMs * 2));
    this.#warn(
      `kafka: group ${this.#options.groupId}: ${flatMessage(err).trim()}; joining again in ${this.#rejoinBackoffMs} ms`,
    );
    this.#rejoinTimer = setTimeout(() => {
      this.#rejoinTimer = undefined;
      if (this.#closed) return;
      this.#consumer.joinGroup({}).catch((e: unknown) => this.#rejoinLater(e));
    }, this.#rejoinBackoffMs);
  }
}
