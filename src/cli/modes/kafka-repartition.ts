/**
 * Scale-out over topics that are not keyed by user id (the reference producers' `clicks` and
 * `checkouts`), as Kafka Streams does it: every worker of the group repartitions the source
 * partitions it owns into two internal topics keyed by user id,
 * `<group>-repartition-clicks` and `<group>-repartition-checkouts`, created at start with the
 * job's partition count; the keyed partition jobs read those (their partition p, through
 * `RepartitionedSource`), shared across the group exactly as keyed topics are.
 *
 * Ownership follows the group's assignment of the internal partitions: a worker assigned internal
 * partition p repartitions every source partition s with `s mod P = p` (P: the internal topics'
 * partition count), so a worker that dies hands over both its jobs and its repartitioners at the
 * one rebalance. `flowmark kafka cleanup --group G` deletes the internal topics.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseCheckout, parseClick } from '../../attribution/events/index.ts';
import {
  hasKafkaErrorId,
  KafkaAdmin,
  type KafkaProducer,
  KafkaRepartitioner,
  type KafkaSource,
  type KafkaWorker,
  RepartitionedSource,
} from '../../connectors/kafka/index.ts';
import { readLastCheckpoints, type SqlClient } from '../../connectors/sql/index.ts';
import { FlowmarkError, Rejected, type SnapshotMeta } from '../../engine/index.ts';

export type TopicPair<T = string> = { clicks: T; checkouts: T };
export type Kind = keyof TopicPair;
const KINDS: readonly Kind[] = ['clicks', 'checkouts'];

/** The internal topics of group `group`. */
export function internalTopics(group: string): TopicPair {
  return { clicks: `${group}-repartition-clicks`, checkouts: `${group}-repartition-checkouts` };
}

/** The checkpoint row (job name) of internal partition `p`'s job. */
export function repartitionedJobName(group: string, p: number): string {
  return `kafka:${group}:r${p}`;
}

/**
 * Creates the internal topics with `partitions` partitions when missing and returns their
 * partition count: that of the existing ones when they exist (their jobs' checkpoints are per
 * partition: a count once chosen stays). Both must have the same count.
 */
export async function ensureInternalTopics(bootstrap: string[], group: string, partitions: number): Promise<number> {
  const names = internalTopics(group);
  const admin = new KafkaAdmin({ bootstrap });
  try {
    const ensured = await admin.ensureTopics(KINDS.map((k) => ({ name: names[k], partitions })));
    const counts = new Set(ensured.map((t) => t.partitions));
    if (counts.size !== 1) {
      throw new FlowmarkError(
        'FM_KAFKA_NOT_COPARTITIONED',
        `the internal topics of group ${group} have different partition counts (${ensured.map((t) => `${t.name}: ${t.partitions}`).join(', ')}): remove them with \`flowmark kafka cleanup --group ${group}\` (with no worker of the group running) and start again`,
      );
    }
    return ensured[0]?.partitions as number;
  } finally {
    await admin.close();
  }
}

/**
 * The broker refused to create the internal topics for want of rights (ACLs, a create-topic
 * policy): the one case where unkeyed topics fall back to one job with standbys.
 */
export function creatingTopicsRefused(err: unknown): boolean {
  const cause = err instanceof Error ? err.cause : undefined;
  return ['TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'POLICY_VIOLATION'].some(
    (id) => hasKafkaErrorId(err, id) || hasKafkaErrorId(cause, id),
  );
}

/** Deletes the internal topics of `group` (those missing are ignored); returns those that existed. */
export async function removeInternalTopics(bootstrap: string[], group: string): Promise<string[]> {
  const names = KINDS.map((k) => internalTopics(group)[k]);
  const admin = new KafkaAdmin({ bootstrap });
  try {
    const counts = await admin.partitionCounts(names);
    const existing = names.filter((n) => counts.get(n) !== undefined);
    await admin.deleteTopics(existing);
    return existing;
  } finally {
    await admin.close();
  }
}

/** The user id of a source record, as the pipeline will read it (undefined: it cannot be placed). */
export function userKeyOf(kind: Kind): (value: string) => string | undefined {
  return (value) => {
    const e = kind === 'clicks' ? parseClick(value) : parseCheckout(value);
    return e instanceof Rejected ? undefined : e.userId;
  };
}

/** Attempts of {@link retrying}: about 30 s in all, with the waits below. */
const RETRIES = 12;

/**
 * `call`, tried again with backoff (250 ms doubling to 4 s, about 30 s in all) when the broker
 * does not answer: a restart or a rebalance must not fail the worker (§3.6). Then the failure,
 * saying what was being read.
 */
async function retrying<T>(what: string, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= RETRIES) {
        throw new FlowmarkError('FM_KAFKA_UNAVAILABLE', `${what} failed ${attempt} times: ${(err as Error).message}`, {
          cause: err,
        });
      }
      await sleep(Math.min(4000, 250 * 2 ** (attempt - 1)));
    }
  }
}

/** First retained and end offsets of every partition of a source topic (what a drain must cover). */
export type Bounds = ReadonlyMap<number, { start: number; end: number }>;

/** True when the group's committed offset of every source partition reached its drain end. */
async function repartitionedTo(worker: KafkaWorker, topic: string, bounds: Bounds): Promise<boolean> {
  const committed = await worker.committedOffsets(topic, [...bounds.keys()]);
  return [...bounds].every(([p, b]) => b.end <= b.start || (committed.get(p) ?? -1) >= b.end);
}

/** The source partitions of `topic` whose end is past the group's committed offset (or that have no committed offset and records). */
async function notRepartitioned(worker: KafkaWorker, topic: string, count: number): Promise<Set<number>> {
  const all = Array.from({ length: count }, (_, i) => i);
  const [committed, ends] = await Promise.all([worker.committedOffsets(topic, all), worker.endOffsets(topic, all)]);
  return new Set(all.filter((p) => (committed.get(p) ?? 0) < (ends.get(p) ?? 0)));
}

/**
 * The reader of internal partition `p` of `kind` for a job: presents the source topic's
 * partitions (`sourceCounts`), resumes from the group's committed offset, and (`bounds`: a drain)
 * ends once every source partition was repartitioned to its end and `p` was read to its end.
 */
export function repartitionedSource(
  worker: KafkaWorker,
  o: {
    group: string;
    topics: TopicPair;
    sourceCounts: TopicPair<number>;
    bounds?: TopicPair<Bounds>;
    /** A record from a source partition past `sourceCounts` arrived: look at the topics again now. */
    onSourceGrown?: () => void;
  },
  kind: Kind,
  p: number,
): RepartitionedSource & { interrupt(): void; lag(): number } {
  const internal = internalTopics(o.group)[kind];
  const bounds = o.bounds?.[kind];
  return new RepartitionedSource({
    inner: worker.source(internal, { partitions: [p] }) as KafkaSource,
    sourcePartitions: o.sourceCounts[kind],
    committedOffset: () =>
      retrying(`reading the committed offset of ${internal} partition ${p}`, async () =>
        (await worker.committedOffsets(internal, [p])).get(p),
      ),
    drain:
      bounds === undefined
        ? undefined
        : {
            // Not known (the broker away): not yet; the next caught-up poll asks again.
            repartitioned: () => repartitionedTo(worker, o.topics[kind], bounds).catch(() => false),
            endOffset: () =>
              retrying(
                `reading the end offset of ${internal} partition ${p}`,
                async () => (await worker.endOffsets(internal, [p])).get(p) ?? 0,
              ),
          },
    onSourceGrown: o.onSourceGrown,
    behind: () => notRepartitioned(worker, o.topics[kind], o.sourceCounts[kind]),
  });
}

export interface RepartitionerSetOptions {
  bootstrap: string[];
  group: string;
  topics: TopicPair;
  producer: KafkaProducer;
  drain: boolean;
  fail: (err: unknown) => void;
  /** Test hook, passed to each repartitioner. */
  afterAcknowledged?: (kind: Kind, partition: number, nextOffset: number) => void | Promise<void>;
}

/**
 * The repartitioners of one worker: one per source partition it owns (`s mod P` among its
 * internal partitions), started and stopped as the group's assignment changes. The first failure
 * (the producer's) goes to `fail`.
 */
export class RepartitionerSet {
  readonly #running = new Map<string, KafkaRepartitioner>();
  readonly #o: RepartitionerSetOptions;

  constructor(o: RepartitionerSetOptions) {
    this.#o = o;
  }

  /** Runs the repartitioners of the source partitions `s` with `s mod internalCount` in `assignment`. */
  apply(worker: KafkaWorker, assignment: readonly number[], sourceCounts: TopicPair<number>, internalCount: number) {
    const o = this.#o;
    const mine = new Set(assignment);
    const wanted = new Set<string>();
    for (const kind of KINDS) {
      for (let s = 0; s < sourceCounts[kind]; s++) if (mine.has(s % internalCount)) wanted.add(`${kind}:${s}`);
    }
    for (const [id, r] of this.#running) {
      if (wanted.has(id)) continue;
      this.#running.delete(id);
      void r.stop();
    }
    for (const id of wanted) {
      if (this.#running.has(id)) continue;
      const [kind, part] = id.split(':') as [Kind, string];
      const s = Number(part);
      const topic = o.topics[kind];
      const r = new KafkaRepartitioner({
        bootstrap: o.bootstrap,
        producer: o.producer,
        from: topic,
        partition: s,
        to: internalTopics(o.group)[kind],
        keyOf: userKeyOf(kind),
        committed: () =>
          retrying(`reading the committed offset of ${topic} partition ${s}`, async () =>
            (await worker.committedOffsets(topic, [s])).get(s),
          ),
        commit: (next) => worker.commitOffsets(topic, new Map([[s, next]])),
        drain: o.drain,
        afterAcknowledged:
          o.afterAcknowledged === undefined ? undefined : (next) => o.afterAcknowledged?.(kind, s, next),
      });
      this.#running.set(id, r);
      r.start().then(
        () => {
          // Finished (a drain's end): it stays listed, so that it is not started again.
        },
        (err: unknown) => o.fail(err),
      );
    }
  }

  async stop(): Promise<void> {
    const all = [...this.#running.values()];
    this.#running.clear();
    await Promise.all(all.map((r) => r.stop()));
  }
}

/**
 * True when every internal partition's job has committed a final checkpoint, and together they
 * cover every source partition up to the end this worker found at its start (a final row of an
 * earlier drain does not count once more was written): the last record before each end is in
 * some job's positions.
 */
export async function allRepartitionedFinal(
  stores: { db: SqlClient; schema: string },
  group: string,
  internalCount: number,
  bounds: TopicPair<Bounds>,
  isFinal: (meta: SnapshotMeta | undefined) => boolean,
): Promise<boolean> {
  const names = Array.from({ length: internalCount }, (_, p) => repartitionedJobName(group, p));
  const last = await readLastCheckpoints(stores.db, names, { schema: stores.schema });
  if (last.size !== internalCount || names.some((n) => !isFinal(last.get(n)?.meta))) return false;
  return KINDS.every((kind) =>
    [...bounds[kind]].every(([s, b]) => {
      if (b.end <= b.start) return true;
      const reached = Math.max(...names.map((n) => last.get(n)?.meta.sources[kind]?.offsets[String(s)] ?? 0));
      return reached >= b.end;
    }),
  );
}
