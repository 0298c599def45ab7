/**
 * The attribution job over Kafka (topics `clicks` and `checkouts`) into the database of
 * `./database.ts`, as one member of a consumer group.
 *
 * Scale-out follows from the keys: clicks and checkouts are keyed by user id and co-partitioned
 * (same partition count, same partitioner), and attribution state is keyed by user, so partition
 * p of both topics is an independent job — its own pipeline, runtime, state, watermark and
 * checkpoint row (`kafka:<group>:p<N>` in `checkpoints`, fenced by its own epoch). Kafka's group
 * protocol decides which worker runs which partition; when a partition moves, the worker losing it
 * finishes its current checkpoint and stops that job, and the worker gaining it restores the
 * job's state and offsets from its last checkpoint before reading (taking a new epoch, so the
 * old owner can no longer commit for it even if it is slow to notice). Because each partition's
 * watermark is its own, nothing in the results depends on how partitions are spread over
 * workers, or on how often they moved.
 *
 * Topics not keyed by user id (the reference producers') are repartitioned by user id into the
 * group's internal topics (./kafka-repartition.ts), whose partitions are then shared exactly as
 * above; only when the broker refuses to create those does one job read them all (standbys wait).
 *
 * `drain`: each partition's job reads up to the end offsets it finds when it starts and
 * finalizes; the worker returns once EVERY partition's last checkpoint is final (whichever worker
 * committed it), staying in the group meanwhile so that it can take over the partitions of a
 * worker that dies.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ALL_SHARDS } from '../../attribution/analytics.ts';
import { buildAttributionPipeline } from '../../attribution/attribution-pipeline.ts';
import { parseCheckout, parseClick } from '../../attribution/events/index.ts';
import { KafkaAdmin, KafkaProducer, KafkaSource, KafkaWorker, partitionForKey } from '../../connectors/kafka/index.ts';
import { readLastCheckpoint, readLastCheckpoints, type SqlClient } from '../../connectors/sql/index.ts';
import { FlowmarkError, Rejected, type Runtime, type SnapshotMeta, type SourceReader } from '../../engine/index.ts';
import { combinedRuntime, createPrometheusMetrics } from '../../observability/index.ts';
import { declaredDefault } from '../config/index.ts';
import {
  checkedDimensions,
  checkpointIntervalOf,
  type Dashboard,
  jobRuntime,
  type PipelineRunOptions,
  referenceKinds,
  serveDashboard,
} from './job-kit.ts';
import {
  allRepartitionedFinal,
  type Bounds,
  creatingTopicsRefused,
  ensureInternalTopics,
  internalTopics,
  type Kind,
  RepartitionerSet,
  repartitionedJobName,
  repartitionedSource,
  type TopicPair,
} from './kafka-repartition.ts';

/** As the embedded job's options; `drain` reads each partition up to its end offsets at start. */
export interface KafkaRunOptions extends Omit<PipelineRunOptions, 'onRuntime'> {
  bootstrap: string[];
  /** The consumer group of the workers (default: that of `kafka.group` in the configuration schema). */
  group?: string;
  /** Told of each partition this worker starts or stops (default: a line on stderr). */
  onPartition?: (event: PartitionEvent) => void;
  /** Called with the combined view of this worker's runtimes (the demo reports its stats). */
  onRuntime?: (view: ReturnType<typeof combinedRuntime>) => void;
  /** The topics (default: those of `kafka.topics` in the configuration schema); tests use their own. */
  topics?: { clicks: string; checkouts: string };
  /** Where the worker's lines about unkeyed topics go (waiting, reading them all; default stderr). */
  log?: (line: string) => void;
  /**
   * Topics not keyed by user id: repartition them into the group's internal topics and share the
   * work (default true), or read them as ONE job with standbys (false: the fallback for a cluster
   * where flowmark may not create topics; docs/operations.md).
   */
  repartition?: boolean;
  /** Test hook: a repartitioner's batch is acknowledged by the internal topic, its source offset not committed yet. */
  afterRepartitionAcknowledged?: (kind: Kind, partition: number, nextOffset: number) => void | Promise<void>;
}

export type PartitionEvent =
  | { kind: 'started'; partition: number }
  | { kind: 'stopped'; partition: number; reason: 'revoked' | 'finished' | 'taken-over' | 'stopping' | 'restarting' };

export interface KafkaRunSummary {
  recordsRead: number;
  checkpoints: number;
  /** The partitions this worker ran at some point (−1: the one job over all partitions). */
  partitionsRun: number[];
  /** Whether the topics were found co-partitioned by user id (one job per partition). */
  keyedByUser: boolean;
  /** Not keyed: whether they were repartitioned into the group's internal topics (one job per internal partition). */
  repartitioned?: boolean;
}

/** The checkpoint row (job name) of one partition's job. */
export function partitionJobName(group: string, partition: number): string {
  return partition < 0 ? `kafka:${group}:all` : `kafka:${group}:p${partition}`;
}

/** The `partition` of the single job that reads topics not keyed by user id. */
const ALL = -1;

/** How often a worker of unkeyed topics looks for partitions added to them. */
const PARTITION_CHECK_MS = 5_000;

/**
 * Where partition `p`'s job accepts user `user`: `p` itself when a producer keyed by user_id puts
 * the user there under any partition count the topics had since the worker started (`counts`,
 * oldest first); otherwise where it puts the user now (for the `misplaced` dead letter's detail).
 */
export function placedPartition(user: string, p: number, counts: readonly number[]): number {
  for (const n of counts) if (partitionForKey(user, n) === p) return p;
  return partitionForKey(user, counts.at(-1) as number);
}

/** A worker of unkeyed topics whose last checkpoint is older than this is taken to be dead. */
export const UNKEYED_TAKEOVER_AFTER_MS = 10_000;

/** What a partition job reads: a topic's partition, or an internal topic's as the source's partitions. */
type JobSource = SourceReader<string> & { interrupt(): void; lag(): number };
type PartitionSources = { clicks: JobSource; checkouts: JobSource };

interface PartitionJob {
  /** The partition number; {@link ALL} for the one job over every partition of unkeyed topics. */
  partition: number;
  runtime: Runtime;
  sources: PartitionSources;
  controller: AbortController;
  /** Settles when the job's runtime has returned (never rejects: failures go to `fail`). */
  done: Promise<void>;
  finished: boolean;
  /** Stopped to start again over more partitions ({@link PartitionSupervisor.restartJob}). */
  restarting?: boolean;
}

/**
 * The partition jobs of one worker: starts a job (pipeline + runtime, restoring its last
 * checkpoint) for each partition the group assigns to this worker, stops the jobs of the ones it
 * loses (their current checkpoint finished first), and collects their figures. The first failure
 * of any job stops them all ({@link PartitionSupervisor.failure}).
 */
class PartitionSupervisor {
  readonly jobs = new Map<number, PartitionJob>();
  readonly summary: KafkaRunSummary;
  /** Aborted on the first failure, or when the worker stops. */
  readonly stopAll = new AbortController();
  failure: unknown;
  readonly #start: (p: number, sources: PartitionSources) => Runtime;
  readonly #onPartition: (e: PartitionEvent) => void;
  readonly #takenOver: () => FlowmarkError;
  // Assignments are applied one after another: a partition is stopped (its checkpoint finished)
  // before the same worker could start it again.
  #applying: Promise<void> = Promise.resolve();

  constructor(o: {
    keyed: boolean;
    repartitioned: boolean;
    /** Builds the runtime of partition `p`'s job over `sources`. */
    start: (p: number, sources: PartitionSources) => Runtime;
    onPartition: (e: PartitionEvent) => void;
    /** The failure of the unkeyed job when another worker took it over. */
    takenOver: () => FlowmarkError;
  }) {
    this.summary = { recordsRead: 0, checkpoints: 0, partitionsRun: [], keyedByUser: o.keyed };
    if (o.repartitioned) this.summary.repartitioned = true;
    this.#start = o.start;
    this.#onPartition = o.onPartition;
    this.#takenOver = o.takenOver;
  }

  fail(err: unknown): void {
    this.failure ??= err;
    this.stopAll.abort();
  }

  /** The runtimes of the running jobs (the combined view reads them). */
  runtimes(): Runtime[] {
    return [...this.jobs.values()].map((j) => j.runtime);
  }

  /** Per source id, the sum of the jobs' consumer lag. */
  consumerLag(): Map<string, number> {
    const lag = new Map<string, number>();
    for (const j of this.jobs.values()) {
      for (const [id, source] of Object.entries(j.sources)) lag.set(id, (lag.get(id) ?? 0) + source.lag());
    }
    return lag;
  }

  /** Starts partition `p`'s job over `sources`. */
  startJob(p: number, sources: PartitionSources): void {
    const runtime = this.#start(p, sources);
    const controller = new AbortController();
    const job: PartitionJob = { partition: p, runtime, sources, controller, done: Promise.resolve(), finished: false };
    const summary = this.summary;
    if (!summary.partitionsRun.includes(p)) summary.partitionsRun.push(p);
    this.#onPartition({ kind: 'started', partition: p });
    job.done = runtime
      .run({ signal: controller.signal })
      .then(
        (s) => {
          summary.recordsRead += s.recordsRead;
          summary.checkpoints += s.checkpoints;
          job.finished = !controller.signal.aborted;
          this.#onPartition({
            kind: 'stopped',
            partition: p,
            reason: job.finished
              ? 'finished'
              : this.stopAll.signal.aborted
                ? 'stopping'
                : job.restarting === true
                  ? 'restarting'
                  : 'revoked',
          });
        },
        (err: unknown) => {
          if (err instanceof FlowmarkError && err.code === 'FM_FENCED') {
            this.#onPartition({ kind: 'stopped', partition: p, reason: 'taken-over' });
            // A partition moves by the group's decision; the single job of unkeyed topics moves
            // only when another worker started: this one must stop, and say why.
            if (p === ALL) this.fail(this.#takenOver());
            // Fenced although still ours (a stale owner restored it after we did): the main loop
            // starts it again from its last checkpoint.
            return;
          }
          this.fail(err);
        },
      )
      .finally(async () => {
        await runtime.close();
        if (this.jobs.get(p) === job && !job.finished) this.jobs.delete(p);
      });
    this.jobs.set(p, job);
  }

  /**
   * Stops job `p` at its next checkpoint and starts it again over `sources` (more partitions),
   * restoring that checkpoint: the partitions it did not read start from their first record.
   */
  async restartJob(p: number, sources: PartitionSources): Promise<void> {
    const job = this.jobs.get(p);
    if (job !== undefined) {
      job.restarting = true;
      this.#stopJob(job);
      await job.done;
      if (this.jobs.get(p) === job) this.jobs.delete(p);
    }
    if (!this.stopAll.signal.aborted) this.startJob(p, sources);
  }

  /** Stops a job at its next checkpoint, without waiting for a broker that is away. */
  #stopJob(j: PartitionJob): void {
    j.controller.abort();
    j.sources.clicks.interrupt();
    j.sources.checkouts.interrupt();
  }

  /**
   * Applies the worker's CURRENT assignment (not the one it had when called): a step may wait
   * long for leaving jobs' last checkpoints, and the group may have moved on meanwhile.
   */
  apply(worker: KafkaWorker, source: (topic: 'clicks' | 'checkouts', p: number) => JobSource): void {
    this.#applying = this.#applying
      .then(async () => {
        if (this.stopAll.signal.aborted) return;
        const leaving = [...this.jobs.values()].filter((j) => !worker.assignment.includes(j.partition));
        for (const j of leaving) this.#stopJob(j);
        await Promise.all(leaving.map((j) => j.done));
        for (const j of leaving) if (this.jobs.get(j.partition) === j) this.jobs.delete(j.partition);
        if (this.stopAll.signal.aborted) return;
        for (const p of worker.assignment) {
          if (this.jobs.has(p)) continue;
          this.startJob(p, { clicks: source('clicks', p), checkouts: source('checkouts', p) });
        }
      })
      .catch((err: unknown) => this.fail(err));
  }

  /**
   * Stops everything: waits for the assignment in progress, stops the jobs (unless `letFinish`:
   * a drain that is done lets its jobs end by themselves at their end offsets — aborting one that
   * restored a final checkpoint would commit it as not final) and waits for them.
   */
  async stop(letFinish: boolean): Promise<void> {
    this.stopAll.abort();
    await this.#applying.catch(() => {});
    if (!letFinish) for (const j of this.jobs.values()) this.#stopJob(j);
    await Promise.all([...this.jobs.values()].map((j) => j.done));
  }
}

/**
 * Runs this worker until the signal (live) or until every partition is final (drain).
 * Checks before anything is read: both topics exist, whether they are co-partitioned by user id
 * (same partition count, and the first records of every partition are where the Java client's
 * partitioner puts their `user_id`), and that the dimension tables are readable. Topics that are
 * not co-partitioned (the reference pipelines' producers write no key) are repartitioned into the
 * group's internal topics and shared the same way (docs/operations.md). Fallback (`repartition:
 * false`, or a broker that refuses to create the internal topics): ONE job over all their
 * partitions; a second worker waits as a standby while the first is alive, and takes the job
 * over (epoch fencing) once it is not.
 */
export async function runKafkaAttribution(
  stores: { db: SqlClient; schema: string },
  o: KafkaRunOptions,
): Promise<KafkaRunSummary> {
  const group = o.group ?? declaredDefault('kafka.group');
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const topics = o.topics ?? {
    clicks: declaredDefault('kafka.topics.clicks'),
    checkouts: declaredDefault('kafka.topics.checkouts'),
  };
  const counts = await topicPartitions(o.bootstrap, topics);
  const placement = await checkKeyedByUser(o.bootstrap, topics, counts);
  const lookups = await checkedDimensions(stores.db, stores.schema, o.dimensions);
  // Unkeyed topics are repartitioned into the group's internal topics, with as many partitions as
  // the larger source topic (an existing pair keeps its count: the jobs' checkpoints are per partition).
  let repartition = !placement.keyed && o.repartition !== false;
  let internalCount = 0;
  if (repartition) {
    try {
      internalCount = await ensureInternalTopics(o.bootstrap, group, Math.max(counts.clicks, counts.checkouts));
    } catch (err) {
      if (!creatingTopicsRefused(err)) throw err;
      repartition = false;
      log(
        `flowmark: the broker refused to create the internal topics of group ${group} (${err instanceof Error ? err.message : String(err)}): falling back to ONE job over all partitions of ${topics.clicks} and ${topics.checkouts}, other workers waiting as standbys. Allow the workers to create topics named ${internalTopics(group).clicks} and ${internalTopics(group).checkouts} (or create them yourself with the same partition count), to share the work.`,
      );
    }
  }
  // The partition counts of the keyed topics since this worker started, oldest first: partitions
  // added while it runs move some users, and what a producer wrote before stays where it was.
  const placementCounts = [counts.clicks];
  const metrics = o.serve === undefined ? undefined : createPrometheusMetrics();
  const jobs = new PartitionSupervisor({
    keyed: placement.keyed,
    repartitioned: repartition,
    onPartition: o.onPartition ?? ((e: PartitionEvent) => logPartition(group, e)),
    takenOver: () => unkeyedTakenOver(group, topics, placement.why),
    start: (p, sources) => {
      const pipeline = buildAttributionPipeline(
        sources,
        lookups,
        o.attribution,
        o.clock,
        p === ALL ? ALL_SHARDS : `p${p}`,
        // Every event of a partition job is checked to belong there (the start only samples);
        // internal topics are written by flowmark's repartitioners, keyed by user id.
        p === ALL || repartition
          ? undefined
          : { partition: p, partitionOf: (user) => placedPartition(user, p, placementCounts) },
        referenceKinds(o),
      );
      const name = repartition ? repartitionedJobName(group, p) : partitionJobName(group, p);
      return jobRuntime(stores, name, pipeline, o, metrics);
    },
  });

  let worker: KafkaWorker | undefined;
  let dashboard: Dashboard | undefined;
  let producer: KafkaProducer | undefined;
  let repartitioners: RepartitionerSet | undefined;
  /** Repartition, draining: what each source partition held at the start (what the drain covers). */
  let sourceBounds: TopicPair<Bounds> | undefined;
  /** Unkeyed topics: the counts the one job reads, and how it goes on over more partitions. */
  let unkeyedCounts: { clicks: number; checkouts: number } | undefined;
  let restartUnkeyed: ((grown: { clicks: number; checkouts: number }) => Promise<void>) | undefined;
  const onAbort = () => jobs.stopAll.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let checkedPartitionsMs = 0;
  /** A job met a record of a source partition it does not know: the topics grew; look now. */
  const onSourceGrown = () => {
    checkedPartitionsMs = 0;
  };
  const apply = () => {
    const w = worker;
    if (w === undefined) return;
    if (repartition) {
      const shape = { group, topics, sourceCounts: unkeyedCounts ?? counts, bounds: sourceBounds, onSourceGrown };
      repartitioners?.apply(w, w.assignment, shape.sourceCounts, internalCount);
      jobs.apply(w, (kind, p) => repartitionedSource(w, shape, kind, p));
      return;
    }
    jobs.apply(w, (topic, p) => w.source(topics[topic], { partitions: [p], endAtOpen: o.drain }));
  };
  const view = combinedRuntime(
    () => jobs.runtimes(),
    metrics === undefined ? undefined : { registry: metrics, clock: o.clock, consumerLag: () => jobs.consumerLag() },
  );
  o.onRuntime?.(view);
  try {
    if (placement.keyed) {
      worker = new KafkaWorker({
        bootstrap: o.bootstrap,
        groupId: group,
        topics: [topics.clicks, topics.checkouts],
        onAssignment: () => apply(),
        onPartitionsAdded: (from, to) => {
          if (!placementCounts.includes(to)) placementCounts.push(to);
          log(
            `flowmark: group ${group}: ${topics.clicks} and ${topics.checkouts} now have ${to} partitions (were ${from}): the group rebalances and the new ones are read from their start; partitions already running stay where they are. Users whose partition changed have their events before and after in two partition jobs: a checkout within the lookback after the change may miss the user's earlier clicks (docs/operations.md).`,
          );
        },
      });
      await worker.start();
    } else if (repartition) {
      if (o.drain) sourceBounds = await topicBounds(o.bootstrap, topics, counts);
      producer = new KafkaProducer({ bootstrap: o.bootstrap, clientId: `flowmark-repartition-${group}` });
      repartitioners = new RepartitionerSet({
        bootstrap: o.bootstrap,
        group,
        topics,
        producer,
        drain: o.drain,
        fail: (err) => jobs.fail(err),
        afterAcknowledged: o.afterRepartitionAcknowledged,
      });
      const internal = internalTopics(group);
      unkeyedCounts = { ...counts };
      // Partitions added to the source topics: their repartitioners start where the group's
      // assignment puts them, and every job of this worker commits its checkpoint and goes on
      // presenting the new source partitions too (restored positions: the new ones from 0).
      restartUnkeyed = async (grown) => {
        log(
          `flowmark: ${topics.clicks} now has ${grown.clicks} partitions and ${topics.checkouts} ${grown.checkouts} (were ${unkeyedCounts?.clicks} and ${unkeyedCounts?.checkouts}): the repartitioners of the new ones start, and this worker's partition jobs commit their checkpoints and go on with the new ones, read from their start.`,
        );
        unkeyedCounts = grown;
        const w = worker;
        if (w === undefined) return;
        const shape = { group, topics, sourceCounts: grown, bounds: sourceBounds, onSourceGrown };
        repartitioners?.apply(w, w.assignment, grown, internalCount);
        for (const p of [...jobs.jobs.keys()]) {
          await jobs.restartJob(p, {
            clicks: repartitionedSource(w, shape, 'clicks', p),
            checkouts: repartitionedSource(w, shape, 'checkouts', p),
          });
        }
      };
      log(
        `flowmark: ${topics.clicks} and ${topics.checkouts} are not co-partitioned by user_id (${placement.why}): the workers of group ${group} repartition them by user_id into ${internal.clicks} and ${internal.checkouts} (${internalCount} partitions) and share the partition jobs; \`flowmark kafka cleanup --group ${group}\` removes those topics once the group is retired.`,
      );
      worker = new KafkaWorker({
        bootstrap: o.bootstrap,
        groupId: group,
        topics: [internal.clicks, internal.checkouts],
        onAssignment: () => apply(),
      });
      await worker.start();
    } else {
      const free = await waitForUnkeyedJob(stores, group, topics, placement.why, checkpointIntervalOf(o), {
        signal: jobs.stopAll.signal,
        log,
      });
      if (!free) return jobs.summary; // stopped while waiting: nothing was read or written
      log(
        `flowmark: ${topics.clicks} and ${topics.checkouts} are not co-partitioned by user_id (${placement.why}): this worker reads all their partitions as one job; another worker of group ${group} waits as a standby while this one runs, and takes over if it dies. To scale out, key both topics by user_id with the same partition count (flowmark import and produce do).`,
      );
      const source = (topic: string, n: number) =>
        KafkaSource.standalone({
          bootstrap: o.bootstrap,
          topic,
          partitions: Array.from({ length: n }, (_, i) => i),
          endAtOpen: o.drain,
          groupId: group,
        });
      unkeyedCounts = { ...counts };
      const allSources = (c: { clicks: number; checkouts: number }) => ({
        clicks: source(topics.clicks, c.clicks),
        checkouts: source(topics.checkouts, c.checkouts),
      });
      jobs.startJob(ALL, allSources(counts));
      restartUnkeyed = async (grown) => {
        log(
          `flowmark: ${topics.clicks} now has ${grown.clicks} partitions and ${topics.checkouts} ${grown.checkouts} (were ${unkeyedCounts?.clicks} and ${unkeyedCounts?.checkouts}): the job over all partitions commits its checkpoint and goes on with the new ones, read from their start.`,
        );
        unkeyedCounts = grown;
        await jobs.restartJob(ALL, allSources(grown));
      };
    }
    dashboard = await serveDashboard(stores, view, metrics, o);
    while (!jobs.stopAll.signal.aborted) {
      // Partitions added to unkeyed topics: the one job, or this worker's repartitioned jobs, go
      // on over all of them (keyed topics: the group's rebalance hands them out, KafkaWorker).
      if (restartUnkeyed !== undefined && !o.drain && performance.now() - checkedPartitionsMs >= PARTITION_CHECK_MS) {
        checkedPartitionsMs = performance.now();
        const now = await topicPartitions(o.bootstrap, topics).catch(() => undefined);
        if (
          now !== undefined &&
          unkeyedCounts !== undefined &&
          (now.clicks > unkeyedCounts.clicks || now.checkouts > unkeyedCounts.checkouts)
        ) {
          await restartUnkeyed(now);
        }
      }
      // An assigned partition without a job (its job was fenced by a stale owner): restart it.
      if (worker?.assignment.some((p) => !jobs.jobs.has(p))) apply();
      if (o.drain) {
        const done = placement.keyed
          ? await allFinal(stores, group, placement.ends)
          : repartition
            ? await allRepartitionedFinal(stores, group, internalCount, sourceBounds as TopicPair<Bounds>, isFinal)
            : jobs.jobs.get(ALL)?.finished === true;
        if (done) break;
      }
      // A timer that keeps the process alive (the clock's may not): the jobs may all be waiting.
      await sleep(o.drain ? 250 : 500, undefined, { signal: jobs.stopAll.signal }).catch(() => {});
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    // Repartitioners first: what they acknowledged but did not commit is re-sent by the next owner.
    await repartitioners?.stop();
    await producer?.close().catch((err: unknown) => jobs.fail(err));
    await jobs.stop(o.drain && jobs.failure === undefined && o.signal?.aborted !== true);
    await dashboard?.close();
    await worker?.close();
  }
  if (jobs.failure !== undefined) throw jobs.failure;
  return jobs.summary;
}

/** How often a worker waiting for the unkeyed job says again that it is waiting. */
const WAITING_LINE_EVERY_MS = 10_000;

/**
 * Unkeyed topics are read by one worker. While another worker's job is alive (it committed a
 * checkpoint within `aliveWithinMs`, by the database's clock, and is not a finished drain), this
 * one waits as a standby, saying so, and takes the job over once that one has been silent that
 * long: a worker restarted right after a crash (a supervisor's restart) waits out the dead one's
 * last seconds instead of failing once (issue 16). Resolves true when the job is free, false when
 * `signal` stopped the wait.
 */
async function waitForUnkeyedJob(
  stores: { db: SqlClient; schema: string },
  group: string,
  topics: { clicks: string; checkouts: string },
  why: string,
  checkpointIntervalMs: number,
  o: { signal: AbortSignal; log: (line: string) => void },
): Promise<boolean> {
  const aliveWithinMs = Math.max(UNKEYED_TAKEOVER_AFTER_MS, 4 * checkpointIntervalMs);
  let waitedMs = 0;
  let saidAtMs: number | undefined;
  while (!o.signal.aborted) {
    const last = await readLastCheckpoint(stores.db, partitionJobName(group, ALL), { schema: stores.schema });
    // A drained job that finished is not running, however recent its last checkpoint.
    if (last === undefined || last.ageMs > aliveWithinMs || isFinal(last.meta)) return true;
    const leftMs = aliveWithinMs - last.ageMs;
    if (saidAtMs === undefined || waitedMs - saidAtMs >= WAITING_LINE_EVERY_MS) {
      saidAtMs = waitedMs;
      o.log(
        `flowmark: waiting: another worker of group ${group} is reading ${topics.clicks} and ${topics.checkouts} (its last checkpoint was ${(last.ageMs / 1000).toFixed(1)} s ago). These topics are not co-partitioned by user_id (${why}), so one worker reads them all: this one takes the job over once that one has been silent for ${aliveWithinMs / 1000} s (in ${(leftMs / 1000).toFixed(1)} s if it has stopped), and waits as a standby while it runs. To share the work, key both topics by user_id with the same partition count.`,
      );
    }
    // Until the other one's checkpoint would be old enough; a newer one starts the count again.
    const pauseMs = Math.ceil(leftMs) + 50;
    await sleep(pauseMs, undefined, { signal: o.signal }).catch(() => {});
    waitedMs += pauseMs;
  }
  return false;
}

function unkeyedTakenOver(group: string, topics: { clicks: string; checkouts: string }, why: string): FlowmarkError {
  return new FlowmarkError(
    'FM_FENCED',
    `another worker of group ${group} took over: ${topics.clicks} and ${topics.checkouts} are not co-partitioned by user_id (${why}), so one worker reads them all. Its work since the last checkpoint is redone by the new worker; nothing is lost or doubled.`,
  );
}

/** The first retained and end offsets of every partition of both topics (a drain of repartitioned topics covers them). */
async function topicBounds(
  bootstrap: string[],
  topics: TopicPair,
  counts: TopicPair<number>,
): Promise<TopicPair<Bounds>> {
  const one = async (topic: string, n: number): Promise<Bounds> => {
    const source = KafkaSource.standalone({
      bootstrap,
      topic,
      partitions: Array.from({ length: n }, (_, i) => i),
      endAtOpen: true,
    });
    try {
      await source.open();
      return source.bounds();
    } finally {
      await source.close();
    }
  };
  return { clicks: await one(topics.clicks, counts.clicks), checkouts: await one(topics.checkouts, counts.checkouts) };
}

/** The partition counts of both topics; a missing topic fails the start, naming it. */
async function topicPartitions(
  bootstrap: string[],
  topics: { clicks: string; checkouts: string },
): Promise<{ clicks: number; checkouts: number }> {
  const admin = new KafkaAdmin({ bootstrap });
  let counts: Map<string, number | undefined>;
  try {
    counts = await admin.partitionCounts([topics.clicks, topics.checkouts]);
  } finally {
    await admin.close();
  }
  const missing = [topics.clicks, topics.checkouts].filter((t) => counts.get(t) === undefined);
  if (missing.length > 0) {
    throw new FlowmarkError(
      'FM_KAFKA_TOPIC_MISSING',
      `topic${missing.length > 1 ? 's' : ''} ${missing.join(' and ')} not found on ${bootstrap.join(',')}: create them with \`flowmark import --kafka … --partitions N\` or \`flowmark produce --kafka …\` (both create ${topics.clicks} and ${topics.checkouts} with the same partition count), or set kafka.topics.clicks / kafka.topics.checkouts to your topics' names`,
    );
  }
  return { clicks: counts.get(topics.clicks) as number, checkouts: counts.get(topics.checkouts) as number };
}

/** Records read from the start of every partition to check where producers put users. */
export const KEY_CHECK_RECORDS_PER_PARTITION = 256;

/**
 * Are both topics co-partitioned by user id? Same partition count, and each of the first
 * {@link KEY_CHECK_RECORDS_PER_PARTITION} records of every partition is where the Java client's
 * partitioner puts its `user_id` (records the pipeline would refuse say nothing: they are dead
 * letters in any partition). Empty topics count as keyed: flowmark's own producers key by user
 * id. Past the sample, each partition job checks every event (`misplaced` dead letters).
 */
export async function checkKeyedByUser(
  bootstrap: string[],
  topics: { clicks: string; checkouts: string },
  counts: { clicks: number; checkouts: number },
): Promise<KeyCheck> {
  if (counts.clicks !== counts.checkouts) {
    return {
      keyed: false,
      why: `${topics.clicks} has ${counts.clicks} partitions and ${topics.checkouts} has ${counts.checkouts}`,
    };
  }
  const n = counts.clicks;
  const ends: Record<string, Map<number, number>> = {};
  for (const [id, topic] of [
    ['clicks', topics.clicks],
    ['checkouts', topics.checkouts],
  ] as const) {
    const source = KafkaSource.standalone({
      bootstrap,
      topic,
      partitions: Array.from({ length: n }, (_, i) => i),
      endAtOpen: true,
    });
    try {
      await source.open();
      const bounds = source.bounds();
      ends[id] = new Map([...bounds].map(([p, b]) => [p, b.end]));
      // From each partition's first retained record (retention moves it), the first few.
      const until = new Map(
        [...bounds].map(([p, b]) => [p, Math.min(b.end, b.start + KEY_CHECK_RECORDS_PER_PARTITION)]),
      );
      const reached = new Map([...bounds].map(([p, b]) => [p, b.start]));
      while ([...until].some(([p, u]) => (reached.get(p) ?? 0) < u)) {
        const { records, ended } = await source.poll(4096);
        for (const r of records) {
          reached.set(r.partition, r.offset + 1);
          if (r.offset >= (until.get(r.partition) ?? 0)) continue;
          // Only events the pipeline accepts matter: the others are dead letters wherever they are.
          const e = id === 'clicks' ? parseClick(r.value) : parseCheckout(r.value);
          if (e instanceof Rejected) continue;
          const expected = partitionForKey(e.userId, n);
          if (expected !== r.partition) {
            return {
              keyed: false,
              why: `${topic} partition ${r.partition} offset ${r.offset} holds user ${JSON.stringify(e.userId)}, which a producer keyed by user_id puts in partition ${expected}`,
            };
          }
        }
        if (ended === true || records.length === 0) break;
      }
    } finally {
      await source.close();
    }
  }
  return { keyed: true, why: '', ends: { clicks: ends.clicks ?? new Map(), checkouts: ends.checkouts ?? new Map() } };
}

/** The answer of {@link checkKeyedByUser}; when keyed, the end offsets it found per topic. */
export type KeyCheck =
  | { keyed: false; why: string }
  | { keyed: true; why: ''; ends: { clicks: ReadonlyMap<number, number>; checkouts: ReadonlyMap<number, number> } };

/**
 * True when every partition's job has committed a final checkpoint that covers the input this
 * worker found at its start: its offsets reached those end offsets (a final row of an earlier
 * drain does not count once more was written), and every step's watermark is +∞.
 */
async function allFinal(
  stores: { db: SqlClient; schema: string },
  group: string,
  ends: { clicks: ReadonlyMap<number, number>; checkouts: ReadonlyMap<number, number> },
): Promise<boolean> {
  const partitions = ends.clicks.size;
  const names = Array.from({ length: partitions }, (_, p) => partitionJobName(group, p));
  const last = await readLastCheckpoints(stores.db, names, { schema: stores.schema });
  return (
    last.size === partitions &&
    names.every((name, p) => {
      const meta = last.get(name)?.meta;
      const reached = (source: 'clicks' | 'checkouts') =>
        (meta?.sources[source]?.offsets[String(p)] ?? 0) >= (ends[source].get(p) ?? 0);
      return meta !== undefined && isFinal(meta) && reached('clicks') && reached('checkouts');
    })
  );
}

/** A checkpoint with every input of every step at +∞: the input ended and everything has fired. */
function isFinal(meta: SnapshotMeta | undefined): boolean {
  if (meta === undefined) return false;
  return Object.values(meta.nodes).every((n) => n.inputWatermarksMs.every((w) => w === Number.POSITIVE_INFINITY));
}

function logPartition(group: string, e: PartitionEvent): void {
  const what =
    e.kind === 'started'
      ? 'started (restoring its last checkpoint)'
      : e.reason === 'revoked'
        ? 'handed over to another worker (checkpoint committed)'
        : e.reason === 'taken-over'
          ? 'taken over by another worker (its uncommitted work is redone there)'
          : e.reason === 'finished'
            ? 'finished (all its input is final)'
            : e.reason === 'restarting'
              ? 'stopped at its checkpoint, to go on over the added partitions'
              : 'stopped';
  const which = e.partition === ALL ? 'the job over all partitions' : `partition ${e.partition}`;
  process.stderr.write(`flowmark: group ${group}: ${which} ${what}\n`);
}
