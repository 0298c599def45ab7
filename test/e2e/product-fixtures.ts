/**
 * The product as a user starts it: `bin/flowmark.js` in a child process, its dashboard URL read
 * from the line it prints once the HTTP server listens (`--port 0`: any free port).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';

export const BIN = new URL('../../bin/flowmark.js', import.meta.url).pathname;

export interface RunningProduct {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>/` */
  url: string;
  output(): string;
  /** Ctrl-C, and waits for the exit (SIGKILL after 20 s); resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `flowmark …args` and resolves once it prints its dashboard URL. Call `stop()` before
 * removing what it uses; it is also stopped after the test.
 */
export function startProduct(
  t: TestContext,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningProduct> {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    return child.exitCode;
  };
  // A test that failed midway: stop it anyway (after hooks run in the order they were added).
  t.after(stop);
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`no dashboard URL within 120 s:\n${output}`)), 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output);
      if (m !== null) {
        clearTimeout(guard);
        resolve({ child, url: m[1] as string, output: () => output, stop });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(guard);
      reject(new Error(`flowmark exited (${code ?? signal}) before serving:\n${output}`));
    });
  });
}
