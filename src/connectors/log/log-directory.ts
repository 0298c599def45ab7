/**
 * A log directory: flowmark's own durable, partitioned, append-only log (the embedded stand-in
 * for Kafka). It holds topics (log-topic.ts); write with a {@link LogProducer}, read with a
 * {@link LogSource}.
 *
 * Guarantees:
 * - one writer at a time: a writable open takes `writer.lock` (holding the process id) and fails
 *   with `FM_FENCED` while another live process holds it; read-only opens take no lock;
 * - on a writable open, the last segment of every partition is scanned and a torn tail is cut
 *   away (listed in `repairs`), so the log survives `kill -9` at any instant and nothing that
 *   `flush()` acknowledged is lost; damage followed by valid records is listed in `damaged` and
 *   read past (its readers decide: log-damage.ts); `check()` finds damage anywhere, `repair()`
 *   quarantines it;
 * - `flush()` resolves only once every record appended before the call is on disk (fdatasync);
 * - offsets never change; retention removes whole old segments only, from the oldest on.
 *
 * @example
 * const log = LogDirectory.open('data/log');
 * log.createTopic('clicks', { partitions: 4 });
 * const producer = new LogProducer(log);
 * producer.append('clicks', '{"click_id":"k1"}', 'user-7'); // { partition: 2, offset: 0 }
 * await producer.flush(); // acknowledged: survives kill -9 and power loss
 * log.endOffsets('clicks'); // Map { 0 => 0, 1 => 0, 2 => 1, 3 => 0 }
 * await log.close();
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { FlowmarkError } from '../../engine/index.ts';
import { checkPartition, type LogFinding } from './log-check.ts';
import { type LogDamage, type QuarantinedRegion, quarantine } from './log-damage.ts';
import { checkName, type LogOptions, type ResolvedLogOptions, resolveLogOptions } from './log-options.ts';
import type { LogRepair, RetentionDeletion } from './log-partition.ts';
import { type ConsumerPosition, LogTopic } from './log-topic.ts';

const LOCK_FILE = 'writer.lock';

/** Lock files held by this process (a second writable open in the same process is refused too). */
const HELD_LOCKS = new Set<string>();

export interface CreateTopicOptions {
  /** Number of partitions, fixed for the life of the topic. */
  partitions: number;
}

export class LogDirectory {
  readonly dir: string;
  readonly options: ResolvedLogOptions;
  /** Torn tails cut away when this log was opened (empty after a clean shutdown). */
  readonly repairs: readonly LogRepair[];
  readonly #repairs: LogRepair[];
  /**
   * Damage found in the middle of the last segment of a partition when this log was opened
   * writable (log-damage.ts); it is read past, and `check()` lists damage in every segment.
   */
  readonly damaged: readonly LogDamage[];
  readonly #damaged: LogDamage[] = [];
  readonly #topics = new Map<string, LogTopic>();
  readonly #lockPath: string | undefined;
  #flushChain: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(dir: string, options: ResolvedLogOptions, lockPath: string | undefined) {
    this.dir = dir;
    this.options = options;
    this.#lockPath = lockPath;
    this.#repairs = [];
    this.repairs = this.#repairs;
    this.damaged = this.#damaged;
  }

  /**
   * Opens (a writer: creates) the log directory `dir`. A writer repairs every partition's tail
   * now; a read-only opener opens topics when first used.
   */
  static open(dir: string, options: LogOptions = {}): LogDirectory {
    const opts = resolveLogOptions(options);
    if (opts.readOnly) {
      if (!existsSync(dir)) {
        throw new FlowmarkError(
          'FM_CONFIG_INVALID',
          `log directory ${dir} does not exist (open it writable once to create it)`,
        );
      }
      return new LogDirectory(dir, opts, undefined);
    }
    mkdirSync(dir, { recursive: true });
    const lockPath = acquireLock(dir);
    const log = new LogDirectory(dir, opts, lockPath);
    try {
      for (const entry of readdirSync(dir)) {
        // A topic whose creation was interrupted: never renamed into place, so never used.
        if (/^\..+\.tmp-/.test(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
      }
      for (const name of LogTopic.list(dir)) log.#openTopic(name);
    } catch (err) {
      for (const topic of log.#topics.values()) for (const p of topic.partitions) p.close();
      releaseLock(lockPath);
      throw err;
    }
    return log;
  }

  get readOnly(): boolean {
    return this.options.readOnly;
  }

  /** The names of the topics, sorted. */
  topicNames(): string[] {
    return LogTopic.list(this.dir);
  }

  hasTopic(name: string): boolean {
    return this.#topics.has(name) || LogTopic.exists(this.dir, name);
  }

  /**
   * Creates a topic with a fixed number of partitions. Creating one that exists with the same
   * count does nothing; with another count it throws `FM_CONFIG_INVALID`.
   */
  createTopic(name: string, options: CreateTopicOptions): LogTopic {
    this.#checkOpen();
    checkName('topic', name);
    if (this.readOnly)
      throw new FlowmarkError('FM_CONFIG_INVALID', `log ${this.dir} was opened read-only: cannot create topic ${name}`);
    if (!LogTopic.exists(this.dir, name)) LogTopic.create(this.dir, name, options.partitions, this.options.fsync);
    const topic = this.topic(name);
    if (topic.partitions.length !== options.partitions) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `log topic ${name} exists with ${topic.partitions.length} partitions, not ${options.partitions}; the partition count is fixed at creation`,
      );
    }
    return topic;
  }

  /** The topic `name`; throws `FM_CONFIG_INVALID` when it does not exist. */
  topic(name: string): LogTopic {
    this.#checkOpen();
    const known = this.#topics.get(name);
    if (known !== undefined) return known;
    checkName('topic', name);
    if (!LogTopic.exists(this.dir, name)) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `log topic ${name} does not exist in ${this.dir} (topics: ${this.topicNames().join(', ') || 'none'}); create it first`,
      );
    }
    return this.#openTopic(name);
  }

  /** Per partition, the first offset still held (retention deletes below it). */
  startOffsets(topic: string): Map<number, number> {
    return new Map(this.topic(topic).partitions.map((p) => [p.id, p.startOffset()]));
  }

  /**
   * Per partition, the offset after the last record readers can see: durable records in the
   * writing process; whole valid records in a read-only one. Lag = end − a consumer's position.
   */
  endOffsets(topic: string): Map<number, number> {
    return new Map(this.topic(topic).partitions.map((p) => [p.id, p.endOffset()]));
  }

  /**
   * Per partition of `topic`, the slowest committed position of its consumers (a partition no
   * consumer committed is absent): records before it have been processed by every consumer.
   */
  minCommitted(topic: string): Map<number, number> {
    return this.topic(topic).minCommitted();
  }

  /** What `consumer` last committed on `topic` (see `LogSource.commit`), or undefined. */
  committedOffsets(topic: string, consumer: string): ConsumerPosition | undefined {
    return this.topic(topic).readCommitted(consumer);
  }

  /**
   * Applies retention (`retentionBytes`, `retentionMs`) to every partition of every topic now;
   * returns the deleted segments. Segments holding offsets at or after the slowest consumer's
   * committed position are kept unless `retainUnconsumed` is false.
   */
  enforceRetention(only?: string): RetentionDeletion[] {
    this.#checkOpen();
    if (this.readOnly)
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `log ${this.dir} was opened read-only: retention is the writer's job`,
      );
    const deleted: RetentionDeletion[] = [];
    for (const name of only === undefined ? LogTopic.list(this.dir) : [only]) {
      const topic = this.topic(name);
      const committed = topic.minCommitted();
      const now = this.options.nowMs();
      for (const p of topic.partitions) deleted.push(...p.enforceRetention(committed.get(p.id), now));
    }
    return deleted;
  }

  /**
   * Reads every record of every topic (or of `only`), checking each CRC, and lists damaged
   * regions, quarantined ones, torn tails and missing records, each marked `consumed` when every
   * consumer of its topic has committed past it. Works read-only, beside a running writer.
   */
  check(only?: readonly string[]): LogFinding[] {
    this.#checkOpen();
    const findings: LogFinding[] = [];
    for (const name of only ?? LogTopic.list(this.dir)) {
      const topic = this.topic(name);
      const committed = topic.minCommitted();
      for (const p of topic.partitions) findings.push(...checkPartition(p, committed.get(p.id)));
    }
    return findings;
  }

  /**
   * Quarantines every damaged region (log-damage.ts): its bytes are copied to
   * `quarantine/` in the log directory and readers skip it from then on; every later record keeps
   * its offset. Needs the writer (the lock). Returns what was quarantined, with the bytes.
   */
  repair(): { finding: LogFinding; region: QuarantinedRegion; bytes: Buffer }[] {
    this.#checkOpen();
    if (this.readOnly)
      throw new FlowmarkError('FM_CONFIG_INVALID', `log ${this.dir} was opened read-only: repair needs the writer`);
    const done: { finding: LogFinding; region: QuarantinedRegion; bytes: Buffer }[] = [];
    for (const finding of this.check()) {
      const d = finding.damage;
      if (finding.kind !== 'damaged' || d === undefined) continue;
      const p = this.topic(d.topic).partition(d.partition);
      const size = Math.min(p.readLimit(d.base), statSync(d.file).size);
      const { region, bytes } = quarantine(this.dir, p.dir, d, size, this.options.nowMs(), this.options.fsync);
      done.push({ finding, region, bytes });
    }
    return done;
  }

  /**
   * Makes every record appended so far durable (write + fdatasync of each partition with new
   * records, in parallel) and only then resolves. Flushes run one after another.
   */
  flush(): Promise<void> {
    const run = this.#flushChain.then(() => this.#flushNow());
    this.#flushChain = run.catch(() => undefined);
    return run;
  }

  /** Flushes, closes every file and releases the writer lock. The log cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      if (!this.readOnly) await this.flush();
    } finally {
      this.#closed = true;
      for (const topic of this.#topics.values()) for (const p of topic.partitions) p.close();
      if (this.#lockPath !== undefined) releaseLock(this.#lockPath);
    }
  }

  async #flushNow(): Promise<void> {
    this.#checkOpen();
    const syncs: Promise<void>[] = [];
    for (const topic of this.#topics.values()) {
      for (const p of topic.partitions) {
        const target = p.prepareSync();
        if (target !== undefined) syncs.push(p.sync(target));
      }
    }
    const results = await Promise.allSettled(syncs);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  }

  #openTopic(name: string): LogTopic {
    const topic = LogTopic.open(this.dir, name, this.options, this.#repairs, this.#damaged);
    if (!this.readOnly && this.options.retentionOnRoll) {
      for (const p of topic.partitions) {
        p.onRoll = () => {
          p.enforceRetention(topic.minCommitted().get(p.id), this.options.nowMs());
        };
      }
    }
    this.#topics.set(name, topic);
    return topic;
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`log ${this.dir} is closed`);
  }
}

/** Takes `dir/writer.lock`, or throws `FM_FENCED` naming the live process that holds it. */
function acquireLock(dir: string): string {
  const path = join(realpathSync(dir), LOCK_FILE);
  if (HELD_LOCKS.has(path)) {
    throw new FlowmarkError('FM_FENCED', `log ${dir} is already open for writing in this process; close it first`);
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      HELD_LOCKS.add(path);
      return path;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number.parseInt(readLockHolder(path), 10);
    if (Number.isSafeInteger(holder) && holder !== process.pid && isAlive(holder)) {
      throw new FlowmarkError(
        'FM_FENCED',
        `log ${dir} is being written by process ${holder} (${path}); a log has one writer at a time. ` +
          'Stop that process, or open this log read-only. If no such process exists, delete the lock file.',
      );
    }
    // The holder is gone (killed): its lock is stale.
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new FlowmarkError('FM_FENCED', `log ${dir}: could not take ${path}; another process keeps taking it`);
}

function readLockHolder(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseLock(path: string): void {
  HELD_LOCKS.delete(path);
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
