/**
 * The paths a user gives the `flowmark` command, checked before anything is read or written, so
 * that an ordinary mistake (a typo, a directory for a file, an output that is an input) is one
 * line naming the flag and the path, not a stack trace or an emptied file.
 *
 * Outputs are written to a temporary file next to their final name and renamed over it at the
 * end ({@link AtomicOutputs}): a failed run leaves no half-written file and the old one intact.
 */
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  realpathSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FlowmarkError } from '../engine/index.ts';

function invalid(message: string, cause?: unknown): FlowmarkError {
  return new FlowmarkError('FM_CONFIG_INVALID', message, cause === undefined ? {} : { cause });
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** A path the user gave, with the flag that gave it (`--out`, `data_dir`, …). */
export interface GivenPath {
  flag: string;
  path: string;
}

/** The data dir as a {@link GivenPath}, for messages. */
export function dataDirPath(config: { dataDir: string }): GivenPath {
  return { flag: 'data dir', path: config.dataDir };
}

/** An input file: it must exist, be a file (not a directory) and be readable. */
export function checkInputFile({ flag, path }: GivenPath): string {
  const s = statOrUndefined(path);
  if (s === undefined) throw invalid(`${flag} ${path}: no such file`);
  if (s.isDirectory()) throw invalid(`${flag} ${path}: is a directory; give a file`);
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw invalid(`${flag} ${path}: cannot be read by this user (check its permissions)`);
  }
  return path;
}

/**
 * Output files: each one's directory must exist and be a directory, the file (if it exists)
 * must not be a directory, no output may be one of the `inputs` (the same file by device and
 * inode: through a symbolic or a hard link too), and no two outputs may be the same file.
 */
export function checkOutputFiles(outputs: readonly GivenPath[], inputs: readonly GivenPath[]): void {
  const inputIds = inputs.flatMap((i) => {
    const s = statOrUndefined(i.path);
    return s === undefined ? [] : [{ ...i, dev: s.dev, ino: s.ino }];
  });
  const seen = new Map<string, GivenPath>();
  for (const out of outputs) {
    const { flag, path } = out;
    const dir = dirname(resolve(path));
    const d = statOrUndefined(dir);
    if (d === undefined)
      throw invalid(`${flag} ${path}: the directory ${dirname(path)} does not exist (create it first)`);
    if (!d.isDirectory()) throw invalid(`${flag} ${path}: ${dirname(path)} is a file, not a directory`);
    const s = statOrUndefined(path);
    if (s?.isDirectory()) throw invalid(`${flag} ${path}: is a directory; give the path of a file to write`);
    if (s !== undefined) {
      const same = inputIds.find((i) => i.dev === s.dev && i.ino === s.ino);
      if (same !== undefined) {
        throw invalid(
          `${flag} ${path} is the input ${same.flag} ${same.path}${same.path === path ? '' : ' (the same file)'}: writing it would destroy the input; give another output path`,
        );
      }
    }
    const key = finalPath(path);
    const other = seen.get(key);
    if (other !== undefined)
      throw invalid(`${flag} ${path} and ${other.flag} ${other.path} are the same file; give each output its own path`);
    seen.set(key, out);
  }
}

/** Where writing `path` lands: through a symbolic link to its target, else the absolute path. */
function finalPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(resolve(path))), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/**
 * Output files written under temporary names in the same directories, renamed to their final
 * names by {@link commit} (a rename within a directory is atomic), or deleted by
 * {@link discard} when the run fails, and at the latest when the process exits.
 *
 * @example
 * const outs = AtomicOutputs.create({ out: 'attributed.jsonl' });
 * writeFileSync(outs.temporary.out, '…');
 * outs.commit(); // attributed.jsonl now holds '…'
 */
export class AtomicOutputs<K extends string> {
  /** Output → the temporary file to write instead. */
  readonly temporary: Readonly<Record<K, string>>;
  readonly #final: ReadonlyMap<K, string>;
  #done = false;
  readonly #onExit = () => this.discard();

  private constructor(temporary: Record<K, string>, final: Map<K, string>) {
    this.temporary = temporary;
    this.#final = final;
    process.once('exit', this.#onExit);
  }

  /**
   * Creates the (empty) temporary files now, so that an unwritable directory fails before any
   * work is done. `flags` names each output's flag for messages.
   */
  static create<K extends string>(
    outputs: Readonly<Record<K, string>>,
    flags: Partial<Record<K, string>> = {},
  ): AtomicOutputs<K> {
    const temporary = {} as Record<K, string>;
    const final = new Map<K, string>();
    const created: string[] = [];
    try {
      for (const [name, path] of Object.entries(outputs) as Array<[K, string]>) {
        const target = finalPath(path);
        const temp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
        try {
          closeSync(openSync(temp, 'w', 0o644));
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? 'error';
          const why =
            code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
              ? `cannot write into ${dirname(path)} (${code}; choose another directory or fix its permissions)`
              : `cannot be written (${code})`;
          throw invalid(`${flags[name] ?? name} ${path}: ${why}`, err);
        }
        created.push(temp);
        temporary[name] = temp;
        final.set(name, target);
      }
    } catch (err) {
      for (const t of created) removeQuietly(t);
      throw err;
    }
    return new AtomicOutputs(temporary, final);
  }

  /** Renames every temporary file to its final name. */
  commit(): void {
    if (this.#done) return;
    for (const [name, target] of this.#final) renameSync(this.temporary[name], target);
    this.#done = true;
    process.off('exit', this.#onExit);
  }

  /** Deletes the temporary files (a failed run): the final files are as they were. */
  discard(): void {
    if (this.#done) return;
    this.#done = true;
    process.off('exit', this.#onExit);
    for (const name of this.#final.keys()) removeQuietly(this.temporary[name]);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * Creates a directory and its missing parents, one level at a time. Node's own recursive mkdir
 * spins forever under /proc (mkdir there says ENOENT, the parent exists, so it retries) and on a
 * dangling symbolic link; this walks up to the nearest existing parent once and then down, so
 * each failure is final and named.
 */
export function makeDirectory({ flag, path }: GivenPath): void {
  const missing: string[] = [];
  let p = resolve(path);
  for (;;) {
    const s = statOrUndefined(p);
    if (s !== undefined) {
      if (!s.isDirectory()) {
        throw invalid(
          p === resolve(path)
            ? `${flag} ${path}: is a file, not a directory`
            : `${flag} ${path}: ${p} is a file, not a directory`,
        );
      }
      break;
    }
    missing.unshift(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statOrUndefined(dir)?.isDirectory()) continue;
      throw invalid(`${flag} ${path}: cannot create ${dir} (${describeCode(code)})`, err);
    }
  }
}

function describeCode(code: string | undefined): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `${code}: permission denied; choose another directory or fix its permissions`;
    case 'EROFS':
      return 'EROFS: a read-only file system; choose another directory';
    case 'ENOENT':
      return 'ENOENT: its parent cannot hold directories here (a special file system, or a dangling link)';
    case 'ENOSPC':
      return 'ENOSPC: the disk is full';
    default:
      return code ?? 'failed';
  }
}

/**
 * A directory this process must write into: it exists (or is created, when `create`), is a
 * directory, and this user can create a file in it (checked by creating one: permission bits say
 * nothing about read-only mounts, and root passes every access() check).
 */
export function checkWritableDirectory(given: GivenPath, { create }: { create: boolean }): void {
  const { flag, path } = given;
  const s = statOrUndefined(path);
  if (s === undefined) {
    if (!create) throw invalid(`${flag} ${path}: no such directory`);
    makeDirectory(given);
  } else if (!s.isDirectory()) {
    throw invalid(`${flag} ${path}: is a file, not a directory`);
  }
  const probe = join(path, `.flowmark-write-check.${process.pid}`);
  try {
    closeSync(openSync(probe, 'w'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw err; // a full disk is said as such
    throw invalid(`${flag} ${path}: this user cannot write into it (${describeCode(code)})`, err);
  }
  removeQuietly(probe);
}
