/**
 * The import of event files into a queue (./event-queue.ts: flowmark's log, or Kafka): resumable
 * and idempotent; {@link importFiles} is the one loop over the files of `flowmark import`.
 *
 * What has been appended from which file is recorded in the job's database as a checkpoint of a
 * job of its own (`import:<key>`, key = the queue and the file's real path), written by the
 * connectors' {@link SqlCommitter}: ONE transaction holds the dead letters of a chunk of lines and
 * the position after that chunk (bytes, lines, and the queue's end offsets right after the chunk
 * was made durable). The order within a chunk is: append the lines, flush the queue (fsync of the
 * log; acknowledgement of Kafka), then commit. So the record never claims more than the queue
 * holds: a kill before the commit leaves records in the queue past the recorded end offsets, and
 * the resumed import, which starts again at the recorded byte, recognises them: per partition, the
 * records after the recorded end are compared with the lines that go to that partition, in order,
 * and each line found there is not appended again (the log can tell; Kafka cannot, so there the
 * chunk in flight at a kill may be sent twice — at most {@link CHUNK_LINES} lines).
 *
 * A re-run of a finished import appends nothing and says so; a file that changed since (size,
 * modification time or the hash of its first MiB) is refused; `force` imports it again on purpose.
 */
import { createHash } from 'node:crypto';
import { open, realpath, stat } from 'node:fs/promises';
import type { DeadLetterRow } from '../attribution/event-types.ts';
import { routeLine } from '../attribution/events/index.ts';
import { deadLetter } from '../attribution/output-rows.ts';
import { SINK_TABLES } from '../attribution/output-schema.ts';
import { type SqlClient, SqlCommitter } from '../connectors/sql/index.ts';
import { type Clock, FlowmarkError, type SnapshotMeta } from '../engine/index.ts';
import type { EventQueue, ImportCounts, QueueEnds } from './event-queue.ts';

export type { ImportCounts, QueueEnds } from './event-queue.ts';

/** Lines per chunk: one flush of the queue and one transaction each. */
export const CHUNK_LINES = 20_000;
/** Bytes of lines per chunk, whichever comes first. */
const CHUNK_BYTES = 16 * 2 ** 20;
/** Characters of an oversized line kept in its dead letter. */
export const TOO_LARGE_HEAD_CHARS = 512;
const HEAD_HASH_BYTES = 2 ** 20;
const READ_BYTES = 2 ** 20;

/** Identifies a file's contents at import time. */
export interface FileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  headSha256: string;
}

/** What the database holds for one file's import. */
export interface ImportProgress {
  file: FileIdentity;
  /** Bytes of the file handled: each line before is in the queue or a dead letter. */
  bytes: number;
  lines: number;
  counts: ImportCounts;
  /** The queue's end offsets right after those lines were durable (when it can tell). */
  ends: QueueEnds | undefined;
  done: boolean;
  updatedAtMs: number;
}

export interface ImportFileResult {
  counts: ImportCounts;
  /** Already imported as it is: nothing was appended. */
  alreadyDone: boolean;
  /** Resumed after an import that stopped after this many lines; undefined: from the start. */
  resumedAtLine: number | undefined;
  /** Lines found in the queue when resuming (appended before the stop), not appended again. */
  foundInQueue: number;
  /** Lines of the file. */
  lines: number;
}

export interface ImportFileOptions {
  db: SqlClient;
  schema: string;
  queue: EventQueue;
  clock: Clock;
  /** Import again from the start even if the file was imported (or changed). */
  force?: boolean;
  /** Told the bytes of the file handled so far (for a progress line). */
  onBytes?: (bytes: number) => void;
  /**
   * For tests: a smaller chunk, and calls after a chunk was flushed (before its commit) and after
   * its commit — a test kills the process there.
   */
  hooks?: { chunkLines?: number; afterFlush?: (chunk: number) => void; afterCommit?: (chunk: number) => void };
}

/** A line of a file with the byte position after it (its newline included). */
interface FileLine {
  text: string;
  end: number;
}

/** The lines of `path` from byte `start` up to byte `limit`, with their end positions; `\r\n` ends too. */
export async function* fileLines(path: string, start: number, limit: number): AsyncGenerator<FileLine> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(READ_BYTES);
    let pos = start;
    let parts: Buffer[] = [];
    while (pos < limit) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(READ_BYTES, limit - pos), pos);
      if (bytesRead === 0) break;
      let i = 0;
      for (;;) {
        const nl = buf.indexOf(10, i);
        if (nl < 0 || nl >= bytesRead) break;
        const text =
          parts.length === 0
            ? buf.toString('utf8', i, nl)
            : Buffer.concat([...parts, buf.subarray(i, nl)]).toString('utf8');
        parts = [];
        yield { text: text.endsWith('\r') ? text.slice(0, -1) : text, end: pos + nl + 1 };
        i = nl + 1;
      }
      if (i < bytesRead) parts.push(Buffer.from(buf.subarray(i, bytesRead)));
      pos += bytesRead;
    }
    if (parts.length > 0) {
      const text = Buffer.concat(parts).toString('utf8');
      yield { text: text.endsWith('\r') ? text.slice(0, -1) : text, end: pos };
    }
  } finally {
    await fh.close();
  }
}

/** The identity of a file now: real path, size, modification time, hash of its first MiB. */
export async function fileIdentity(path: string): Promise<FileIdentity> {
  const real = await realpath(path);
  const st = await stat(real);
  const fh = await open(real, 'r');
  try {
    const head = Buffer.allocUnsafe(Math.min(HEAD_HASH_BYTES, st.size));
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return {
      path: real,
      size: st.size,
      mtimeMs: Math.floor(st.mtimeMs),
      headSha256: createHash('sha256').update(head.subarray(0, bytesRead)).digest('hex'),
    };
  } finally {
    await fh.close();
  }
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.headSha256 === b.headSha256;
}

/** The dead letter of a line too large for the queue: its head and its size, not the whole line. */
export function tooLargeLetter(
  line: string,
  bytes: number,
  limit: number,
  where: string,
  nowMs: number,
): DeadLetterRow {
  return deadLetter(
    'import',
    'too_large',
    line.slice(0, TOO_LARGE_HEAD_CHARS),
    `${where}: a line of ${bytes} bytes is larger than the ${limit} bytes a record may have; its first ${TOO_LARGE_HEAD_CHARS} characters are kept here`,
    nowMs,
  );
}

/** The progress record of one file's import in the database (a job `import:<key>` in `checkpoints`). */
class ProgressRecord {
  readonly #committer: SqlCommitter;
  #id = 0;

  constructor(db: SqlClient, schema: string, job: string) {
    this.#committer = new SqlCommitter(db, { schema, job, sinks: { dead_letters: SINK_TABLES.dead_letters } });
  }

  async load(): Promise<ImportProgress | undefined> {
    const point = await this.#committer.load();
    if (point === undefined) return undefined;
    this.#id = point.checkpointId;
    return (point.meta as SnapshotMeta & { import?: ImportProgress }).import;
  }

  async commit(progress: ImportProgress, deadLetters: DeadLetterRow[]): Promise<void> {
    const id = ++this.#id;
    const meta = { sources: {}, nodes: {}, import: progress } as SnapshotMeta;
    await this.#committer.commit({
      id,
      snapshot: { version: 1, checkpointId: id, kind: 'delta', meta, entries: [] },
      outputs: new Map([['dead_letters', deadLetters]]),
    });
  }
}

function describeWhen(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Imports one event file (see the file comment). Throws `FM_CONFIG_INVALID` for a file that
 * changed since it was (partly) imported, and `FM_LOG_CORRUPT` when the queue holds less than
 * the record says (another log than the one imported into); both name `--force`. A line larger
 * than the queue's largest record, routable or not, is a dead letter `too_large` (its head and
 * size): it is never parsed nor stored whole.
 */
export async function importEventFile(path: string, o: ImportFileOptions): Promise<ImportFileResult> {
  const file = await fileIdentity(path);
  const key = createHash('sha256').update(`${o.queue.scope}\n${file.path}`).digest('hex').slice(0, 32);
  const record = new ProgressRecord(o.db, o.schema, `import:${key}`);
  const before = await record.load();
  const counts: ImportCounts = { clicks: 0, checkouts: 0, deadLetters: 0 };
  let bytes = 0;
  let lines = 0;
  let recordedEnds: QueueEnds | undefined;
  if (before !== undefined && o.force !== true) {
    if (!sameFile(before.file, file)) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `${path} changed since it was ${before.done ? 'imported' : 'partly imported'} (${before.lines} lines, ${describeWhen(before.updatedAtMs)}): ` +
          `it was ${before.file.size} bytes modified ${describeWhen(before.file.mtimeMs)}, it is ${file.size} bytes modified ${describeWhen(file.mtimeMs)}. ` +
          'Nothing was appended. To append its lines again (those imported before stay where they are), run the same import with --force; ' +
          'to add only new events, put them in a file of their own.',
      );
    }
    if (before.done) {
      return {
        counts: before.counts,
        alreadyDone: true,
        resumedAtLine: undefined,
        foundInQueue: 0,
        lines: before.lines,
      };
    }
    ({ bytes, lines } = before);
    Object.assign(counts, before.counts);
    recordedEnds = before.ends;
    const now = o.queue.ends?.();
    if (recordedEnds !== undefined && now !== undefined) {
      for (const [topic, parts] of Object.entries(recordedEnds)) {
        for (const [p, end] of Object.entries(parts)) {
          const have = now[topic]?.[p] ?? 0;
          if (have < end) {
            throw new FlowmarkError(
              'FM_LOG_CORRUPT',
              `${path} was partly imported into ${o.queue.scope} (topic ${topic} partition ${p} then ended at offset ${end}), ` +
                `but it now ends at offset ${have}: it is not the queue the import wrote to (replaced, or restored from an older backup). ` +
                'Nothing was appended. To import the file into this queue from the start, run the same import with --force.',
            );
          }
        }
      }
    }
  } else {
    // Recorded before anything is appended: a kill during the first chunk is resumed like any other.
    await record.commit(
      { file, bytes: 0, lines: 0, counts, ends: o.queue.ends?.(), done: false, updatedAtMs: o.clock.nowMs() },
      [],
    );
  }
  const resumedAtLine = before !== undefined && o.force !== true ? lines : undefined;
  let foundInQueue = 0;
  let matching = recordedEnds !== undefined && resumedAtLine !== undefined;
  let dead: DeadLetterRow[] = [];
  let chunkLines = 0;
  let chunkBytes = 0;
  let chunk = 0;
  const where = `${path} line`;
  const commitChunk = async (position: number, done: boolean) => {
    await o.queue.flush();
    o.hooks?.afterFlush?.(++chunk);
    await record.commit(
      { file, bytes: position, lines, counts, ends: o.queue.ends?.(), done, updatedAtMs: o.clock.nowMs() },
      dead,
    );
    o.hooks?.afterCommit?.(chunk);
    dead = [];
    chunkLines = 0;
    chunkBytes = 0;
  };
  let position = bytes;
  for await (const { text: line, end } of fileLines(file.path, bytes, file.size)) {
    chunkBytes += end - position;
    position = end;
    lines++;
    o.onBytes?.(end);
    if (line.trim() === '') continue;
    // Size first: a huge line is neither parsed nor stored whole.
    const size = line.length * 3 > o.queue.maxRecordBytes ? Buffer.byteLength(line) : line.length;
    const r = size > o.queue.maxRecordBytes ? undefined : routeLine(line);
    if (r === undefined) {
      dead.push(tooLargeLetter(line, size, o.queue.maxRecordBytes, `${where} ${lines}`, o.clock.nowMs()));
      counts.deadLetters++;
    } else if ('reason' in r) {
      dead.push(deadLetter('import', r.reason, line, `${where} ${lines}: ${r.detail}`, o.clock.nowMs()));
      counts.deadLetters++;
    } else {
      if (matching && o.queue.alreadyThere?.(r.kind, line, r.key, lines, recordedEnds as QueueEnds) === true) {
        foundInQueue++;
      } else {
        await o.queue.append(r.kind, line, r.key, lines);
      }
      if (r.kind === 'click') counts.clicks++;
      else counts.checkouts++;
    }
    if (++chunkLines >= (o.hooks?.chunkLines ?? CHUNK_LINES) || chunkBytes >= CHUNK_BYTES) {
      await commitChunk(position, false);
      // What the stopped import appended lies within its last chunk, the one just re-read.
      matching = false;
    }
  }
  await commitChunk(file.size, true);
  return { counts, alreadyDone: false, resumedAtLine, foundInQueue, lines };
}

export function addCounts(into: ImportCounts, c: ImportCounts): void {
  into.clicks += c.clicks;
  into.checkouts += c.checkouts;
  into.deadLetters += c.deadLetters;
}

/** What `import` says about one file: already imported, or resumed (nothing for a plain import). */
export function describeImport(path: string, r: ImportFileResult, queue: string): string[] {
  if (r.alreadyDone) {
    return [
      `import: ${path} was imported already (${r.lines} lines: ${r.counts.clicks} clicks, ${r.counts.checkouts} checkouts, ${r.counts.deadLetters} dead letters); nothing appended. To append its lines again on purpose, add --force.`,
    ];
  }
  if (r.resumedAtLine === undefined) return [];
  return [
    `import: ${path}: resumed after line ${r.resumedAtLine}, where an earlier import of it stopped` +
      (r.foundInQueue > 0
        ? `; ${r.foundInQueue} lines it had appended were found in the ${queue} and not appended again`
        : ''),
  ];
}

export interface ImportFilesOptions extends Omit<ImportFileOptions, 'onBytes'> {
  /** Told the bytes handled of the file being imported. */
  onBytes?: (file: string, bytes: number) => void;
  /** Where the per-file lines go (already imported, resumed). */
  log: (line: string) => void;
}

/**
 * The one import loop: the files one after the other into `o.queue`. Returns the counts of the
 * files imported now (undefined when every file had been imported already).
 */
export async function importFiles(files: readonly string[], o: ImportFilesOptions): Promise<ImportCounts | undefined> {
  const counts: ImportCounts = { clicks: 0, checkouts: 0, deadLetters: 0 };
  let imported = 0;
  const { onBytes, log, ...options } = o;
  for (const file of files) {
    const r = await importEventFile(file, {
      ...options,
      ...(onBytes === undefined ? {} : { onBytes: (b: number) => onBytes(file, b) }),
    });
    for (const line of describeImport(file, r, o.queue.name)) log(line);
    if (!r.alreadyDone) {
      addCounts(counts, r.counts);
      imported++;
    }
  }
  return imported === 0 ? undefined : counts;
}
