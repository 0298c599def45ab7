/**
 * A topic: a directory holding `topic.json` (format version and partition count, fixed at
 * creation), one directory per partition (`partition-<n>/`), and the committed positions of its
 * consumers (`consumers/<name>.json`).
 *
 * Guarantees: a topic is created atomically (built under a temporary name, synced, then renamed),
 * so a crash leaves either no topic or a whole one. A consumer's committed position is replaced
 * atomically (write to a temporary file, then rename); it serves retention and inspection only —
 * the exactly-once position of a pipeline lives in its checkpoint.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlowmarkError } from '../../engine/index.ts';
import type { LogDamage } from './log-damage.ts';
import { checkName, type ResolvedLogOptions } from './log-options.ts';
import { LogPartition, type LogRepair, syncDirectory } from './log-partition.ts';

export const TOPIC_FORMAT = 1;
const META_FILE = 'topic.json';
const CONSUMERS_DIR = 'consumers';

interface TopicMeta {
  format: number;
  partitions: number;
}

/** What `consumers/<name>.json` holds. */
export interface ConsumerPosition {
  consumer: string;
  /** Next offset to read, per partition. */
  offsets: Record<string, number>;
  committedAtMs: number;
}

export class LogTopic {
  readonly name: string;
  readonly dir: string;
  readonly partitions: readonly LogPartition[];

  private constructor(name: string, dir: string, partitions: LogPartition[]) {
    this.name = name;
    this.dir = dir;
    this.partitions = partitions;
  }

  /** Creates the topic's directory atomically under `root`. */
  static create(root: string, name: string, partitionCount: number, fsync: boolean): void {
    checkName('topic', name);
    if (!Number.isSafeInteger(partitionCount) || partitionCount < 1 || partitionCount > 10_000) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `topic ${name}: partitions must be an integer from 1 to 10000, got ${String(partitionCount)}`,
      );
    }
    const tmp = join(root, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(tmp);
    const meta: TopicMeta = { format: TOPIC_FORMAT, partitions: partitionCount };
    writeFileSync(join(tmp, META_FILE), `${JSON.stringify(meta)}\n`, { flush: fsync });
    for (let p = 0; p < partitionCount; p++) LogPartition.createFiles(join(tmp, `partition-${p}`), fsync);
    mkdirSync(join(tmp, CONSUMERS_DIR));
    syncDirectory(tmp, fsync);
    renameSync(tmp, join(root, name));
    syncDirectory(root, fsync);
  }

  /** Opens an existing topic; a writer repairs the tail of every partition (reported in `repairs`). */
  static open(
    root: string,
    name: string,
    opts: ResolvedLogOptions,
    repairs: LogRepair[],
    damages: LogDamage[] = [],
  ): LogTopic {
    const dir = join(root, name);
    let meta: TopicMeta;
    try {
      meta = JSON.parse(readFileSync(join(dir, META_FILE), 'utf8')) as TopicMeta;
    } catch (err) {
      throw new FlowmarkError(
        'FM_LOG_CORRUPT',
        `log topic ${name}: cannot read ${join(dir, META_FILE)} (${(err as Error).message}); ` +
          'restore it from a backup, or write {"format":1,"partitions":N} with N the number of partition-* directories',
        { cause: err },
      );
    }
    if (meta.format !== TOPIC_FORMAT || !Number.isSafeInteger(meta.partitions) || meta.partitions < 1) {
      throw new FlowmarkError(
        'FM_LOG_CORRUPT',
        `log topic ${name}: ${join(dir, META_FILE)} says ${JSON.stringify(meta)}; this flowmark reads format ${TOPIC_FORMAT} with a positive partition count`,
      );
    }
    const partitions: LogPartition[] = [];
    try {
      for (let p = 0; p < meta.partitions; p++) {
        const partition = new LogPartition(name, p, join(dir, `partition-${p}`), opts);
        if (!existsSync(partition.dir)) {
          throw new FlowmarkError('FM_LOG_CORRUPT', `log topic ${name}: directory ${partition.dir} is missing`);
        }
        partition.open(repairs, damages);
        partitions.push(partition);
      }
    } catch (err) {
      for (const p of partitions) p.close();
      throw err;
    }
    return new LogTopic(name, dir, partitions);
  }

  /** True when `root/name` holds a topic. */
  static exists(root: string, name: string): boolean {
    return existsSync(join(root, name, META_FILE));
  }

  /** The names of the topics under `root`. */
  static list(root: string): string[] {
    return readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.') && existsSync(join(root, e.name, META_FILE)))
      .map((e) => e.name)
      .sort();
  }

  partition(id: number): LogPartition {
    const p = this.partitions[id];
    if (p === undefined) {
      throw new RangeError(`log topic ${this.name} has partitions 0..${this.partitions.length - 1}; there is no ${id}`);
    }
    return p;
  }

  /** Records `consumer`'s next offsets (merged into what it committed for other partitions). */
  writeCommitted(consumer: string, nextOffsets: ReadonlyMap<number, number>, nowMs: number): void {
    checkName('consumer', consumer);
    const offsets = { ...(this.readCommitted(consumer)?.offsets ?? {}) };
    // (an unreadable file is replaced)
    for (const [p, o] of nextOffsets) offsets[String(p)] = o;
    const position: ConsumerPosition = { consumer, offsets, committedAtMs: nowMs };
    const dir = join(this.dir, CONSUMERS_DIR);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${consumer}.json`);
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(position)}\n`);
    renameSync(tmp, file);
  }

  /** What `consumer` committed, or undefined if it never did. */
  readCommitted(consumer: string): ConsumerPosition | undefined {
    checkName('consumer', consumer);
    const pos = readPosition(join(this.dir, CONSUMERS_DIR, `${consumer}.json`));
    return pos === 'unreadable' ? undefined : pos;
  }

  /** The names of the consumers that committed a position on this topic. */
  consumers(): string[] {
    const dir = join(this.dir, CONSUMERS_DIR);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
      .sort();
  }

  /**
   * Per partition, the smallest next offset committed by any consumer of this topic: retention
   * keeps every record at or after it. A partition no consumer committed is absent. A position
   * file that cannot be read counts as 0 for every partition (it protects everything).
   */
  minCommitted(): Map<number, number> {
    const min = new Map<number, number>();
    for (const consumer of this.consumers()) {
      const pos = readPosition(join(this.dir, CONSUMERS_DIR, `${consumer}.json`));
      if (pos === undefined) continue;
      for (const p of this.partitions) {
        const o = pos === 'unreadable' ? 0 : pos.offsets[String(p.id)];
        if (o === undefined) continue;
        min.set(p.id, Math.min(min.get(p.id) ?? Number.POSITIVE_INFINITY, o));
      }
    }
    return min;
  }
}

/** Reads a position file: undefined if missing (deleted meanwhile), 'unreadable' if it does not parse. */
function readPosition(file: string): ConsumerPosition | 'unreadable' | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as ConsumerPosition;
    if (typeof parsed.offsets === 'object' && parsed.offsets !== null) return parsed;
  } catch {
    // unreadable: below
  }
  return 'unreadable';
}
