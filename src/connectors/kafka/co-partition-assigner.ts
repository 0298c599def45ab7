/**
 * The consumer-group assignor of flowmark workers: co-partitioned topics (clicks and checkouts,
 * keyed by `user_id` with the same partitioner and partition count) must be read together, so a
 * member gets partition p of EVERY topic, never p of one topic only.
 *
 * Rule (sticky, {@link stickyPartitions}): each member keeps the partitions it owns (as its
 * subscription says, {@link MemberState}) up to its fair share (⌊n/m⌋, or one more for the n mod
 * m members that own the most), and only the rest — partitions of members that left, the share a
 * joining member needs, partitions added to the topics — are handed out, lowest first, to the
 * members below their share in member-id order. So a join or a leave moves only what it must, and
 * partitions added while running go to the members without moving the others (issue 16). With
 * nothing owned (the first rebalance) that is contiguous ranges by sorted member id
 * ({@link splitPartitions}). Deterministic: every member that computes it gets the same answer.
 *
 * @example
 * splitPartitions(4, ['b', 'a', 'c']) // Map { 'a' => [0, 1], 'b' => [2], 'c' => [3] }
 * stickyPartitions(4, [{ id: 'a', owned: [0, 1, 2, 3], generation: 3 }, { id: 'b', owned: [], generation: -1 }])
 * // Map { 'a' => [0, 1], 'b' => [2, 3] }: a keeps half, b gets the other half, nothing else moves
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

/** What a member tells the leader when it joins: the partitions it owns, since which generation, and the count it sees. */
export interface MemberState {
  id: string;
  /** Partition numbers it owns now (empty for a new member). */
  owned: readonly number[];
  /** The group generation that gave it `owned` (−1: none); a claim of a newer generation wins a conflict. */
  generation: number;
  /** The common partition count of the topics as the member last read it (0: unknown). */
  partitions?: number;
}

/** A member's state as the subscription's user data: JSON, so that a later version can add to it. */
export function encodeMemberState(state: Omit<MemberState, 'id'>): Buffer {
  return Buffer.from(
    JSON.stringify({ owned: state.owned, generation: state.generation, partitions: state.partitions ?? 0 }),
  );
}

/** The state in a member's user data; nothing owned when it is missing or unreadable (an older worker). */
export function decodeMemberState(id: string, userData: Buffer | string | undefined | null): MemberState {
  const none = { id, owned: [], generation: -1, partitions: 0 };
  if (userData === undefined || userData === null || userData.length === 0) return none;
  try {
    const o = JSON.parse(userData.toString()) as { owned?: unknown; generation?: unknown; partitions?: unknown };
    const owned = Array.isArray(o.owned) ? o.owned.filter((p): p is number => Number.isSafeInteger(p) && p >= 0) : [];
    const generation = Number.isSafeInteger(o.generation) ? (o.generation as number) : -1;
    const partitions = Number.isSafeInteger(o.partitions) ? (o.partitions as number) : 0;
    return { id, owned, generation, partitions };
  } catch {
    return none;
  }
}

/** Partition numbers 0..count−1 per member id, sticky (see the file comment). */
export function stickyPartitions(count: number, members: readonly MemberState[]): Map<string, number[]> {
  const ids = members.map((m) => m.id).sort();
  const out = new Map<string, number[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  // A partition two members claim (one was dropped and rejoined) goes to the newer generation's claim.
  const byClaim = [...members].sort((a, b) => b.generation - a.generation || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const owner = new Map<number, string>();
  const kept = new Map<string, number[]>(ids.map((id) => [id, []]));
  for (const m of byClaim) {
    for (const p of [...new Set(m.owned)].sort((a, b) => a - b)) {
      if (p >= count || owner.has(p)) continue;
      owner.set(p, m.id);
      kept.get(m.id)?.push(p);
    }
  }
  // Fair shares: the members that own the most get the extra partitions, so they give up least.
  const base = Math.floor(count / ids.length);
  const extra = count % ids.length;
  const byOwned = [...ids].sort((a, b) => (kept.get(b)?.length ?? 0) - (kept.get(a)?.length ?? 0) || (a < b ? -1 : 1));
  const share = new Map(byOwned.map((id, i) => [id, base + (i < extra ? 1 : 0)]));
  const taken = new Set<number>();
  for (const id of ids) {
    const mine = (kept.get(id) ?? []).slice(0, share.get(id));
    out.set(id, mine);
    for (const p of mine) taken.add(p);
  }
  let next = 0;
  for (const id of ids) {
    const mine = out.get(id) as number[];
    while (mine.length < (share.get(id) ?? 0)) {
      while (taken.has(next)) next++;
      mine.push(next);
      taken.add(next);
    }
    mine.sort((a, b) => a - b);
  }
  return out;
}

/**
 * The partition count the group runs with: the smallest count of the topics in the leader's
 * metadata (their co-partitioned prefix: between two `--alter` commands one topic may have more),
 * or a larger one a member read more recently (the leader's metadata may be seconds old).
 */
export function groupPartitionCount(
  topics: Iterable<string>,
  counts: (topic: string) => number | undefined,
  reported: Iterable<number>,
): number {
  const list = [...topics].map((t) => counts(t) ?? 0);
  if (list.length === 0) throw new FlowmarkError('FM_CONFIG_INVALID', 'a Kafka worker needs at least one topic');
  return Math.max(Math.min(...list), ...reported);
}

/** The `partitionAssigner` of @platformatic/kafka's consumer (run by the group leader). */
export function coPartitionAssigner(
  _current: string,
  members: Map<string, ExtendedGroupProtocolSubscription>,
  topics: Set<string>,
  metadata: ClusterMetadata,
): GroupPartitionsAssignments[] {
  const states = [...members].map(([id, m]) => decodeMemberState(id, m.metadata));
  const count = groupPartitionCount(
    topics,
    (t) => metadata.topics.get(t)?.partitionsCount,
    states.map((m) => m.partitions ?? 0),
  );
  const split = stickyPartitions(count, states);
  return [...split].map(([memberId, partitions]) => ({
    memberId,
    assignments: new Map([...topics].map((topic) => [topic, { topic, partitions: [...partitions] }])),
  }));
}
