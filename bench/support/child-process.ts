/**
 * The child-process harness: a worker script (bench/support/workers/) in a Node process of its
 * own, so that its memory (peak RSS, heap) is its own and a child that runs out of heap is
 * reported, not fatal. A worker prints its result as one JSON line, last on stdout; stderr lines
 * starting with `forward` (e.g. `[state]`) are shown as they come.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What a worker did: its JSON result, or why not (exit code, its last stdout line, the end of stderr). */
export type ChildOutcome<T> =
  | { ok: true; result: T; seconds: number }
  | {
      ok: false;
      code: number | null;
      signal: NodeJS.Signals | null;
      /** Its last stdout line (a worker may say why it stopped there). */
      lastLine: string;
      stderrTail: string;
      /** V8 ran out of heap. */
      oom: boolean;
      seconds: number;
    };

export interface ChildOptions {
  /** Node flags before the script (`--expose-gc`, `--max-old-space-size=…`). */
  nodeFlags?: string[];
  env?: NodeJS.ProcessEnv;
  /** stderr lines starting with this are passed on to this process's stderr. */
  forward?: string;
}

/** The path of a worker script of bench/support/workers/. */
export function workerScript(name: string): string {
  return fileURLToPath(new URL(`./workers/${name}`, import.meta.url));
}

/** Runs `node [flags] script args…` to its end. */
export function runChild<T>(script: string, args: readonly string[], o: ChildOptions = {}): Promise<ChildOutcome<T>> {
  const started = performance.now();
  const child = spawn(process.execPath, [...(o.nodeFlags ?? []), script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(o.env === undefined ? {} : { env: o.env }),
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
    if (o.forward === undefined) return;
    for (const line of String(d).split('\n')) if (line.startsWith(o.forward)) process.stderr.write(`${line}\n`);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      const lastLine = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && lastLine.startsWith('{'))
        return resolve({ ok: true, result: JSON.parse(lastLine) as T, seconds });
      resolve({
        ok: false,
        code,
        signal,
        lastLine,
        stderrTail: err.trim().split('\n').slice(-3).join(' '),
        oom: /heap out of memory|Allocation failed/i.test(err),
        seconds,
      });
    });
  });
}

/** {@link runChild}, throwing with what the worker left on stderr when it fails. */
export async function runChildOrThrow<T>(
  what: string,
  script: string,
  args: readonly string[],
  o: ChildOptions = {},
): Promise<T> {
  const r = await runChild<T>(script, args, o);
  if (r.ok) return r.result;
  throw new Error(`${what} failed (exit ${r.code ?? r.signal}): ${r.stderrTail.slice(-500)}`);
}
