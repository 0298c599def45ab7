/**
 * Reads some partitions of one Kafka topic as an engine `SourceReader<string>`: each record's
 * value is decoded as UTF-8 (invalid bytes become U+FFFD, a null value — a tombstone — is ''), and
 * is parsed later by the pipeline, where a bad one becomes a dead letter. Nothing here throws for
 * bad data.
 *
 * Guarantees (the same as the embedded log's `LogSource`, docs/connectors.md "Kafka"):
 * - per partition, records come in offset order, each exactly once from the position the reader
 *   starts at (the first retained offset, or where `seek` put it); offsets with nothing to deliver
 *   (transaction markers, aborted or compacted records) are skipped;
 * - the fixed read schedule of `readRound()`/`poll()` (rounds of {@link READ_CHUNK} offsets per
 *   partition): when it is a partition's turn and the broker is known to have records there, the
 *   poll waits for them instead of skipping, so the order depends only on the topic's contents;
 * - `caughtUp` lists the partitions with nothing more to read now; with `endAtOpen` the last
 *   stable offsets at open are the end of input and `ended` is true once they are reached;
 * - a broker that goes away is retried with backoff, from the reader's own offsets; a pending poll
 *   waits meanwhile (back-pressure), and `close()` releases it.
 *
 * Offsets: flowmark's checkpoint holds the real position (ARCHITECTURE §3.7). `commit` only mirrors
 * it to the consumer group's offsets so that standard lag tools (kafka-consumer-groups.sh, Burrow,
 * exporters) see it; a failed mirror is reported once and never thrown.
 */

import { Admin, Consumer } from '@platformatic/kafka';
import { FlowmarkError, type PollResult, type SourceReader, type SourceRecord } from '../../engine/index.ts';
import { flatMessage, KafkaFetcher, type PartitionFeed } from './kafka-fetcher.ts';

export interface KafkaSourceOptions {
  /** Which partitions of the topic this reader owns. */
  partitions: readonly number[];
  /**
   * Drain: the last stable offsets at open are the end of input; `ended` once they are reached
   * (at once for empty partitions). Default false: a live tail.
   */
  endAtOpen?: boolean;
  /** Bytes per partition per fetch (default 1 MiB; a larger record still comes, alone). */
  partitionMaxBytes?: number;
  /** A partition is prefetched while its buffer holds less than this (default 4 MiB). */
  bufferBytes?: number;
  /** How long the broker holds a fetch when there is nothing new (default 500 ms). */
  fetchMaxWaitMs?: number;
  /** Where a failing or recovering connection is reported (default: a line on stderr). */
  onWarning?: (message: string) => void;
}

export interface StandaloneKafkaSourceOptions extends KafkaSourceOptions {
  bootstrap: readonly string[];
  topic: string;
  /** `commit` mirrors offsets to this group (with no members: as a "simple" consumer); none: commit does nothing. */
  groupId?: string;
  clientId?: string;
}

/** How a source mirrors offsets to its group (the worker's member, or an admin client). */
export type OffsetMirror = (topic: string, nextOffsets: ReadonlyMap<number, number>) => Promise<void>;

/**
 * Offsets per partition per round of the read schedule: the same as the log's, so a pipeline
 * reads Kafka and the embedded log in the same order.
 */
export const READ_CHUNK = 256;

const DEFAULTS = { partitionMaxBytes: 1024 * 1024, bufferBytes: 4 * 1024 * 1024, fetchMaxWaitMs: 500 };

/** The reading state of one partition. */
interface PartitionState {
  readonly id: number;
  readonly feed: PartitionFeed;
  /** The next offset to deliver (or to skip, in a gap). */
  next: number;
}

/** Internal: what the worker (or `standalone`) hands a source. */
export interface KafkaSourceParts {
  client: Consumer;
  ownsClient: boolean;
  mirror: OffsetMirror | undefined;
  closeMirror?: () => Promise<void>;
  /** Told once the reader is closed (the worker stops tracking it). */
  onClose?: () => void;
}

export class KafkaSource implements SourceReader<string> {
  readonly topic: string;
  readonly partitions: readonly number[];
  readonly #parts: KafkaSourceParts;
  readonly #fetcher: KafkaFetcher;
  readonly #states: PartitionState[];
  readonly #drain: boolean;
  readonly #warn: (message: string) => void;
  /** Resolved by `interrupt()`: a poll stops waiting for the broker. */
  #interrupt: () => void = () => {};
  readonly #interrupted = new Promise<void>((resolve) => {
    this.#interrupt = resolve;
  });
  #interrupting = false;
  #opening: Promise<void> | undefined;
  #opened = false;
  #round = 0;
  #turn = 0;
  #closed = false;
  #commitFailing = false;

  /**
   * A reader over `options.partitions` of `topic` through `parts` (see {@link KafkaWorker.source}
   * and {@link KafkaSource.standalone}, the two ways to get one).
   * @internal
   */
  constructor(topic: string, options: KafkaSourceOptions, parts: KafkaSourceParts) {
    this.topic = topic;
    const ids = options.partitions;
    if (new Set(ids).size !== ids.length || ids.some((p) => !Number.isSafeInteger(p) || p < 0)) {
      throw new FlowmarkError('FM_CONFIG_INVALID', `kafka source ${topic}: bad partitions: ${ids.join(', ')}`);
    }
    this.partitions = [...ids];
    this.#parts = parts;
    this.#drain = options.endAtOpen ?? false;
    this.#warn = options.onWarning ?? ((m) => process.stderr.write(`flowmark: ${m}\n`));
    this.#fetcher = new KafkaFetcher(parts.client, topic, this.partitions, {
      partitionMaxBytes: options.partitionMaxBytes ?? DEFAULTS.partitionMaxBytes,
      bufferBytes: options.bufferBytes ?? DEFAULTS.bufferBytes,
      maxWaitMs: options.fetchMaxWaitMs ?? DEFAULTS.fetchMaxWaitMs,
      nowMs: () => Date.now(),
      onTrouble: (t) =>
        this.#warn(
          t.failing
            ? `kafka: reading ${topic} failed (${flatMessage(t.error).trim()}); retrying with backoff from the reader's offsets`
            : `kafka: reading ${topic} works again after ${(t.downMs / 1000).toFixed(1)} s and ${t.attempts} failed attempts`,
        ),
    });
    this.#states = this.partitions.map((id) => ({
      id,
      feed: this.#fetcher.feeds.get(id) as PartitionFeed,
      next: 0,
    }));
  }

  /**
   * A reader with its own connection, outside any group (replays, benchmarks, tests).
   *
   * @example
   * const src = KafkaSource.standalone({ bootstrap: ['127.0.0.1:9092'], topic: 'clicks', partitions: [0, 1], endAtOpen: true });
   * await src.open();
   * await src.poll(1024); // { records: [{ partition: 0, offset: 0, value: '{"click_id":…}', timestampMs: 1767225600000 }, …], caughtUp: [1], ended: false }
   */
  static standalone(options: StandaloneKafkaSourceOptions): KafkaSource {
    const clientId = options.clientId ?? 'flowmark';
    const client = new Consumer({
      clientId,
      bootstrapBrokers: [...options.bootstrap],
      groupId: options.groupId ?? `flowmark-standalone-${options.topic}`,
      ...FETCH_CLIENT_OPTIONS,
    });
    let admin: Admin | undefined;
    const groupId = options.groupId;
    const mirror: OffsetMirror | undefined =
      groupId === undefined
        ? undefined
        : async (topic, nextOffsets) => {
            admin ??= new Admin({ clientId, bootstrapBrokers: [...options.bootstrap], retries: 1 });
            await admin.alterConsumerGroupOffsets({
              groupId,
              topics: [
                {
                  name: topic,
                  partitionOffsets: [...nextOffsets].map(([partition, offset]) => ({
                    partition,
                    offset: BigInt(offset),
                  })),
                },
              ],
            });
          };
    return new KafkaSource(options.topic, options, {
      client,
      ownsClient: true,
      mirror,
      closeMirror: async () => {
        await admin?.close();
      },
    });
  }

  /**
   * Reads the topic's metadata and the partitions' first (and, draining, last) offsets. `poll`
   * and `seek` call it; call it before a run so that `readRound()` is right from the first call
   * (before, it answers 0: "poll me", which is right for a reader starting at the beginning).
   */
  open(): Promise<void> {
    this.#opening ??= this.#openRetrying();
    return this.#opening;
  }

  /**
   * The first retained offset and the end offset of each partition when the reader opened
   * (draining: the end of its input). Call after `open()`.
   */
  bounds(): Map<number, { start: number; end: number }> {
    if (!this.#opened) throw new Error(`kafka source ${this.topic}: bounds() before open()`);
    return new Map(this.#states.map((s) => [s.id, { start: s.feed.logStart, end: s.feed.endKnown }]));
  }

  /**
   * A broker that does not answer at open (a restart, a rebalance storm) is waited for with
   * backoff, as the fetcher does, rather than failing the job: §3.6. Stops when closed.
   */
  async #openRetrying(): Promise<void> {
    let backoffMs = 0;
    let warned = false;
    for (;;) {
      try {
        await this.#open();
        if (warned) this.#warn(`kafka: opening ${this.topic} works again`);
        return;
      } catch (err) {
        if (this.#closed || !isUnavailable(err)) throw err;
        if (!warned) {
          warned = true;
          this.#warn(`kafka: opening ${this.topic} failed (${flatMessage(err).trim()}); retrying with backoff`);
        }
        backoffMs = Math.min(5000, Math.max(100, backoffMs * 2));
        await new Promise((r) => setTimeout(r, backoffMs));
      }
    }
  }

  async #open(): Promise<void> {
    this.#checkOpen();
    await this.#fetcher.open();
    const earliest = await this.#listOffsets(-2n);
    const latest = await this.#listOffsets(-1n);
    for (const s of this.#states) {
      const start = earliest.get(s.id) ?? 0;
      const end = latest.get(s.id) ?? 0;
      s.feed.logStart = start;
      s.feed.endKnown = end;
      if (this.#drain) s.feed.stop = end;
      s.next = start;
    }
    this.#opened = true;
    for (const s of this.#states) this.#fetcher.reset(s.id, s.next);
  }

  async #listOffsets(timestamp: bigint): Promise<Map<number, number>> {
    const offsets = await this.#parts.client.listOffsets({
      topics: [this.topic],
      partitions: { [this.topic]: [...this.partitions] },
      timestamp,
    });
    const list = offsets.get(this.topic) ?? [];
    return new Map(this.partitions.map((p) => [p, Number(list[p] ?? 0n)]));
  }

  /** The next offset this reader will deliver, per partition. */
  positions(): Map<number, number> {
    return new Map(this.#states.map((s) => [s.id, s.next]));
  }

  /**
   * Resumes at `nextOffsets` (a partition not named starts at its first retained offset; one
   * below it too). Throws `FM_SOURCE_FAILED` for a position past the end of the partition: the
   * topic lost records that flowmark already processed.
   */
  async seek(nextOffsets: ReadonlyMap<number, number>): Promise<void> {
    await this.open();
    this.#checkOpen();
    const earliest = await this.#listOffsets(-2n);
    const latest = await this.#listOffsets(-1n);
    const nexts = this.#states.map((s) => {
      const start = earliest.get(s.id) ?? 0;
      const wanted = nextOffsets.get(s.id);
      if (wanted === undefined) return start;
      if (!Number.isSafeInteger(wanted) || wanted < 0) {
        throw new RangeError(`kafka source ${this.topic}: bad offset ${wanted} for partition ${s.id}`);
      }
      const end = latest.get(s.id) ?? 0;
      if (wanted > end) {
        throw new FlowmarkError(
          'FM_SOURCE_FAILED',
          `Kafka topic ${this.topic} partition ${s.id} ends at offset ${end}, but the checkpoint says offset ${wanted} ` +
            'was reached: the topic was deleted and created again, or the broker lost data. Restore the topic, or start ' +
            'from a new checkpoint (a new database schema).',
        );
      }
      return Math.max(wanted, start);
    });
    this.#states.forEach((s, i) => {
      s.next = nexts[i] as number;
      s.feed.logStart = earliest.get(s.id) ?? 0;
      s.feed.endKnown = Math.max(s.feed.endKnown, latest.get(s.id) ?? 0);
      this.#fetcher.reset(s.id, s.next);
    });
    // Replay the schedule from its start: rounds the positions are already past read nothing.
    this.#round = 0;
    this.#turn = 0;
  }

  /** Records not read yet: the last known end of each partition − its next offset, summed. */
  lag(): number {
    let n = 0;
    for (const s of this.#states) n += Math.max(0, this.#end(s) - s.next);
    return n;
  }

  /**
   * The round of the read schedule this source reads next (see `poll`); +∞ when no partition
   * has anything to read now, as far as the broker last said.
   */
  readRound(): number {
    this.#checkOpen();
    if (!this.#opened) return 0;
    this.#normalize();
    return this.#states.some((s) => this.#hasData(s)) ? this.#round : Number.POSITIVE_INFINITY;
  }

  /**
   * Reads in the fixed schedule of `LogSource.poll`: round k reads every partition, in order, up
   * to offset (k + 1) × READ_CHUNK, and a poll never goes past the end of the current round. At a
   * partition's turn, what the broker is known to hold (below its last stable offset) is waited
   * for, never skipped: the order of records depends only on the topic's contents, not on fetch
   * timing, poll sizes or where a run restarted. When nothing is known to be there, the poll waits
   * for one fetch reply at most (up to `fetchMaxWaitMs`, or `maxWaitMs` when the caller has other
   * sources to read and checkpoints to cut) so that records produced just before it are seen.
   */
  async poll(maxRecords: number, maxWaitMs?: number): Promise<PollResult<string>> {
    await this.open();
    this.#checkOpen();
    const states = this.#states;
    const n = states.length;
    const records: SourceRecord<string>[] = [];
    this.#normalize();
    if (!states.some((s) => this.#hasData(s)) && !this.#drainEnded()) {
      await Promise.race([this.#fetcher.nextReply(maxWaitMs), this.#interrupted]);
      if (this.#closed || this.#interrupting) return { records, caughtUp: [...this.partitions], ended: false };
      this.#normalize();
    }
    const boundary = (this.#round + 1) * READ_CHUNK;
    while (records.length < maxRecords && this.#turn < n) {
      const s = states[this.#turn] as PartitionState;
      const limit = Math.min(boundary, this.#end(s));
      if (s.next >= limit) {
        this.#turn++;
        continue;
      }
      if (s.feed.fatal !== undefined) throw s.feed.fatal;
      if (!this.#deliver(s, limit, maxRecords, records)) {
        if (records.length >= maxRecords) break;
        // Known to be there, not fetched yet: wait (the order must not depend on timing).
        if (this.#interrupting) break;
        await Promise.race([this.#fetcher.waitFor(s.id, s.next), this.#interrupted]);
        if (this.#closed || this.#interrupting) break;
      }
    }
    if (this.#turn === n) this.#normalize();
    if (records.length > 0) this.#fetcher.pump();
    const caughtUp = states.filter((s) => !this.#hasData(s)).map((s) => s.id);
    return { records, caughtUp, ended: this.#drainEnded() };
  }

  /**
   * Delivers buffered records of `s` below `limit` into `out` (up to `maxRecords` in all) and
   * skips known gaps. Returns false when it stopped with `s.next < limit` because the poll is full
   * or nothing is buffered at `s.next` yet.
   */
  #deliver(s: PartitionState, limit: number, maxRecords: number, out: SourceRecord<string>[]): boolean {
    const f = s.feed;
    while (s.next < limit) {
      const r = f.peek();
      if (r !== undefined && r.offset < s.next) {
        f.shift();
        continue;
      }
      if (r !== undefined && r.offset === s.next) {
        if (out.length >= maxRecords) return false;
        out.push({ partition: s.id, offset: r.offset, value: r.value, timestampMs: r.timestampMs });
        f.shift();
        s.next = r.offset + 1;
        continue;
      }
      // Nothing at s.next: a gap up to the next buffered record, or up to what was fetched.
      const known = r !== undefined ? r.offset : f.fetchOffset;
      if (known <= s.next) return false;
      s.next = Math.min(known, limit);
    }
    return true;
  }

  /** The end of what can be read now: the drain end, or the last stable offset last reported. */
  #end(s: PartitionState): number {
    return s.feed.stop ?? s.feed.endKnown;
  }

  #hasData(s: PartitionState): boolean {
    return s.next < this.#end(s);
  }

  #drainEnded(): boolean {
    return this.#drain && this.#states.every((s) => s.next >= (s.feed.stop as number));
  }

  /** As `LogSource`: moves to the next round that has something to read when the current one has nothing left. */
  #normalize(): void {
    const states = this.#states;
    for (;;) {
      const boundary = (this.#round + 1) * READ_CHUNK;
      let left = false;
      for (let i = this.#turn; i < states.length && !left; i++) {
        const s = states[i] as PartitionState;
        if (s.next < boundary && this.#hasData(s)) left = true;
      }
      if (left) return;
      let next = Number.POSITIVE_INFINITY;
      for (const s of states) if (this.#hasData(s)) next = Math.min(next, s.next);
      if (next === Number.POSITIVE_INFINITY) {
        if (this.#turn > 0) {
          this.#round++;
          this.#turn = 0;
        }
        return;
      }
      this.#round = Math.max(this.#round + 1, Math.floor(next / READ_CHUNK));
      this.#turn = 0;
    }
  }

  /**
   * Mirrors `nextOffsets` to the consumer group's committed offsets, for lag tools. Best effort:
   * a failure is reported once per episode (and its recovery), never thrown — the exactly-once
   * position is flowmark's checkpoint, and the next checkpoint mirrors again.
   */
  async commit(nextOffsets: ReadonlyMap<number, number>): Promise<void> {
    const mirror = this.#parts.mirror;
    if (mirror === undefined || this.#closed || nextOffsets.size === 0) return;
    try {
      await mirror(this.topic, nextOffsets);
      if (this.#commitFailing) {
        this.#commitFailing = false;
        this.#warn(`kafka: mirroring offsets of ${this.topic} to the consumer group works again`);
      }
    } catch (err) {
      if (!this.#commitFailing) {
        this.#commitFailing = true;
        this.#warn(
          `kafka: could not mirror offsets of ${this.topic} to the consumer group (${flatMessage(err).trim()}); ` +
            'lag tools show older offsets until it works again (flowmark’s own checkpoint is not affected)',
        );
      }
    }
  }

  /** Stops fetching and releases a pending poll (it returns what it has). */
  /**
   * From now on a poll returns what it has instead of waiting for the broker (a job being stopped
   * while the broker is away must not wait for it: it checkpoints what it has read). The records
   * not delivered are read again from the checkpoint's offsets by whoever resumes.
   */
  interrupt(): void {
    this.#interrupting = true;
    this.#interrupt();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fetcher.close();
    await this.#opening?.catch(() => {});
    if (this.#parts.ownsClient) await this.#parts.client.close().catch(() => {});
    await this.#parts.closeMirror?.().catch(() => {});
    this.#parts.onClose?.();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`kafka source ${this.topic} is closed`);
  }
}

/**
 * A failure that waiting may cure: the client's own errors (connection refused, no leader, …)
 * and retriable FlowmarkErrors; not flowmark's verdicts on the topic (missing, too few partitions).
 */
function isUnavailable(err: unknown): boolean {
  if (err instanceof FlowmarkError) return err.retriable;
  return !(err instanceof RangeError);
}

/**
 * Options of the clients that fetch for sources: few library retries (the fetcher retries forever
 * with its own backoff), read-committed (records of aborted transactions are never delivered).
 * @internal
 */
export const FETCH_CLIENT_OPTIONS = {
  retries: 2,
  retryDelay: 200,
  minBytes: 1,
  maxBytes: 64 * 1024 * 1024,
  isolationLevel: 1,
} as const;
