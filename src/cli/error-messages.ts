/**
 * What the `flowmark` command says when a command fails: one line a user can act on, never a
 * stack trace for an ordinary mistake or a full disk, never a password (every line goes through
 * {@link scrubSecrets}). main.ts calls {@link describeFailure} for every failed command and
 * bin/flowmark.js for an error nobody caught.
 *
 * A full disk is recognised wherever it surfaces: a Node.js `ENOSPC`/`EDQUOT`, PGlite's file
 * system error (`ErrnoError` with the WASI number of ENOSPC), PostgreSQL's `disk_full` (53100),
 * anywhere in the error's `cause` chain; and, because PGlite can only abort when its disk fills
 * while it opens (`Aborted()`, no reason given), any failure while a disk the command writes to
 * has almost nothing left.
 */
import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FlowmarkError } from '../engine/index.ts';
import { scrubSecrets } from './secret-scrubbing.ts';

/** What the failed command was writing to, so that a full disk can be named. */
export interface FailureContext {
  /** Files or directories the command writes (need not exist yet): the data dir, the outputs. */
  writesTo?: readonly string[];
  /** The PostgreSQL server it writes to, for messages (its URL without password), if any. */
  server?: string;
}

export interface Failure {
  /** One line (or, for a configuration with several problems, one line per problem). */
  message: string;
  /** The stack, for an error that is a bug rather than a mistake or an outage. */
  stack?: string;
}

/** Less free space than this on a disk the command writes to, and the disk is the likely cause. */
export const NEARLY_FULL_BYTES = 1 << 20;

/** WASI's numbers (PGlite's file system errors): no space, quota exceeded. */
const WASI_DISK_FULL = new Set([51, 19]);

/** The error, its `cause`s and an AggregateError's `errors`, depth first. */
function* chain(err: unknown, depth = 0): Generator<unknown> {
  if (depth > 8 || err === undefined || err === null) return;
  yield err;
  if (typeof err !== 'object') return;
  const e = err as { cause?: unknown; errors?: unknown };
  yield* chain(e.cause, depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* chain(inner, depth + 1);
}

interface ErrnoLike {
  code?: unknown;
  errno?: unknown;
  name?: unknown;
  path?: unknown;
  syscall?: unknown;
  message?: unknown;
}

function isDiskFullCause(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const { code, errno, name } = e as ErrnoLike;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === '53100') return true;
  return name === 'ErrnoError' && typeof errno === 'number' && WASI_DISK_FULL.has(errno);
}

/** True when `err` (or one of its causes) says that a disk is full. */
export function isDiskFull(err: unknown): boolean {
  for (const e of chain(err)) if (isDiskFullCause(e)) return true;
  return false;
}

/** A server's disk_full is the server's disk, not one of ours. */
function isServerDiskFull(err: unknown): boolean {
  for (const e of chain(err)) if ((e as ErrnoLike | null)?.code === '53100') return true;
  return false;
}

/** The nearest existing directory at or above `path`. */
function existingDirectory(path: string): string {
  let p = resolve(path);
  for (;;) {
    try {
      statfsSync(p);
      return p;
    } catch {
      const up = dirname(p);
      if (up === p) return p;
      p = up;
    }
  }
}

/** Bytes free to this user on the disk holding `path` (or its nearest existing parent). */
export function freeBytes(path: string): number | undefined {
  try {
    const s = statfsSync(existingDirectory(path));
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

/** Of `paths`, the one on the disk with the least free space, and that space. */
function fullest(paths: readonly string[]): { path: string; free: number } | undefined {
  let best: { path: string; free: number } | undefined;
  for (const path of paths) {
    const free = freeBytes(path);
    if (free !== undefined && (best === undefined || free < best.free)) best = { path, free };
  }
  return best;
}

const grouped = (n: number) => n.toLocaleString('en-US').replaceAll(',', ' ');

/** The message of a full disk, naming it and what to do. */
export function diskFullMessage(path: string, free: number | undefined): string {
  const left = free === undefined ? '' : ` (${grouped(free)} bytes free)`;
  return `the disk holding ${path} is full${left}; free space and run the same command again — nothing was lost`;
}

/**
 * The text of anything thrown: an Error's message; for what is not an Error (PGlite's file
 * system errors are plain objects), its name, code or errno, never `[object Object]`.
 */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err !== 'object' || err === null) return String(err);
  const { message, name, code, errno } = err as ErrnoLike;
  if (typeof message === 'string' && message !== '') return message;
  const parts = [name, code, errno === undefined ? undefined : `errno ${String(errno)}`].filter(
    (p) => typeof p === 'string' || typeof p === 'number',
  );
  if (parts.length > 0) return parts.join(' ');
  try {
    return JSON.stringify(err);
  } catch {
    return 'an unknown error';
  }
}

/** Node's words for the errors a mistyped path gives, and what to do. */
const PATH_MISTAKES: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of this path is a file, not a directory',
  EISDIR: 'is a directory, not a file',
  EACCES: 'permission denied (choose another path, or fix its permissions)',
  EPERM: 'operation not permitted (choose another path, or fix its permissions)',
  EROFS: 'is on a read-only file system (choose another path)',
  EEXIST: 'already exists',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
};

/**
 * A Node.js file system error: a mistake in a path the user gave. Named by its path when the
 * error has one (a read of a directory has none: then the code says what kind of path to check).
 */
function pathMistake(err: unknown): string | undefined {
  for (const e of chain(err)) {
    const { code, path, syscall } = (e ?? {}) as ErrnoLike;
    if (typeof code !== 'string') continue;
    const why = PATH_MISTAKES[code];
    if (why === undefined) continue;
    const call = typeof syscall === 'string' ? `${syscall}, ` : '';
    if (typeof path === 'string') return `${path}: ${why} (${call}${code})`;
    return `a path given ${why} (${call}${code}): check the file and directory flags of the command`;
  }
  return undefined;
}

/**
 * What to print for a failed command: one line for a mistake, an outage or a full disk; the
 * message and the stack for anything else (a bug to report). Passwords are scrubbed.
 *
 * @example
 * describeFailure(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }),
 *   { writesTo: ['.flowmark'] }).message
 * // 'the disk holding .flowmark is full (0 bytes free); free space and run the same command again — nothing was lost'
 */
export function describeFailure(err: unknown, context: FailureContext = {}): Failure {
  const writesTo = context.writesTo ?? [];
  const configMistake = err instanceof FlowmarkError && err.code.startsWith('FM_CONFIG');
  if (!configMistake) {
    if (isServerDiskFull(err) && context.server !== undefined) {
      return {
        message: scrubSecrets(
          `the disk of the PostgreSQL server ${context.server} is full (${errorText(err)}); free space there and run the same command again — nothing was lost`,
        ),
      };
    }
    const full = fullest(writesTo);
    if (isDiskFull(err) || (full !== undefined && full.free < NEARLY_FULL_BYTES)) {
      return { message: scrubSecrets(diskFullMessage(full?.path ?? 'the data', full?.free)) };
    }
  }
  if (err instanceof FlowmarkError) {
    // A connector's message built from a plain object reads `[object Object]`: say what it was.
    const message = err.message.includes('[object Object]')
      ? err.message.replaceAll('[object Object]', errorText(err.cause))
      : err.message;
    return { message: scrubSecrets(message) };
  }
  const mistake = pathMistake(err);
  if (mistake !== undefined) return { message: scrubSecrets(mistake) };
  const stack = err instanceof Error ? err.stack : undefined;
  return {
    message: scrubSecrets(`unexpected error: ${errorText(err)}`),
    ...(stack === undefined ? {} : { stack: scrubSecrets(stack) }),
  };
}
