/**
 * Background prefetch for a {@link KafkaSource}: fetches records of some partitions of one topic
 * at explicit offsets (never through group-managed positions) into bounded per-partition buffers,
 * so that a poll finds them in memory.
 *
 * - One fetch in flight per broker (a leader of some of the partitions); a fetch asks for every
 *   partition whose buffer is below `bufferBytes`, or, while a reader waits for one partition
 *   ({@link KafkaFetcher.waitFor}), for the waited-for partitions only: the broker then returns at
 *   least one whole batch of a lone partition even when it is larger than `partitionMaxBytes`, so
 *   an oversized record cannot stall the reader.
 * - Everything below `fetchOffset` is known: buffered records, or offsets with nothing to deliver
 *   (control batches of transactions, aborted or compacted records). The reader skips those gaps.
 * - A failed fetch (broker down, leader moving) is retried with backoff (100 ms doubling to 5 s)
 *   from the partitions' own offsets, for as long as it takes; `onTrouble` hears the first failure
 *   and the recovery of each episode, not each attempt.
 * - `seek` is `reset`: a reply to a fetch sent before it is ignored (generation counter).
 */

import type { Consumer } from '@platformatic/kafka';
import { FlowmarkError } from '../../engine/index.ts';

// The library's fetch types, as its `fetch` declares them (they are not exported by name).
type FetchOptions = Parameters<Consumer['fetch']>[0];
type FetchRequestTopic = FetchOptions['topics'][number];
type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;
type FetchResponsePartition = FetchResponse['responses'][number]['partitions'][number];

/** A record in a partition's buffer: its value already decoded as UTF-8. */
export interface BufferedRecord {
  offset: number;
  value: string;
  timestampMs: number;
}

/** Bytes that count against a buffer for a record (its value; keys and headers are not kept). */
const RECORD_OVERHEAD_BYTES = 64;

/** The fetch state of one partition. */
export class PartitionFeed {
  readonly id: number;
  records: BufferedRecord[] = [];
  head = 0;
  bufferedBytes = 0;
  /** Every offset below this one is buffered or known to hold nothing to deliver. */
  fetchOffset = 0;
  /** The end of what can be read now (last stable offset), as last reported by the broker. */
  endKnown = 0;
  /** The first retained offset, as last reported. */
  logStart = 0;
  /** Drain mode: nothing at or after this offset is fetched or delivered. */
  stop: number | undefined = undefined;
  /** Bumped by every reset: replies to older fetches are dropped. */
  gen = 0;
  /** A fetch for this partition is in flight. */
  inFlight = false;
  /** An error that makes the partition unreadable (the reader throws it at its turn). */
  fatal: FlowmarkError | undefined = undefined;

  constructor(id: number) {
    this.id = id;
  }

  /** The first buffered record, if any. */
  peek(): BufferedRecord | undefined {
    return this.head < this.records.length ? this.records[this.head] : undefined;
  }

  shift(): void {
    const r = this.records[this.head] as BufferedRecord;
    this.bufferedBytes -= r.value.length + RECORD_OVERHEAD_BYTES;
    this.head++;
    if (this.head === this.records.length) {
      this.records = [];
      this.head = 0;
    }
  }

  /** The limit of what may be fetched: the drain end, if any. */
  wantsMore(): boolean {
    return this.fatal === undefined && (this.stop === undefined || this.fetchOffset < this.stop);
  }
}

export interface FetcherOptions {
  /** Bytes per partition per fetch (a larger first batch still comes whole: see above). */
  partitionMaxBytes: number;
  /** A partition is fetched again only while its buffer holds fewer bytes than this. */
  bufferBytes: number;
  /** How long the broker may hold a fetch while there is nothing new (long poll). */
  maxWaitMs: number;
  /** Told once when fetching starts failing (with the error), and once when it works again. */
  onTrouble: (
    trouble: { failing: true; error: unknown } | { failing: false; downMs: number; attempts: number },
  ) => void;
  nowMs: () => number;
}

const OFFSET_OUT_OF_RANGE = 1;
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

interface Waiter {
  /** The partition waited for and the reader's position in it (none: any reply will do). */
  feed: PartitionFeed | undefined;
  next: number;
  resolve: () => void;
}

/** See the file comment. */
export class KafkaFetcher {
  readonly topic: string;
  readonly feeds: ReadonlyMap<number, PartitionFeed>;
  readonly #client: Consumer;
  readonly #options: FetcherOptions;
  #topicId = '';
  /** Partition → leader node id, from the last metadata. */
  #leaders = new Map<number, number>();
  readonly #busyNodes = new Set<number>();
  #waiters: Waiter[] = [];
  #closed = false;
  #backoffMs = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #metadataStale = false;
  #troubleSince: number | undefined;
  #failedAttempts = 0;

  constructor(client: Consumer, topic: string, partitions: readonly number[], options: FetcherOptions) {
    this.#client = client;
    this.topic = topic;
    this.feeds = new Map(partitions.map((p) => [p, new PartitionFeed(p)]));
    this.#options = options;
  }

  /** Reads the topic's metadata (id, leaders): throws a FlowmarkError when the topic is missing. */
  async open(): Promise<void> {
    await this.#refreshMetadata(true);
  }

  /** Drops what is buffered for `partition` and fetches from `offset` on. */
  reset(partition: number, offset: number): void {
    const f = this.#feed(partition);
    f.records = [];
    f.head = 0;
    f.bufferedBytes = 0;
    f.fetchOffset = offset;
    f.fatal = undefined;
    f.gen++;
    this.pump();
  }

  /**
   * Resolves once `partition` has something at the reader's position `next`: a record, a known
   * gap, an error, or its drain end (or the fetcher closed).
   */
  waitFor(partition: number, next: number): Promise<void> {
    const feed = this.#feed(partition);
    return new Promise((resolve) => {
      if (this.#closed || this.#covered(feed, next)) {
        resolve();
        return;
      }
      this.#waiters.push({ feed, next, resolve });
      this.pump();
    });
  }

  /** Resolves after the next fetch reply (any), or after `waitMs` (default `maxWaitMs`) at most. */
  nextReply(waitMs = this.#options.maxWaitMs): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.min(waitMs, this.#options.maxWaitMs));
      const waiter: Waiter = { feed: undefined, next: 0, resolve: done };
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#waiters.push(waiter);
      this.pump();
    });
  }

  /** Starts a fetch on every broker that has wanted partitions and none in flight. */
  pump(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    if (this.#metadataStale) {
      this.#metadataStale = false;
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#refreshMetadata(false).then(
          () => this.pump(),
          (err) => this.#failed(err),
        );
      }, 0);
      return;
    }
    const urgent = new Set<PartitionFeed>();
    for (const w of this.#waiters) if (w.feed !== undefined && !this.#covered(w.feed, w.next)) urgent.add(w.feed);
    const byNode = new Map<number, PartitionFeed[]>();
    for (const f of this.feeds.values()) {
      if (f.inFlight || !f.wantsMore()) continue;
      if (urgent.size > 0 ? !urgent.has(f) : f.bufferedBytes >= this.#options.bufferBytes) continue;
      const node = this.#leaders.get(f.id) ?? -1;
      if (node < 0) {
        this.#metadataStale = true;
        continue;
      }
      if (this.#busyNodes.has(node)) continue;
      const list = byNode.get(node) ?? [];
      list.push(f);
      byNode.set(node, list);
    }
    for (const [node, feeds] of byNode) this.#fetch(node, feeds);
    if (this.#metadataStale && byNode.size === 0) this.pump();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
  }

  #covered(f: PartitionFeed, next: number): boolean {
    return f.peek() !== undefined || f.fetchOffset > next || f.fatal !== undefined || !f.wantsMore();
  }

  #feed(partition: number): PartitionFeed {
    const f = this.feeds.get(partition);
    if (f === undefined) throw new RangeError(`kafka source ${this.topic}: partition ${partition} is not read here`);
    return f;
  }

  #fetch(node: number, feeds: PartitionFeed[]): void {
    this.#busyNodes.add(node);
    const sent = feeds.map((f) => ({ feed: f, gen: f.gen, offset: f.fetchOffset }));
    for (const f of feeds) f.inFlight = true;
    const topics: FetchRequestTopic[] = [
      {
        topicId: this.#topicId,
        partitions: sent.map((s) => ({
          partition: s.feed.id,
          fetchOffset: BigInt(s.offset),
          currentLeaderEpoch: -1,
          lastFetchedEpoch: -1,
          partitionMaxBytes: this.#options.partitionMaxBytes,
        })),
      },
    ];
    const finish = (): void => {
      this.#busyNodes.delete(node);
      for (const f of feeds) f.inFlight = false;
      this.#notify();
      this.pump();
    };
    this.#client.fetch({ node, topics, maxWaitTime: this.#options.maxWaitMs }).then(
      (response) => {
        this.#recovered();
        this.#apply(response, sent);
        finish();
      },
      (err: unknown) => {
        const response = findResponse(err);
        if (response !== undefined) this.#apply(response, sent);
        if (!this.#closed) this.#failed(err);
        finish();
      },
    );
  }

  /** Takes in one fetch reply: records, ends and per-partition errors. */
  #apply(response: FetchResponse, sent: { feed: PartitionFeed; gen: number; offset: number }[]): void {
    for (const topic of response.responses) {
      for (const p of topic.partitions) {
        const s = sent.find((x) => x.feed.id === p.partitionIndex);
        if (s === undefined) continue;
        const f = s.feed;
        if (p.errorCode === 0 || p.errorCode === OFFSET_OUT_OF_RANGE) {
          f.endKnown = Math.max(f.endKnown, Number(p.lastStableOffset >= 0n ? p.lastStableOffset : p.highWatermark));
          if (p.logStartOffset >= 0n) f.logStart = Number(p.logStartOffset);
        }
        // A reply to a fetch from before a reset, or overtaken: its records are not wanted.
        if (f.gen !== s.gen || f.fetchOffset !== s.offset) continue;
        if (p.errorCode === OFFSET_OUT_OF_RANGE) this.#outOfRange(f, p);
        else if (p.errorCode !== 0) this.#metadataStale = true;
        else this.#take(f, p);
      }
    }
  }

  #outOfRange(f: PartitionFeed, p: FetchResponsePartition): void {
    const start = Number(p.logStartOffset);
    const end = Number(p.highWatermark);
    if (start >= 0 && f.fetchOffset < start) {
      // Deleted by retention before it was read: go on at the first retained offset (a gap).
      f.fetchOffset = start;
    } else if (end >= 0 && f.fetchOffset > end) {
      f.fatal = new FlowmarkError(
        'FM_SOURCE_FAILED',
        `Kafka topic ${this.topic} partition ${f.id} ends at offset ${end}, before offset ${f.fetchOffset} that flowmark ` +
          'already read: the topic was deleted and created again, or the broker lost data. Restore the topic, or start ' +
          'from a new checkpoint (a new database schema or a reset of the checkpoint).',
      );
    } else {
      this.#metadataStale = true;
    }
  }

  /** Appends the records of one partition's reply at or after the fetch offset, skipping control batches. */
  #take(f: PartitionFeed, p: FetchResponsePartition): void {
    const stop = f.stop ?? Number.POSITIVE_INFINITY;
    for (const batch of p.records ?? []) {
      const first = Number(batch.firstOffset);
      const after = first + batch.lastOffsetDelta + 1;
      if (after <= f.fetchOffset) continue;
      // Control batches (transaction markers) hold no data: their offsets are a gap.
      if ((batch.attributes & 0x20) === 0) {
        const logAppendTime = (batch.attributes & 0x08) !== 0;
        for (const r of batch.records) {
          const offset = first + r.offsetDelta;
          if (offset < f.fetchOffset || offset >= stop) continue;
          const value = r.value === null || r.value === undefined ? '' : r.value.toString('utf8');
          const timestampMs = Number(logAppendTime ? batch.maxTimestamp : batch.firstTimestamp + r.timestampDelta);
          f.records.push({ offset, value, timestampMs });
          f.bufferedBytes += value.length + RECORD_OVERHEAD_BYTES;
        }
      }
      f.fetchOffset = Math.min(after, stop);
    }
  }

  #notify(): void {
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.feed === undefined || this.#covered(w.feed, w.next)) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
  }

  async #refreshMetadata(first: boolean): Promise<void> {
    let metadata: Awaited<ReturnType<Consumer['metadata']>>;
    try {
      metadata = await this.#client.metadata({ topics: [this.topic], forceUpdate: true });
    } catch (err) {
      if (first && /UNKNOWN_TOPIC|unknown topic|does not exist|not available/i.test(flatMessage(err)))
        throw missingTopic(this.topic);
      throw err;
    }
    const t = metadata.topics.get(this.topic);
    if (t === undefined) throw missingTopic(this.topic);
    for (const id of this.feeds.keys()) {
      if (id >= t.partitionsCount) {
        throw new FlowmarkError(
          'FM_CONFIG_INVALID',
          `Kafka topic ${this.topic} has ${t.partitionsCount} partitions: there is no partition ${id} to read`,
        );
      }
    }
    this.#topicId = t.id;
    this.#leaders = new Map([...this.feeds.keys()].map((id) => [id, t.partitions[id]?.leader ?? -1]));
  }

  #failed(err: unknown): void {
    this.#metadataStale = true;
    this.#failedAttempts++;
    if (this.#troubleSince === undefined) {
      this.#troubleSince = this.#options.nowMs();
      this.#options.onTrouble({ failing: true, error: err });
    }
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, this.#backoffMs * 2));
    if (this.#retryTimer !== undefined || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.pump();
    }, this.#backoffMs);
  }

  #recovered(): void {
    this.#backoffMs = 0;
    if (this.#troubleSince === undefined) return;
    const downMs = this.#options.nowMs() - this.#troubleSince;
    const attempts = this.#failedAttempts;
    this.#troubleSince = undefined;
    this.#failedAttempts = 0;
    this.#options.onTrouble({ failing: false, downMs, attempts });
  }
}

function missingTopic(topic: string): FlowmarkError {
  return new FlowmarkError(
    'FM_CONFIG_INVALID',
    `Kafka topic ${topic} does not exist: create it first (flowmark import --kafka … creates clicks and checkouts), ` +
      'or check the topic name',
  );
}

/** The fetch reply carried by a library error about some partitions, if any (it may be nested). */
function findResponse(err: unknown, depth = 0): FetchResponse | undefined {
  if (typeof err !== 'object' || err === null || depth > 4) return undefined;
  const e = err as { response?: unknown; errors?: unknown[] };
  const r = e.response as FetchResponse | undefined;
  if (r !== undefined && Array.isArray(r.responses)) return r;
  for (const inner of e.errors ?? []) {
    const found = findResponse(inner, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The messages of an error and of the errors it carries. */
export function flatMessage(err: unknown, depth = 0): string {
  if (typeof err !== 'object' || err === null || depth > 4) return String(err);
  const e = err as { message?: string; errors?: unknown[] };
  return [e.message ?? '', ...(e.errors ?? []).map((x) => flatMessage(x, depth + 1))].join(' ');
}
