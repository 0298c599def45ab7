/**
 * The contract every `SourceReader<string>` implementation must meet (docs/engine.md, "Sources,
 * partitions and offsets"), as one suite that each implementation's test file runs with a
 * factory:
 *
 *   sourceContract('MemorySource', async (records, { partitions, drain }) => ({ reader, append, close }));
 *
 * `makeSource` returns a reader over `records` (appended in the given order to `partitions`
 * partitions numbered 0..n−1); with `drain` it is bounded (it ends after those records), without
 * it is live and `append` (optional) adds records that later polls must deliver.
 *
 * Implementations: MemorySource (test/connectors/memory/memory-source.test.ts), LogSource
 * (test/connectors/log/log-source.test.ts), KafkaSource (test/connectors/kafka/kafka-source.test.ts),
 * LineFileSource (test/connectors/files/line-file-source.test.ts: one partition, bounded only —
 * see {@link SourceShape}).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PollResult, SourceReader, SourceRecord } from '../../src/engine/source.ts';

export interface ContractRecord {
  partition: number;
  payload: string;
}

export interface ContractSource {
  reader: SourceReader<string>;
  /** Adds records to a live source; they are visible to the next poll once this resolves. */
  append?(records: ContractRecord[]): Promise<void>;
  close(): Promise<void>;
}

export type MakeSource = (
  records: ContractRecord[],
  options: { partitions: number; drain: boolean },
) => Promise<ContractSource>;

/** Deterministic records spread unevenly over partitions (payloads unique, some non-ASCII). */
export function contractRecords(count: number, partitions: number, seed = 7): ContractRecord[] {
  let x = seed;
  const out: ContractRecord[] = [];
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    // Partition 0 gets twice the share of the others.
    const partition = ((x >>> 8) % (partitions + 1)) % partitions;
    out.push({ partition, payload: `{"n":${i},"text":"é${'x'.repeat(i % 17)}"}` });
  }
  return out;
}

/** Payloads per partition, in order. */
function byPartition(
  records: ReadonlyArray<{ partition: number; payload?: string; value?: string }>,
): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const r of records) {
    const list = m.get(r.partition) ?? [];
    list.push((r.payload ?? r.value) as string);
    m.set(r.partition, list);
  }
  return m;
}

/** Polls until `ended` (or `maxPolls` polls), checking each poll's size. */
async function pollUntilEnded(
  reader: SourceReader<string>,
  maxRecords: number,
  maxPolls = 10_000,
): Promise<{ records: SourceRecord<string>[]; polls: PollResult<string>[] }> {
  const records: SourceRecord<string>[] = [];
  const polls: PollResult<string>[] = [];
  for (let i = 0; i < maxPolls; i++) {
    const res = await reader.poll(maxRecords);
    assert.ok(res.records.length <= maxRecords, `a poll of ${maxRecords} returned ${res.records.length} records`);
    polls.push(res);
    records.push(...res.records);
    if (res.ended === true) return { records, polls };
  }
  assert.fail(`the source did not end within ${maxPolls} polls`);
}

/** Polls a live source until a poll returns nothing. */
async function pollUntilEmpty(reader: SourceReader<string>, maxRecords: number): Promise<SourceRecord<string>[]> {
  const records: SourceRecord<string>[] = [];
  for (let i = 0; i < 10_000; i++) {
    const res = await reader.poll(maxRecords);
    assert.ok(res.records.length <= maxRecords);
    if (res.records.length === 0) return records;
    records.push(...res.records);
  }
  assert.fail('the source kept delivering records');
}

/** Contract cases an implementation is known to fail: marked `todo` (reported, not failing) with the reason. */
export interface KnownGaps {
  /** `seek` to per-partition offsets that are not a prefix of the order the reader delivers in. */
  seekToAnyOffsets?: string;
}

/** What a source can be asked for: the cases adapt to a source with fewer partitions, or no live mode. */
export interface SourceShape {
  /** The most partitions the source can have (a line file: 1). Cases use at most this many. */
  maxPartitions?: number;
  /** False for a source that is always bounded (a file): the live case is skipped. */
  live?: boolean;
}

export function sourceContract(
  name: string,
  makeSource: MakeSource,
  gaps: KnownGaps = {},
  shape: SourceShape = {},
): void {
  /** `n` partitions, or as many as the source can have. */
  const P = (n: number) => Math.min(n, shape.maxPartitions ?? n);
  const range = (n: number) => Array.from({ length: n }, (_, p) => p);
  describe(`source contract: ${name}`, () => {
    async function open(
      t: { after(fn: () => Promise<void>): void },
      records: ContractRecord[],
      options: { partitions: number; drain: boolean },
    ): Promise<ContractSource> {
      const src = await makeSource(records, options);
      t.after(() => src.close());
      return src;
    }

    test('reports the partitions it owns', async (t) => {
      const { reader } = await open(t, [], { partitions: P(3), drain: true });
      assert.deepEqual([...reader.partitions].sort(), range(P(3)));
    });

    test('offsets start at 0 and increase by 1 per partition', async (t) => {
      const input = contractRecords(60, P(3));
      const { reader } = await open(t, input, { partitions: P(3), drain: true });
      const { records } = await pollUntilEnded(reader, 7);
      for (const p of range(P(3))) {
        const offsets = records.filter((r) => r.partition === p).map((r) => r.offset);
        const expected = input.filter((r) => r.partition === p).map((_, i) => i);
        assert.deepEqual(offsets, expected, `partition ${p}`);
      }
    });

    test('every record is delivered exactly once, in order per partition, whatever maxRecords is', async (t) => {
      const input = contractRecords(250, P(4));
      for (const maxRecords of [1, 3, 64, 1000]) {
        const { reader } = await open(t, input, { partitions: P(4), drain: true });
        const { records } = await pollUntilEnded(reader, maxRecords);
        assert.equal(records.length, input.length, `maxRecords ${maxRecords}`);
        assert.deepEqual(byPartition(records), byPartition(input), `maxRecords ${maxRecords}`);
      }
    });

    test('seek to committed offsets resumes exactly after them', async (t) => {
      const input = contractRecords(120, P(3));
      const first = await open(t, input, { partitions: P(3), drain: true });
      const head: SourceRecord<string>[] = [];
      for (let i = 0; i < 4; i++) head.push(...(await first.reader.poll(9)).records);
      const committed = new Map<number, number>(range(P(3)).map((p) => [p, 0]));
      for (const r of head) committed.set(r.partition, r.offset + 1);
      await first.reader.commit?.(committed);

      // A new reader over the same data, as after a restart.
      const second = await open(t, input, { partitions: P(3), drain: true });
      await second.reader.seek(committed);
      const { records: tail } = await pollUntilEnded(second.reader, 10);
      for (const p of range(P(3))) {
        const firstTail = tail.find((r) => r.partition === p);
        if (firstTail !== undefined)
          assert.equal(firstTail.offset, committed.get(p), `partition ${p} resumes at its offset`);
      }
      assert.deepEqual(byPartition([...head, ...tail]), byPartition(input));
      assert.equal(head.length + tail.length, input.length);
    });

    test('seek to any per-partition offsets delivers exactly the records at and after them', {
      todo: gaps.seekToAnyOffsets,
    }, async (t) => {
      const input = contractRecords(40, P(2));
      const { reader } = await open(t, input, { partitions: P(2), drain: true });
      // Far along in partition 0, at the start of partition 1: not where any poll order would stop.
      const counts = range(P(2)).map((p) => input.filter((r) => r.partition === p).length);
      const from = new Map(range(P(2)).map((p) => [p, p === 0 ? (counts[0] as number) - 2 : 0]));
      await reader.seek(from);
      const { records } = await pollUntilEnded(reader, 5);
      for (const p of range(P(2))) {
        assert.deepEqual(
          records.filter((r) => r.partition === p).map((r) => r.offset),
          Array.from(
            { length: (counts[p] as number) - (from.get(p) as number) },
            (_, i) => (from.get(p) as number) + i,
          ),
          `partition ${p}`,
        );
      }
    });

    test('seek back to the start delivers everything again', async (t) => {
      const input = contractRecords(30, P(2));
      const { reader } = await open(t, input, { partitions: P(2), drain: true });
      await pollUntilEnded(reader, 8);
      await reader.seek(new Map(range(P(2)).map((p) => [p, 0])));
      const { records } = await pollUntilEnded(reader, 8);
      assert.deepEqual(byPartition(records), byPartition(input));
    });

    test('caughtUp lists the partitions with nothing left to read, and only those', async (t) => {
      const input = Array.from({ length: 5 }, (_, i) => ({ partition: 0, payload: `only-p0-${i}` }));
      const { reader } = await open(t, input, { partitions: P(2), drain: true });
      const first = await reader.poll(2);
      assert.equal(first.records.length, 2);
      if (P(2) > 1) assert.ok(first.caughtUp?.includes(1), 'the empty partition is caught up');
      assert.ok(!first.caughtUp?.includes(0), 'a partition with records left is not caught up');
      const rest = await pollUntilEnded(reader, 100);
      const last = rest.polls.at(-1) as PollResult<string>;
      assert.deepEqual([...(last.caughtUp ?? [])].sort(), range(P(2)));
    });

    test('a drained source ends after its last record and not before', async (t) => {
      const input = contractRecords(6, P(2));
      const { reader } = await open(t, input, { partitions: P(2), drain: true });
      let delivered = 0;
      for (let i = 0; i < 100; i++) {
        const res = await reader.poll(1);
        delivered += res.records.length;
        if (delivered < input.length)
          assert.notEqual(res.ended, true, `ended after ${delivered} of ${input.length} records`);
        if (res.ended === true) break;
      }
      assert.equal(delivered, input.length);
      const after = await reader.poll(10);
      assert.equal(after.ended, true);
      assert.equal(after.records.length, 0);
    });

    test('an empty drained source ends at once', async (t) => {
      const { reader } = await open(t, [], { partitions: P(2), drain: true });
      const res = await reader.poll(10);
      assert.deepEqual(res.records, []);
      assert.equal(res.ended, true);
    });

    test('a live source never ends and delivers records appended later, with the next offsets', {
      skip: shape.live === false ? 'the source is always bounded' : false,
    }, async (t) => {
      const input = contractRecords(20, 2);
      const src = await open(t, input, { partitions: 2, drain: false });
      const before = await pollUntilEmpty(src.reader, 6);
      assert.deepEqual(byPartition(before), byPartition(input));
      const idle = await src.reader.poll(10);
      assert.notEqual(idle.ended, true);
      assert.deepEqual([...(idle.caughtUp ?? [])].sort(), [0, 1]);
      if (src.append === undefined) return;
      const more = [
        { partition: 1, payload: 'late-1' },
        { partition: 1, payload: 'late-2' },
      ];
      await src.append(more);
      const res = await src.reader.poll(10);
      assert.deepEqual(
        res.records.map((r) => [r.partition, r.offset, r.value]),
        [
          [1, input.filter((r) => r.partition === 1).length, 'late-1'],
          [1, input.filter((r) => r.partition === 1).length + 1, 'late-2'],
        ],
      );
      assert.notEqual(res.ended, true);
      assert.ok(res.caughtUp?.includes(1), 'caught up again once the new records were read');
    });
  });
}
