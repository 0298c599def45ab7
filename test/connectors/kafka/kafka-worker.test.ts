/**
 * KafkaWorker against a real broker: the co-partition assignor (pure), then the group: members
 * split the partitions disjointly and completely, one that leaves or is SIGKILLed gives its
 * partitions to the others, topics with different partition counts are refused, and a worker's
 * source mirrors offsets as a member of the group.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import type { ClusterMetadata, ExtendedGroupProtocolSubscription } from '@platformatic/kafka';
import { coPartitionAssigner, splitPartitions } from '../../../src/connectors/kafka/co-partition-assigner.ts';
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
  assert.throws(
    () => coPartitionAssigner('m1', members, new Set(['clicks', 'checkouts']), metadata({ clicks: 4, checkouts: 3 })),
    (e) =>
      isFlowmarkError(e, 'FM_KAFKA_NOT_COPARTITIONED') &&
      /clicks: 4 partitions, checkouts: 3 partitions/.test(e.message),
  );
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
    // Range-style over sorted member ids: the smaller id gets 0 and 1.
    const [low] = [a, b].sort((x, y) => ((x.memberId as string) < (y.memberId as string) ? -1 : 1));
    assert.deepEqual(low?.assignment, [0, 1]);
    await b.close();
    await until('A holds 0..3 again', () => last(seenA).join() === '0,1,2,3');
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
