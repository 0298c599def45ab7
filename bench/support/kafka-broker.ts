/**
 * A private Kafka broker for the kafka suite: `scripts/kafka.sh start` on free ports with its
 * state in a temp dir, stopped by `stop` — also on Ctrl-C / SIGTERM, after killing the flowmark
 * processes still running (bench/support/flowmark-process.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KafkaSource } from '../../src/connectors/kafka/index.ts';
import { killLiveProcesses } from './flowmark-process.ts';

const KAFKA_SH = fileURLToPath(new URL('../../scripts/kafka.sh', import.meta.url));

/** A broker for the benchmark, and how to get rid of it. */
export interface Broker {
  bootstrap: string;
  /** The JVM's pid when the broker is ours (for its CPU time). */
  pid: number | undefined;
  stop: () => void | Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function sh(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('bash', args, { env, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${args.join(' ')} failed: ${String(stderr).trim() || err.message}`));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A private broker on free ports, state in `dir`; stopped by `stop` (and on Ctrl-C / SIGTERM). */
export async function startPrivateBroker(dir: string): Promise<Broker> {
  const port = await freePort();
  let controller = await freePort();
  while (controller === port) controller = await freePort();
  const state = join(dir, 'kafka');
  const env = {
    ...process.env,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(controller),
    FLOWMARK_KAFKA_DIR: state,
  };
  process.stderr.write(`kafka bench: starting a private broker on 127.0.0.1:${port} (scripts/kafka.sh)\n`);
  let stopping: Promise<unknown> | undefined;
  const stop = () => {
    stopping ??= sh([KAFKA_SH, 'stop'], env).catch((err: unknown) => {
      process.stderr.write(`kafka bench: stopping the broker: ${String(err)}\n`);
    });
    return stopping.then(() => undefined);
  };
  // Ctrl-C must leave neither a JVM nor workers behind: kill the workers, stop the broker, then
  // die of the signal as usual.
  const onSignal = (signal: NodeJS.Signals) => {
    killLiveProcesses();
    void stop().finally(() => process.kill(process.pid, signal));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const release = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  try {
    const { stdout } = await sh([KAFKA_SH, 'start'], env);
    const pidText = existsSync(join(state, 'kafka.pid')) ? readFileSync(join(state, 'kafka.pid'), 'utf8') : '';
    return {
      bootstrap: stdout.trim().split('\n').at(-1) ?? `127.0.0.1:${port}`,
      pid: Number(pidText) || undefined,
      stop: async () => {
        await stop();
        release();
      },
    };
  } catch (err) {
    await stop();
    release();
    throw err;
  }
}

/** The broker given with `--kafka HOST:PORT`, else a private one in `dir`; or why there is none. */
export async function openBroker(given: string | undefined, dir: string): Promise<Broker | { error: string }> {
  if (given !== undefined) return givenBroker(given);
  try {
    return await startPrivateBroker(dir);
  } catch (err) {
    return {
      error: `no broker: scripts/kafka.sh start failed (${String(err).trim()}); give --kafka HOST:PORT to use a running one`,
    };
  }
}

/** A running broker given with `--kafka HOST:PORT`: `stop` only forgets the Ctrl-C handler. */
export function givenBroker(bootstrap: string): Broker {
  // Ctrl-C must not leave workers behind (they run in process groups of their own).
  const onSignal = (signal: NodeJS.Signals) => {
    killLiveProcesses();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    bootstrap,
    pid: undefined,
    stop: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * The kafka suite's reference: drains every partition of `topics` with the client alone
 * (`KafkaSource.standalone`, no processing); returns records and value bytes.
 */
export async function rawConsume(
  bootstrap: string,
  topics: string[],
  partitionCount: number,
): Promise<{ records: number; bytes: number }> {
  const partitions = Array.from({ length: partitionCount }, (_, p) => p);
  const sources = topics.map((topic) =>
    KafkaSource.standalone({ bootstrap: [bootstrap], topic, partitions, endAtOpen: true, clientId: 'flowmark-bench' }),
  );
  let records = 0;
  let bytes = 0;
  try {
    await Promise.all(
      sources.map(async (source) => {
        await source.open();
        for (;;) {
          const r = await source.poll(4096);
          records += r.records.length;
          for (const rec of r.records) bytes += rec.value.length;
          if (r.ended) return;
        }
      }),
    );
  } finally {
    await Promise.all(sources.map((s) => s.close()));
  }
  return { records, bytes };
}
