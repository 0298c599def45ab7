/**
 * What the Kafka connectors share: the bootstrap list of `--kafka` / `kafka.bootstrap`, the client
 * id, and how a failure of the Kafka client becomes a {@link FlowmarkError} a user can act on.
 */
import { FlowmarkError } from '../../engine/index.ts';

/** The client id flowmark's clients give the broker (its logs and quotas name it). */
export const KAFKA_CLIENT_ID = 'flowmark';

const BOOTSTRAP_FORM = 'host:port[,host:port…] such as 127.0.0.1:9092 or kafka1:9092,kafka2:9092';

/**
 * The brokers of a bootstrap list: `"host:port[,host:port…]"` → `['host:port', …]` (spaces around
 * the entries are dropped; an IPv6 address is written in brackets, `[::1]:9092`).
 * Throws FM_CONFIG_INVALID naming the bad entry, `name` and the expected form.
 *
 * @example
 * parseBootstrap('127.0.0.1:9092, kafka2:9093') // ['127.0.0.1:9092', 'kafka2:9093']
 * parseBootstrap('kafka')                       // throws: kafka.bootstrap: "kafka" has no port …
 */
export function parseBootstrap(text: string, name = 'kafka.bootstrap'): string[] {
  const entries = text.split(',').map((e) => e.trim());
  if (entries.every((e) => e === '')) {
    throw new FlowmarkError('FM_CONFIG_INVALID', `${name} must not be empty: give ${BOOTSTRAP_FORM}`);
  }
  return entries.map((entry) => {
    const bad = (why: string) =>
      new FlowmarkError('FM_CONFIG_INVALID', `${name}: ${JSON.stringify(entry)} ${why}; expected ${BOOTSTRAP_FORM}`);
    if (entry === '') throw bad('is an empty entry');
    const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]/@]+):([0-9]+)$/.exec(entry);
    if (m === null) {
      if (!/:[0-9]+$/.test(entry)) throw bad('has no port');
      throw bad('is not a host name or address followed by :port');
    }
    const port = Number(m[2]);
    if (!(port >= 1 && port <= 65_535)) throw bad('has a port outside 1–65535');
    return entry;
  });
}

/**
 * The messages of a Kafka client error and of the errors inside it (the client nests them:
 * "Producing messages failed." → "…Produce(v11)" → "The request included a message larger…"),
 * deepest first, without repeats.
 */
export function kafkaErrorText(err: unknown): string {
  const leaves: string[] = [];
  const walk = (e: unknown, depth: number) => {
    if (depth > 6 || e === null || typeof e !== 'object') return;
    const inner = (e as { errors?: unknown }).errors;
    if (Array.isArray(inner) && inner.length > 0) for (const x of inner) walk(x, depth + 1);
    else if (e instanceof Error) leaves.push(e.message);
  };
  walk(err, 0);
  if (leaves.length === 0) return err instanceof Error ? err.message : String(err);
  return [...new Set(leaves)].join('; ');
}

/** The Kafka protocol error code (`TOPIC_ALREADY_EXISTS`, …) of an error or of any error inside it. */
export function hasKafkaErrorId(err: unknown, id: string): boolean {
  if (err === null || typeof err !== 'object') return false;
  if ((err as { apiId?: unknown }).apiId === id) return true;
  const inner = (err as { errors?: unknown }).errors;
  return Array.isArray(inner) && inner.some((e) => hasKafkaErrorId(e, id));
}

/** A failure to talk to the brokers, as FM_KAFKA_UNAVAILABLE: what failed, where, and why. */
export function kafkaUnavailable(what: string, bootstrap: readonly string[], err: unknown): FlowmarkError {
  return new FlowmarkError(
    'FM_KAFKA_UNAVAILABLE',
    `${what} at ${bootstrap.join(',')} failed: ${kafkaErrorText(err)} (is the broker running and reachable?)`,
    { cause: err },
  );
}
