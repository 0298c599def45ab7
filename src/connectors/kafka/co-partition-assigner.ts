/**
 * The consumer-group assignor of flowmark workers: co-partitioned topics (clicks and checkouts,
 * keyed by `user_id` with the same partitioner and partition count) must be read together, so a
 * member gets partition p of EVERY topic, never p of one topic only.
 *
 * Rule: members sorted by member id; the partition numbers 0..n−1 split in contiguous ranges
 * (range-style), the first n mod m members one partition more. Deterministic: every member that
 * computes it (the group leader does) gets the same answer.
 *
 * @example
 * splitPartitions(4, ['b', 'a', 'c']) // Map { 'a' => [0, 1], 'b' => [2], 'c' => [3] }
 */

import type {
  ClusterMetadata,
  ExtendedGroupProtocolSubscription,
  GroupPartitionsAssignments,
} from '@platformatic/kafka';
import { FlowmarkError } from '../../engine/index.ts';

/** The group protocol (assignor) name: only flowmark workers can join a group that uses it. */
export const CO_PARTITION_PROTOCOL = 'flowmark-copartition';

/** Partition numbers per member id (see the file comment). */
export function splitPartitions(partitionCount: number, memberIds: Iterable<string>): Map<string, number[]> {
  const ids = [...memberIds].sort();
  const out = new Map<string, number[]>();
  const base = Math.floor(partitionCount / Math.max(1, ids.length));
  const extra = partitionCount % Math.max(1, ids.length);
  let next = 0;
  ids.forEach((id, i) => {
    const size = base + (i < extra ? 1 : 0);
    out.set(
      id,
      Array.from({ length: size }, (_, k) => next + k),
    );
    next += size;
  });
  return out;
}

/**
 * The common partition count of `topics`; throws `FM_KAFKA_NOT_COPARTITIONED` naming each topic
 * and its count when they differ (or a topic is missing).
 */
export function commonPartitionCount(topics: Iterable<string>, counts: (topic: string) => number | undefined): number {
  const list = [...topics].map((t) => [t, counts(t)] as const);
  const distinct = new Set(list.map(([, n]) => n));
  if (list.length === 0) throw new FlowmarkError('FM_CONFIG_INVALID', 'a Kafka worker needs at least one topic');
  if (distinct.size !== 1 || list.some(([, n]) => n === undefined)) {
    const what = list.map(([t, n]) => `${t}: ${n === undefined ? 'missing' : `${n} partitions`}`).join(', ');
    throw new FlowmarkError(
      'FM_KAFKA_NOT_COPARTITIONED',
      `Kafka topics are not co-partitioned (${what}): a worker reads partition p of every topic together, so they need ` +
        'the same partition count (and the same partitioner on user_id). Add partitions to the smaller topics ' +
        '(kafka-topics.sh --alter --partitions N) before any data is keyed, or repartition into new topics.',
    );
  }
  return list[0]?.[1] as number;
}

/** The `partitionAssigner` of @platformatic/kafka's consumer (run by the group leader). */
export function coPartitionAssigner(
  _current: string,
  members: Map<string, ExtendedGroupProtocolSubscription>,
  topics: Set<string>,
  metadata: ClusterMetadata,
): GroupPartitionsAssignments[] {
  const count = commonPartitionCount(topics, (t) => metadata.topics.get(t)?.partitionsCount);
  const split = splitPartitions(count, members.keys());
  return [...split].map(([memberId, partitions]) => ({
    memberId,
    assignments: new Map([...topics].map((topic) => [topic, { topic, partitions: [...partitions] }])),
  }));
}
