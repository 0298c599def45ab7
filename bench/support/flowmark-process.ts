/**
 * `flowmark …` (bin/flowmark.js) as a child process of the kafka suite, in a process group of its
 * own, timed by /usr/bin/time when present; and what the machine's CPU did meanwhile (/proc).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/flowmark.js', import.meta.url));
/** GNU time: the CPU seconds and peak RSS of a child (absent: not measured). */
export const TIME = '/usr/bin/time';

/** The process groups of the flowmark processes running now (killed on Ctrl-C, failure or timeout). */
const live = new Set<number>();

/** Kills every flowmark process still running (Ctrl-C, failure). */
export function killLiveProcesses(): void {
  for (const pid of live) killGroup(pid);
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Runs `flowmark …` to the end, in a process group of its own (so that /usr/bin/time and the Node
 * under it go together); rejects with the end of its stderr when it fails, and kills it when it
 * has not exited after `timeoutMs` (a worker that hangs must not hang the benchmark).
 */
export function flowmark(
  args: string[],
  env: NodeJS.ProcessEnv,
  o: { nodeFlags?: string[]; timeFile?: string; timeoutMs: number },
): Promise<{ stderr: string }> {
  const argv = [...(o.nodeFlags ?? []), BIN, ...args];
  const child =
    o.timeFile === undefined
      ? spawn(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true })
      : spawn(TIME, ['-f', '%U %S %M', '-o', o.timeFile, process.execPath, ...argv], {
          env,
          stdio: ['ignore', 'ignore', 'pipe'],
          detached: true,
        });
  const pid = child.pid as number;
  live.add(pid);
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(pid);
  }, o.timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      live.delete(pid);
      killGroup(pid); // whatever it left behind
      if (code === 0) return resolve({ stderr });
      const tail = stderr.trim().split('\n').slice(-15).join('\n');
      const why = timedOut
        ? `had not exited after ${(o.timeoutMs / 1000).toFixed(0)} s (killed)`
        : `exited with ${code ?? signal}`;
      reject(new Error(`flowmark ${args.join(' ')} ${why}; its stderr ends:\n${tail}`));
    });
  });
}

/** CPU seconds (user + sys) of a process so far, from /proc; NaN when unknown. */
export function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after "pid (comm) ".
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

/** CPU time of the whole machine so far, from /proc/stat: busy and total seconds over all cores. */
export function machineCpu(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) / 100, total: total / 100 };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/** What one `flowmark run` process did. */
export interface WorkerRun {
  recordsRead: number;
  /** The time the worker reports itself (from its start of reading to the drain's end). */
  runSeconds: number;
  /** user + sys CPU seconds and peak RSS (KiB), from /usr/bin/time; NaN without it. */
  cpuSeconds: number;
  maxRssKiB: number;
  stderr: string;
}

/** `flowmark run --kafka --drain` as one worker of `group`, with its own data dir; what it did. */
export async function runKafkaWorker(
  bootstrap: string,
  url: string,
  schema: string,
  group: string,
  dataDir: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  nodeFlags: string[] = [],
): Promise<WorkerRun> {
  const timeFile = existsSync(TIME) ? `${dataDir}.time` : undefined;
  // Each worker its own data dir, as on machines of their own.
  const { stderr } = await flowmark(
    [
      'run',
      '--kafka',
      bootstrap,
      '--drain',
      '--group',
      group,
      '--database-url',
      url,
      '--database-schema',
      schema,
      '--data-dir',
      dataDir,
    ],
    env,
    { nodeFlags, timeoutMs, ...(timeFile === undefined ? {} : { timeFile }) },
  );
  const m = /run: (\d+) events in ([\d.]+) s/.exec(stderr);
  if (m === null) throw new Error(`flowmark run --kafka printed no summary line:\n${stderr}`);
  let cpuSeconds = Number.NaN;
  let maxRssKiB = Number.NaN;
  if (timeFile !== undefined) {
    const [user, sys, rss] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)?.split(' ') ?? [];
    cpuSeconds = Number(user) + Number(sys);
    maxRssKiB = Number(rss);
  }
  return { recordsRead: Number(m[1]), runSeconds: Number(m[2]), cpuSeconds, maxRssKiB, stderr };
}

/** What a variant's round cost the machine, next to its own CPU. */
export interface Cost {
  seconds: number;
  brokerCpu: number;
  /** CPU seconds the whole machine spent (every process: ours, PostgreSQL, the broker, other work). */
  machineBusy: number;
  /** Cores of the machine over the variant's time (machine CPU seconds / wall seconds). */
  cores: number;
}

/** Starts measuring what the machine and the broker (`brokerPid`) spend; the function returned says it, given the wall seconds. */
export function costMeter(brokerPid: number | undefined): (seconds: number) => Cost {
  const before = { broker: cpuSecondsOf(brokerPid), machine: machineCpu() };
  return (seconds) => {
    const m = machineCpu();
    return {
      seconds,
      brokerCpu: cpuSecondsOf(brokerPid) - before.broker,
      machineBusy: m.busy - before.machine.busy,
      cores: (m.total - before.machine.total) / seconds,
    };
  };
}

/** A round's cost in words: the machine's busy cores, the workers' (`workerCpu` s; NaN: unknown) and the broker's share. */
export function describeCost(c: Cost | undefined, workerCpu: number): string {
  if (c === undefined) return '—';
  return (
    `${(c.machineBusy / c.seconds).toFixed(2)} of ${c.cores.toFixed(0)} cores busy` +
    (Number.isNaN(workerCpu) ? '' : `; the workers ${(workerCpu / c.seconds).toFixed(2)}`) +
    (Number.isNaN(c.brokerCpu) ? '' : `, the broker ${(c.brokerCpu / c.seconds).toFixed(2)}`) +
    '; the rest: PostgreSQL and whatever else runs on the machine'
  );
}

/** A flowmark process left running (a live worker, a producer): stopped by a signal, awaited. */
export interface RunningFlowmark {
  /** Resolves with its stderr once it exits (any exit code: the caller judges). */
  exited: Promise<{ code: number | null; stderr: string }>;
  /** Sends `signal` (default SIGINT: a clean stop) to it. */
  stop(signal?: NodeJS.Signals): void;
  stderr(): string;
}

/** Starts `flowmark args` without waiting for it; killed with the others on Ctrl-C or failure. */
export function startFlowmark(args: string[], env: NodeJS.ProcessEnv): RunningFlowmark {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const pid = child.pid as number;
  live.add(pid);
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      live.delete(pid);
      killGroup(pid);
      resolve({ code, stderr });
    });
  });
  return {
    exited,
    stop: (signal = 'SIGINT') => {
      try {
        process.kill(pid, signal);
      } catch {
        // gone already
      }
    },
    stderr: () => stderr,
  };
}
