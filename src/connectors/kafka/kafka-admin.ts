/**
 * The few administrative calls flowmark needs: create its topics when they are missing, and read
 * partition counts (to check that clicks and checkouts are co-partitioned). Existing topics are
 * never changed: a topic that exists with another partition count is reported, not altered, since
 * adding partitions moves keys to other partitions.
 *
 * @example
 * const admin = new KafkaAdmin({ bootstrap: ['127.0.0.1:9092'] });
 * await admin.ensureTopics([{ name: 'clicks', partitions: 4 }, { name: 'checkouts', partitions: 4 }]);
 * await admin.partitionCounts(['clicks', 'nope']); // Map { 'clicks' => 4, 'nope' => undefined }
 * await admin.close();
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin } from '@platformatic/kafka';
import { FlowmarkError } from '../../engine/index.ts';
import { hasKafkaErrorId, KAFKA_CLIENT_ID, kafkaUnavailable } from './kafka-options.ts';

export interface KafkaAdminOptions {
  bootstrap: readonly string[];
  clientId?: string;
  /** Replicas of each topic it creates (default 1: enough for one broker; 3 on a real cluster). */
  replicationFactor?: number;
  /** How long a created topic may take to have a leader for every partition (default 30 s). */
  readyTimeoutMs?: number;
}

export interface TopicSpec {
  name: string;
  partitions: number;
}

/** What {@link KafkaAdmin.ensureTopics} found or did for one topic. */
export interface EnsuredTopic {
  name: string;
  /** The topic's partition count now (for an existing topic, maybe not the one asked for). */
  partitions: number;
  created: boolean;
}

export class KafkaAdmin {
  readonly #admin: Admin;
  readonly #bootstrap: readonly string[];
  readonly #replicationFactor: number;
  readonly #readyTimeoutMs: number;

  constructor(options: KafkaAdminOptions) {
    this.#bootstrap = options.bootstrap;
    this.#replicationFactor = options.replicationFactor ?? 1;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    this.#admin = new Admin({
      clientId: options.clientId ?? KAFKA_CLIENT_ID,
      bootstrapBrokers: [...options.bootstrap],
      retries: 3,
      retryDelay: 500,
    });
  }

  /**
   * Creates the topics that do not exist, with their partition count, and waits until every
   * partition of them has a leader (a producer can write at once). Existing topics are kept as
   * they are; the result says which were created and the partition count of each.
   */
  async ensureTopics(topics: readonly TopicSpec[]): Promise<EnsuredTopic[]> {
    for (const t of topics) {
      if (!Number.isInteger(t.partitions) || t.partitions < 1) {
        throw new FlowmarkError(
          'FM_CONFIG_INVALID',
          `topic ${t.name}: partitions must be an integer ≥ 1, got ${t.partitions}`,
        );
      }
    }
    const before = await this.partitionCounts(topics.map((t) => t.name));
    const missing = topics.filter((t) => before.get(t.name) === undefined);
    const created = new Set<string>();
    for (const t of missing) {
      try {
        await this.#admin.createTopics({
          topics: [t.name],
          partitions: t.partitions,
          replicas: this.#replicationFactor,
        });
        created.add(t.name);
      } catch (err) {
        // Another client created it in between: it exists, which is all that is asked.
        if (!hasKafkaErrorId(err, 'TOPIC_ALREADY_EXISTS')) {
          throw kafkaUnavailable(`creating topic ${t.name} (${t.partitions} partitions)`, this.#bootstrap, err);
        }
      }
    }
    const now = missing.length === 0 ? before : await this.#waitForLeaders(topics.map((t) => t.name));
    return topics.map((t) => ({ name: t.name, partitions: now.get(t.name) as number, created: created.has(t.name) }));
  }

  /** The partition count of each topic; `undefined` for a topic that does not exist. */
  async partitionCounts(topics: readonly string[]): Promise<Map<string, number | undefined>> {
    const out = new Map<string, number | undefined>(topics.map((t) => [t, undefined]));
    // A topic being deleted can still be listed and then be unknown to the metadata request: list
    // again (the listing catches up within moments) rather than call the broker unavailable.
    for (let attempt = 1; ; attempt++) {
      try {
        const all = new Set(await this.#admin.listTopics({ includeInternals: false }));
        const existing = topics.filter((t) => all.has(t));
        if (existing.length === 0) return out;
        const md = await this.#admin.metadata({ topics: existing, forceUpdate: true });
        for (const t of existing) out.set(t, md.topics.get(t)?.partitionsCount);
        return out;
      } catch (err) {
        if (attempt < 10 && isUnknownTopic(err)) {
          await sleep(100 * attempt);
          continue;
        }
        throw kafkaUnavailable(`reading the metadata of ${topics.join(', ')}`, this.#bootstrap, err);
      }
    }
  }

  /** Deletes topics (those that do not exist are ignored). For tests and tools. */
  async deleteTopics(topics: readonly string[]): Promise<void> {
    const counts = await this.partitionCounts(topics);
    const existing = topics.filter((t) => counts.get(t) !== undefined);
    if (existing.length === 0) return;
    try {
      await this.#admin.deleteTopics({ topics: existing });
    } catch (err) {
      if (!hasKafkaErrorId(err, 'UNKNOWN_TOPIC_OR_PARTITION')) {
        throw kafkaUnavailable(`deleting topics ${existing.join(', ')}`, this.#bootstrap, err);
      }
    }
  }

  async close(): Promise<void> {
    await this.#admin.close();
  }

  /** Polls the metadata until every partition of `topics` has a leader. */
  async #waitForLeaders(topics: readonly string[]): Promise<Map<string, number | undefined>> {
    const deadline = performance.now() + this.#readyTimeoutMs;
    for (let delayMs = 50; ; delayMs = Math.min(1000, delayMs * 2)) {
      let why = 'no metadata yet';
      try {
        const md = await this.#admin.metadata({ topics: [...topics], forceUpdate: true });
        const notReady = topics.filter((t) => {
          const m = md.topics.get(t);
          return m === undefined || m.partitions.length < m.partitionsCount || m.partitions.some((p) => p.leader < 0);
        });
        if (notReady.length === 0) return new Map(topics.map((t) => [t, md.topics.get(t)?.partitionsCount]));
        why = `no leader yet for ${notReady.join(', ')}`;
      } catch (err) {
        why = (err as Error).message;
      }
      if (performance.now() > deadline) {
        throw new FlowmarkError(
          'FM_KAFKA_UNAVAILABLE',
          `topics ${topics.join(', ')} at ${this.#bootstrap.join(',')} were created but are not ready after ${this.#readyTimeoutMs / 1000} s (${why})`,
        );
      }
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

/** The broker does not know a topic named in the request (it was deleted meanwhile). */
function isUnknownTopic(err: unknown): boolean {
  return err instanceof Error && /unknown topic/i.test(err.message);
}
