/**
 * The broker of the producer, admin and import tests (FLOWMARK_TEST_KAFKA): unique topic names,
 * reading a topic back with the library's own consumer (independent of flowmark's source), and
 * the Java client's jars of scripts/kafka.sh, to check placement against the real Java producer.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import { isCi, requireService } from '../../support/services.ts';

/** The broker's bootstrap address, or undefined (the test is skipped loudly; fails under CI). */
export function requireKafka(t: TestContext): string | undefined {
  return requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
}

let counter = 0;
/** A topic (or group) name that no other test or run uses. */
export function uniqueTopic(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

export interface ReadRecord {
  partition: number;
  offset: bigint;
  key: string | undefined;
  value: string;
}

/**
 * Every record of `topics` from the start, once `expected` records have been read (a topic holds
 * no more than the test wrote; fails after `timeoutMs` naming how many came).
 */
export async function readBack(
  bootstrap: string,
  topics: readonly string[],
  expected: number,
  timeoutMs = 60_000,
): Promise<Map<string, ReadRecord[]>> {
  const out = new Map<string, ReadRecord[]>(topics.map((t) => [t, []]));
  const consumer = new Consumer({
    clientId: 'flowmark-test-reader',
    groupId: uniqueTopic('flowmark-test-reader'),
    bootstrapBrokers: [bootstrap],
    deserializers: stringDeserializers,
  });
  let n = 0;
  try {
    const stream = await consumer.consume({ topics: [...topics], mode: 'earliest', autocommit: false });
    const timer = setTimeout(() => stream.close().catch(() => undefined), timeoutMs);
    try {
      if (expected > 0) {
        for await (const m of stream) {
          (out.get(m.topic) as ReadRecord[]).push({
            partition: m.partition,
            offset: m.offset,
            key: m.key === undefined || m.key === null || m.key === '' ? undefined : m.key,
            value: m.value ?? '',
          });
          if (++n >= expected) break;
        }
      }
    } finally {
      clearTimeout(timer);
      await stream.close().catch(() => undefined);
    }
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
  if (n < expected) throw new Error(`read ${n} of ${expected} records of ${topics.join(', ')} in ${timeoutMs} ms`);
  return out;
}

/**
 * The jars of the Kafka release scripts/kafka.sh runs (its cache), for a Java client; undefined
 * when there are none (skipped with a message; under CI a failure, since CI runs that broker).
 */
export function requireKafkaJars(t: TestContext): string | undefined {
  const pom = readFileSync(new URL('../../../scripts/kafka/pom.xml', import.meta.url), 'utf8');
  const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1] ?? '';
  const cache = process.env.FLOWMARK_KAFKA_CACHE || join(homedir(), '.cache', 'flowmark-kafka');
  const libs = join(cache, version, 'libs');
  if (existsSync(join(libs, `kafka-clients-${version}.jar`))) return libs;
  const message = `the Kafka ${version} jars are not in ${libs} (scripts/kafka.sh fetch puts them there)`;
  if (isCi()) throw new Error(`${message}; CI runs that broker, so they must be there`);
  console.warn(`\n!!! SKIPPED "${t.name}": ${message}\n`);
  t.skip(message);
  return undefined;
}
