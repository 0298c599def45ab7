/**
 * KafkaWorker against a real broker: the co-partition assignor (pure, sticky), then the group:
 * members split the partitions disjointly and completely, one that joins takes only its share,
 * one that leaves or is SIGKILLed gives its partitions to the others, partitions added while
 * running are handed out without a restart, topics with different partition counts are refused,
 * and a worker's source mirrors offsets as a member of the group.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import type { ClusterMetadata, ExtendedGroupProtocolSubscription } from '@platformatic/kafka';
import {
  coPartitionAssigner,
  decodeMemberState,
  encodeMemberState,
  type MemberState,
  splitPartitions,
  stickyPartitions,
} from '../../../src/connectors/kafka/co-partition-assigner.ts';
import { KafkaWorker } from '../../../src/connectors/kafka/kafka-worker.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { TestBroker, uniqueName, withKafka } from './kafka-source-fixtures.ts';

test('splitPartitions: contiguous ranges by sorted member id, the first ones one more', () => {
  assert.deepEqual(
    splitPartitions(4, ['b', 'a', 'c']),
    new Map([
      ['a', [0, 1]],
      ['b', [2]],
      ['c', [3]],
    ]),
  );
  assert.deepEqual(
    splitPartitions(2, ['x', 'y', 'z']),
    new Map([
      ['x', [0]],
      ['y', [1]],
      ['z', []],
    ]),
  );
  assert.deepEqual(splitPartitions(3, ['m']), new Map([['m', [0, 1, 2]]]));
});

function metadata(counts: Record<string, number>): ClusterMetadata {
  return {
    id: 'c',
    brokers: new Map(),
    controllerId: 1,
    lastUpdate: 0,
    topics: new Map(
      Object.entries(counts).map(([t, n]) => [
        t,
        { id: t, partitionsCount: n, partitions: [], lastUpdate: 0 } as ClusterMetadata['topics'] extends Map<
          string,
          infer V
        >
          ? V
          : never,
      ]),
    ),
  };
}

test('coPartitionAssigner gives a member partition p of every topic together', () => {
  const members = new Map<string, ExtendedGroupProtocolSubscription>(
    ['m2', 'm1'].map((id) => [id, { memberId: id, version: 1, topics: ['clicks', 'checkouts'] }]),
  );
  const out = coPartitionAssigner(
    'm1',
    members,
    new Set(['clicks', 'checkouts']),
    metadata({ clicks: 4, checkouts: 4 }),
  );
  const byMember = new Map(
    out.map((m) => [m.memberId, [...m.assignments.values()].map((a) => `${a.topic}:${a.partitions.join(',')}`)]),
  );
  assert.deepEqual(
    byMember,
    new Map([
      ['m1', ['clicks:0,1', 'checkouts:0,1']],
      ['m2', ['clicks:2,3', 'checkouts:2,3']],
    ]),
  );
  // Between two `--alter` commands one topic has more partitions: the common prefix is assigned.
  const prefix = coPartitionAssigner(
    'm1',
    members,
    new Set(['clicks', 'checkouts']),
    metadata({ clicks: 4, checkouts: 3 }),
  );
  assert.deepEqual(prefix.flatMap((m) => m.assignments.get('clicks')?.partitions ?? []).sort(), [0, 1, 2]);
});

const member = (id: string, owned: number[], generation = owned.length > 0 ? 1 : -1): MemberState => ({
  id,
  owned,
  generation,
});
const moved = (before: Map<string, number[]>, after: Map<string, number[]>) => {
  let n = 0;
  for (const [id, ps] of after) for (const p of ps) if (!(before.get(id) ?? []).includes(p)) n++;
  return n;
};

test('stickyPartitions: with nothing owned, the contiguous ranges of splitPartitions', () => {
  for (const [count, ids] of [
    [4, ['b', 'a', 'c']],
    [2, ['x', 'y', 'z']],
    [7, ['m', 'k']],
  ] as const) {
    assert.deepEqual(
      stickyPartitions(
        count,
        ids.map((id) => member(id, [])),
      ),
      splitPartitions(count, ids),
    );
  }
});

test('stickyPartitions: a member that joins takes only its share; the others keep theirs (issue 16)', () => {
  const two = new Map([
    ['a', [0, 1, 2]],
    ['b', [3, 4, 5]],
  ]);
  const three = stickyPartitions(6, [member('a', [0, 1, 2]), member('b', [3, 4, 5]), member('0-new', [])]);
  assert.deepEqual(three.get('0-new')?.length, 2, 'its fair share');
  assert.equal(moved(two, three), 2, 'only the two it takes move');
  for (const id of ['a', 'b']) for (const p of three.get(id) ?? []) assert.ok(two.get(id)?.includes(p));
  // The range assignor would have moved 3: 0-new sorts first and takes 0 and 1, a then takes 3 from b.
  assert.equal(moved(two, splitPartitions(6, ['a', 'b', '0-new'])), 3);
});

test('stickyPartitions: a leave hands out only the leaver’s partitions; added partitions move nothing else', () => {
  const before = new Map([
    ['a', [0, 1]],
    ['b', [2, 3]],
    ['c', [4, 5]],
  ]);
  const afterLeave = stickyPartitions(6, [member('a', [0, 1]), member('c', [4, 5])]);
  assert.deepEqual(
    afterLeave,
    new Map([
      ['a', [0, 1, 2]],
      ['c', [3, 4, 5]],
    ]),
  );
  const grown = stickyPartitions(9, [member('a', [0, 1]), member('b', [2, 3]), member('c', [4, 5])]);
  assert.deepEqual(
    grown,
    new Map([
      ['a', [0, 1, 6]],
      ['b', [2, 3, 7]],
      ['c', [4, 5, 8]],
    ]),
  );
  assert.equal(moved(before, grown), 3, 'only the 3 new partitions are handed out');
});

test('stickyPartitions: every partition exactly once, shares within one, whatever the claims (stale, doubled, out of range)', () => {
  const cases: Array<[number, MemberState[]]> = [
    [4, [member('a', [0, 1, 2, 3], 5), member('b', [0, 1], 3)]], // b was dropped and rejoined with a stale claim
    [3, [member('a', [0, 1, 2, 7, 9]), member('b', []), member('c', [])]],
    [5, [member('a', [4, 4, 4]), member('b', [4, 3], 2)]],
    [0, [member('a', [0])]],
  ];
  for (const [count, members] of cases) {
    const out = stickyPartitions(count, members);
    const all = [...out.values()].flat().sort((x, y) => x - y);
    assert.deepEqual(
      all,
      Array.from({ length: count }, (_, i) => i),
      JSON.stringify(members),
    );
    const sizes = [...out.values()].map((ps) => ps.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, JSON.stringify([...out]));
  }
  // The newer generation's claim wins a partition claimed twice.
  const out = stickyPartitions(4, [member('a', [0, 1], 2), member('b', [0, 1], 7)]);
  assert.deepEqual(out.get('b'), [0, 1]);
});

test('member state round-trips through the subscription; an unreadable one owns nothing', () => {
  const buf = encodeMemberState({ owned: [2, 5], generation: 9, partitions: 6 });
  assert.deepEqual(decodeMemberState('m', buf), { id: 'm', owned: [2, 5], generation: 9, partitions: 6 });
  for (const bad of [undefined, null, Buffer.alloc(0), Buffer.from('not json'), Buffer.from('{"owned":"x"}')]) {
    assert.deepEqual(decodeMemberState('m', bad).owned, []);
  }
});

/** Waits until `check()` is true (polling), failing with `what` if it never is. */
async function until(what: string, check: () => boolean, deadlineMs = 60_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) assert.fail(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

withKafka('KafkaWorker', (bootstrap) => {
  const broker = TestBroker.shared(bootstrap);

  async function topics(n: number): Promise<string[]> {
    return [await broker.createTopic('clicks', n), await broker.createTopic('checkouts', n)];
  }

  function worker(groupId: string, ts: string[], seen: number[][]): KafkaWorker {
    return new KafkaWorker({
      bootstrap: [bootstrap],
      groupId,
      topics: ts,
      clientId: 'flowmark-test',
      onAssignment: (p) => seen.push([...p]),
      onWarning: () => {},
    });
  }

  const last = (seen: number[][]) => seen.at(-1) ?? [];

  test('two workers split the partitions disjointly and completely; closing one gives all to the other', async (t) => {
    const ts = await topics(4);
    const groupId = uniqueName('group');
    const seenA: number[][] = [];
    const seenB: number[][] = [];
    const a = worker(groupId, ts, seenA);
    t.after(() => a.close());
    await a.start();
    assert.deepEqual(last(seenA), [0, 1, 2, 3]);
    const b = worker(groupId, ts, seenB);
    t.after(() => b.close());
    await b.start();
    await until('A and B hold disjoint halves covering 0..3', () => {
      const all = [...last(seenA), ...last(seenB)].sort();
      return last(seenA).length === 2 && last(seenB).length === 2 && all.join() === '0,1,2,3';
    });
    // Sticky: A keeps the lower half of what it owned, B takes the rest, whatever their ids.
    assert.deepEqual(a.assignment, [0, 1]);
    assert.deepEqual(b.assignment, [2, 3]);
    await b.close();
    await until('A holds 0..3 again', () => last(seenA).join() === '0,1,2,3');
  });

  test('a worker that joins takes only its share: the others keep what they had (sticky, issue 16)', async (t) => {
    const ts = await topics(6);
    const groupId = uniqueName('group-sticky');
    const seen: Record<'a' | 'b' | 'c', number[][]> = { a: [], b: [], c: [] };
    const a = worker(groupId, ts, seen.a);
    t.after(() => a.close());
    await a.start();
    const b = worker(groupId, ts, seen.b);
    t.after(() => b.close());
    await b.start();
    await until('A and B hold 3 each', () => last(seen.a).length === 3 && last(seen.b).length === 3);
    const before = { a: last(seen.a), b: last(seen.b) };
    const c = worker(groupId, ts, seen.c);
    t.after(() => c.close());
    await c.start();
    await until('A, B and C hold 2 each', () => ['a', 'b', 'c'].every((k) => last(seen[k as 'a']).length === 2));
    assert.deepEqual([...last(seen.a), ...last(seen.b), ...last(seen.c)].sort(), [0, 1, 2, 3, 4, 5]);
    for (const k of ['a', 'b'] as const) {
      for (const p of last(seen[k]))
        assert.ok(before[k].includes(p), `${k} kept its own: ${before[k]} → ${last(seen[k])}`);
    }
    // C leaves: its two go back, and A and B keep theirs again.
    const kept = { a: last(seen.a), b: last(seen.b) };
    await c.close();
    await until('A and B hold 3 each again', () => last(seen.a).length === 3 && last(seen.b).length === 3);
    for (const k of ['a', 'b'] as const) for (const p of kept[k]) assert.ok(last(seen[k]).includes(p));
  });

  test('partitions added to the topics while running are handed out without a restart, moving nothing else (issue 16)', async (t) => {
    const ts = await topics(4);
    const groupId = uniqueName('group-grow');
    const seenA: number[][] = [];
    const seenB: number[][] = [];
    const added: Array<[number, number]> = [];
    const make = (seen: number[][]) =>
      new KafkaWorker({
        bootstrap: [bootstrap],
        groupId,
        topics: ts,
        clientId: 'flowmark-test',
        onAssignment: (p) => seen.push([...p]),
        onWarning: () => {},
        partitionCheckMs: 300,
        onPartitionsAdded: (from, to) => added.push([from, to]),
      });
    const a = make(seenA);
    t.after(() => a.close());
    await a.start();
    const b = make(seenB);
    t.after(() => b.close());
    await b.start();
    await until('A and B hold 2 each', () => last(seenA).length === 2 && last(seenB).length === 2);
    const before = { a: last(seenA), b: last(seenB) };
    // One topic first: until the other has as many, the co-partitioned prefix (4) is what is read.
    await broker.admin.createPartitions({ topics: [{ name: ts[0] as string, count: 6 }] });
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual([...last(seenA), ...last(seenB)].sort(), [0, 1, 2, 3]);
    await broker.admin.createPartitions({ topics: [{ name: ts[1] as string, count: 6 }] });
    await until('A and B hold 0..5', () => [...last(seenA), ...last(seenB)].sort().join() === '0,1,2,3,4,5');
    assert.ok(before.a.every((p) => last(seenA).includes(p)) && before.b.every((p) => last(seenB).includes(p)));
    assert.equal(last(seenA).length, 3);
    assert.equal(a.partitionCount, 6);
    assert.ok(
      added.some(([from, to]) => from === 4 && to === 6),
      JSON.stringify(added),
    );
  });

  test('a worker SIGKILLed mid-membership loses its partitions to the others after the session timeout', async (t) => {
    const ts = await topics(4);
    const groupId = uniqueName('group-kill');
    const seenA: number[][] = [];
    const a = worker(groupId, ts, seenA);
    t.after(() => a.close());
    await a.start();
    const script = `
      import { KafkaWorker } from ${JSON.stringify(new URL('../../../src/connectors/kafka/kafka-worker.ts', import.meta.url).pathname)};
      const w = new KafkaWorker({ bootstrap: [${JSON.stringify(bootstrap)}], groupId: ${JSON.stringify(groupId)},
        topics: ${JSON.stringify(ts)}, sessionTimeoutMs: 6000, onWarning: () => {},
        onAssignment: (p) => console.log(JSON.stringify(p)) });
      await w.start();
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => child.kill('SIGKILL'));
    const childSeen: number[][] = [];
    createInterface({ input: child.stdout }).on('line', (line) => childSeen.push(JSON.parse(line)));
    await until('the child and A split 0..3', () => last(childSeen).length === 2 && last(seenA).length === 2);
    assert.deepEqual([...last(seenA), ...last(childSeen)].sort(), [0, 1, 2, 3]);
    child.kill('SIGKILL');
    await until('A holds 0..3 after the child died', () => last(seenA).join() === '0,1,2,3');
  });

  test('topics with different partition counts are refused with FM_KAFKA_NOT_COPARTITIONED', async (t) => {
    const ts = [await broker.createTopic('clicks', 4), await broker.createTopic('checkouts', 2)];
    const w = worker(uniqueName('group-bad'), ts, []);
    t.after(() => w.close());
    await assert.rejects(
      w.start(),
      (e) =>
        isFlowmarkError(e, 'FM_KAFKA_NOT_COPARTITIONED') &&
        e.message.includes(`${ts[0]}: 4 partitions`) &&
        e.message.includes(`${ts[1]}: 2 partitions`),
    );
  });

  test("a worker's source reads its partitions and mirrors offsets as a member of the group", async (t) => {
    const ts = await topics(2);
    const [clicks] = ts as [string, string];
    await broker.write(clicks, [
      { partition: 0, value: 'a' },
      { partition: 1, value: 'b' },
      { partition: 1, value: 'c' },
    ]);
    const groupId = uniqueName('group-src');
    const w = worker(groupId, ts, []);
    t.after(() => w.close());
    await w.start();
    const src = w.source(clicks, { partitions: w.assignment, endAtOpen: true });
    const values: string[] = [];
    for (let i = 0; i < 100; i++) {
      const res = await src.poll(10);
      values.push(...res.records.map((r) => r.value));
      if (res.ended === true) break;
    }
    assert.deepEqual(values.sort(), ['a', 'b', 'c']);
    await src.commit(
      new Map([
        [0, 1],
        [1, 2],
      ]),
    );
    const [group] = await broker.admin.listConsumerGroupOffsets({ groups: [groupId] });
    const parts = group?.topics.find((x) => x.name === clicks)?.partitions ?? [];
    assert.deepEqual(parts.map((p) => [p.partitionIndex, Number(p.committedOffset)]).sort(), [
      [0, 1],
      [1, 2],
    ]);
    assert.throws(() => w.source('other', { partitions: [0] }), /not one of its topics/);
  });
});
