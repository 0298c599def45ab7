/**
 * The partitioner of Kafka's Java client for a keyed record, so that flowmark and every other
 * Kafka client agree on where a user's records go:
 * `partition = (murmur2(utf8(key)) & 0x7fffffff) % partitions` — Java's `Utils.murmur2` and
 * `Utils.toPositive`, as the Java producer's built-in partitioner (and Kafka Streams, librdkafka's
 * `murmur2_random`, kafkajs' `JavaCompatiblePartitioner`) compute it.
 *
 * With the same partition count, a user's clicks and checkouts therefore share a partition number
 * (co-partitioning, ARCHITECTURE §3 / issue 7), whichever client wrote them.
 *
 * @example
 * murmur2(Buffer.from('21'))     // -973932308 (Kafka's UtilsTest)
 * partitionForKey('u000048', 4)  // the partition the Java producer picks for that key
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's 32-bit murmur2 of `data`, as a signed int32 (Java's `Utils.murmur2`). */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k =
      (data[i] as number) |
      ((data[i + 1] as number) << 8) |
      ((data[i + 2] as number) << 16) |
      ((data[i + 3] as number) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // The tail, as Java's fall-through switch: 3, 2 and 1 trailing bytes.
  const rest = length & 3;
  if (rest === 3) h ^= (data[whole + 2] as number) << 16;
  if (rest >= 2) h ^= (data[whole + 1] as number) << 8;
  if (rest >= 1) {
    h ^= data[whole] as number;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition of a keyed record among `partitions` (see the file comment). */
export function partitionForKey(key: string | Uint8Array, partitions: number): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  return (murmur2(bytes) & 0x7fffffff) % partitions;
}
