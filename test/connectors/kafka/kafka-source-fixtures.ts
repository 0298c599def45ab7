/**
 * The Kafka broker of the tests (scripts/services.sh kafka → FLOWMARK_TEST_KAFKA) for the source
 * and worker tests: unique topics per test, records written to explicit partitions with the
 * library's own producer (independent of flowmark's producer), a private broker for restarts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { Admin, Producer, stringSerializers } from '@platformatic/kafka';
import { isCi, requireService } from '../../support/services.ts';

/** The broker's address, or undefined when none is configured. */
export const KAFKA: string | undefined = process.env.FLOWMARK_TEST_KAFKA || undefined;

/** Registers `suite` when the broker is there; otherwise one test that skips loudly (fails under CI). */
export function withKafka(name: string, suite: (bootstrap: string) => void): void {
  if (KAFKA !== undefined) {
    suite(KAFKA);
    return;
  }
  test(`${name} (needs a Kafka broker)`, (t: TestContext) => {
    requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  });
  if (isCi()) return;
}

let counter = 0;
/** A topic name no other test (or run) uses. */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** Helpers over one broker: topics, writes; everything opened is closed after the file's tests. */
export class TestBroker {
  readonly bootstrap: string;
  readonly admin: Admin;
  readonly producer: Producer<string, string, string, string>;

  constructor(bootstrap: string) {
    this.bootstrap = bootstrap;
    this.admin = new Admin({ clientId: 'flowmark-test', bootstrapBrokers: [bootstrap] });
    this.producer = new Producer({
      clientId: 'flowmark-test',
      bootstrapBrokers: [bootstrap],
      serializers: stringSerializers,
      acks: -1,
      idempotent: true,
    });
  }

  /** Closes both clients after the file's tests (call at the top level of a test file). */
  static shared(bootstrap: string): TestBroker {
    const b = new TestBroker(bootstrap);
    after(() => b.close());
    return b;
  }

  async createTopic(prefix: string, partitions: number, configs: Record<string, string> = {}): Promise<string> {
    const topic = uniqueName(prefix);
    await this.admin.createTopics({
      topics: [topic],
      partitions,
      replicas: 1,
      configs: Object.entries(configs).map(([name, value]) => ({ name, value })),
    });
    await this.waitForTopic(topic);
    return topic;
  }

  /** Until the topic's partitions have leaders (a new topic's metadata can lag a moment). */
  async waitForTopic(topic: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const md = await this.producer.metadata({ topics: [topic], forceUpdate: true }).catch(() => undefined);
      const t = md?.topics.get(topic);
      if (t?.partitions.every((p) => p.leader >= 0)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`topic ${topic} has no leaders`);
  }

  /** Writes `values` in order to the given partitions (one batch per call). */
  async write(topic: string, records: ReadonlyArray<{ partition: number; value: string | null }>): Promise<void> {
    for (let i = 0; i < records.length; i += 500) {
      await this.producer.send({
        messages: records.slice(i, i + 500).map((r) => ({
          topic,
          partition: r.partition,
          value: r.value as string,
        })),
      });
    }
  }

  async close(): Promise<void> {
    await this.producer.close().catch(() => {});
    await this.admin.close().catch(() => {});
  }
}

const run = promisify(execFile);

/**
 * A broker of one test's own (scripts/kafka.sh on a free port, data kept across stop/start), for
 * tests that stop and restart it. Stopped and deleted after the test.
 */
export async function privateBroker(
  t: TestContext,
  port: number,
): Promise<{ bootstrap: string; stop(): Promise<void>; start(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-kafka-private-'));
  const env = { ...process.env, KAFKA_PORT: String(port), FLOWMARK_KAFKA_DIR: dir, FLOWMARK_KAFKA_KEEP_DATA: '1' };
  const script = join(import.meta.dirname, '..', '..', '..', 'scripts', 'kafka.sh');
  const start = async () => {
    await run(script, ['start'], { env, timeout: 180_000 });
  };
  const stop = async () => {
    await run(script, ['stop'], { env, timeout: 120_000 });
  };
  await start();
  t.after(async () => {
    await run(script, ['stop'], { env: { ...env, FLOWMARK_KAFKA_KEEP_DATA: '0' }, timeout: 120_000 }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });
  return { bootstrap: `127.0.0.1:${port}`, stop, start };
}

/** A port p with p and p + 1 free on 127.0.0.1 (a broker and its controller). */
export async function freePortPair(): Promise<number> {
  const { createServer } = await import('node:net');
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await free(port)) && (await free(port + 1))) return port;
  }
  throw new Error('no free port pair');
}
