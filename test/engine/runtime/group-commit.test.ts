/**
 * The checkpoint cadence of a running runtime (issue 16), on a ManualClock, told by the sequence
 * of checkpoints rather than by wall-clock time:
 * - latency: a record read while checkpoint N commits is in N + 1, cut as soon as N is durable
 *   (and the minimum interval has passed) — not a fixed interval later; a large poll does not
 *   hold the cut back to its end;
 * - quiet when idle: no input, no checkpoints but the heartbeat; a watermark released by
 *   processing-time idleness is a change and is committed at once; a restart with nothing new
 *   commits nothing new;
 * - under backlog, checkpoints are at least the backlog interval apart (a drain stays cheap).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Checkpoint } from '../../../src/engine/checkpoint.ts';
import {
  DEFAULT_BACKLOG_CHECKPOINT_INTERVAL_MS,
  DEFAULT_CHECKPOINT_HEARTBEAT_MS,
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  DEFAULT_IDLE_WAIT_MS,
} from '../../../src/engine/runtime/runtime.ts';
import { BACKLOG_AGE_MS } from '../../../src/engine/runtime/source-runner.ts';
import {
  type Ev,
  ev,
  ids,
  ManualClock,
  MemoryCommitter,
  MemorySource,
  observedReader,
  passThroughPipeline,
  Runtime,
} from '../engine-fixtures.ts';

/** What each commit carried, and when (ManualClock) it was cut and became durable. */
interface Commit {
  id: number;
  cutAtMs: number;
  durableAtMs: number;
  rows: string[];
  /** The watermark of the pass step in the checkpoint's meta. */
  passWatermarkMs: number | undefined;
}

/**
 * A MemoryCommitter that logs every commit; `slowMs(id)` is how long (ManualClock) commit `id`
 * takes, `gate(id)` a promise it waits for before it completes.
 */
class LoggingCommitter extends MemoryCommitter {
  readonly log: Commit[] = [];
  readonly #clock: ManualClock;
  slowMs: (id: number) => number = () => 0;
  gate: (id: number) => Promise<void> | undefined = () => undefined;
  constructor(clock: ManualClock) {
    super();
    this.#clock = clock;
  }
  override async commit(cp: Checkpoint): Promise<void> {
    const cutAtMs = this.#clock.nowMs();
    await this.gate(cp.id);
    this.#clock.advance(this.slowMs(cp.id));
    await super.commit(cp);
    this.log.push({
      id: cp.id,
      cutAtMs,
      durableAtMs: this.#clock.nowMs(),
      rows: ids([...(cp.outputs.get('out') ?? [])]),
      passWatermarkMs: cp.snapshot.meta.nodes.pass?.watermarkMs,
    });
  }
  /** The commit whose rows hold `id`. */
  carrying(id: string): Commit {
    const c = this.log.find((x) => x.rows.includes(id));
    assert.ok(c !== undefined, `no checkpoint carried ${id}: ${JSON.stringify(this.log)}`);
    return c;
  }
}

test('latency: a record that arrives while checkpoint N commits is in N + 1, cut once N is durable and the minimum interval passed', async () => {
  const clock = new ManualClock();
  const committer = new LoggingCommitter(clock);
  const src = new MemorySource<Ev>({ bounded: false });
  const stop = new AbortController();
  // The checkout b arrives while checkpoint 2 commits (the loop, idle, waits for that commit).
  committer.gate = (id) =>
    id === 2
      ? new Promise<void>((resolve) =>
          setImmediate(() => {
            src.append(ev('b', 1002));
            resolve();
          }),
        )
      : undefined;
  const reader = observedReader(src, (n) => {
    if (n === 1) src.append(ev('a', 1000)); // → checkpoint 1
    if (committer.log.length === 1 && src.length === 1) src.append(ev('a', 1001)); // → checkpoint 2
    if (clock.nowMs() >= 1000) stop.abort();
  });
  await new Runtime(passThroughPipeline(reader), { committer, clock }).run({ signal: stop.signal });
  const n = committer.log.find((c) => c.id === 2) as Commit;
  assert.deepEqual(n.rows, ['a@1001']);
  const b = committer.carrying('b@1002');
  assert.equal(b.id, n.id + 1, 'in the checkpoint right after the one in flight when it arrived');
  // Cut the moment N was durable and the minimum interval had passed (an idle loop sleeps no
  // further than that): not a fixed interval later.
  assert.equal(
    b.cutAtMs,
    Math.max(n.durableAtMs, n.cutAtMs + DEFAULT_CHECKPOINT_INTERVAL_MS),
    JSON.stringify(committer.log),
  );
});

test('latency: under load, each checkpoint is cut as soon as the previous is durable, with everything read meanwhile', async () => {
  const clock = new ManualClock();
  const committer = new LoggingCommitter(clock);
  const src = new MemorySource<Ev>({ bounded: false });
  const stop = new AbortController();
  // One record arrives per poll, and a poll takes 10 ms; a commit lasts 5 polls (50 ms).
  const pending: Array<{ polls: number; resolve: () => void }> = [];
  committer.gate = () =>
    stop.signal.aborted ? undefined : new Promise<void>((resolve) => pending.push({ polls: 0, resolve }));
  let t = 0;
  const reader = observedReader(src, () => {
    clock.advance(10);
    for (const p of pending.splice(0)) {
      if (++p.polls >= 5) p.resolve();
      else pending.push(p);
    }
    src.append(ev('a', (t += 10)));
    if (clock.nowMs() >= 2000) {
      stop.abort();
      for (const p of pending.splice(0)) p.resolve(); // the run's final checkpoint waits for it
    }
  });
  await new Runtime(passThroughPipeline(reader), { committer, clock }).run({ signal: stop.signal });
  const log = committer.log.slice(0, -1);
  assert.ok(log.length >= 10, JSON.stringify(committer.log));
  for (let i = 1; i < log.length; i++) {
    const [prev, cur] = [log[i - 1] as Commit, log[i] as Commit];
    // Within two loop turns (polls) of the previous becoming durable: the end of a commit
    // reaches the loop through a few promise hops, which here interleave with the loop's turns.
    assert.ok(
      cur.cutAtMs - prev.durableAtMs <= 20,
      `checkpoint ${cur.id} cut when ${prev.id} became durable: ${JSON.stringify(log)}`,
    );
    assert.ok(cur.rows.length >= 4, `checkpoint ${cur.id} holds what was read while ${prev.id} committed`);
  }
});

test('latency: the cut is not held back to the end of a large poll once the commit in flight is durable', async () => {
  const clock = new ManualClock();
  const committer = new LoggingCommitter(clock);
  // Checkpoint 1 becomes durable as soon as the loop yields to the event loop.
  committer.gate = (id) => (id === 1 ? new Promise<void>((resolve) => setImmediate(resolve)) : undefined);
  const src = new MemorySource<Ev>({ bounded: false });
  const stop = new AbortController();
  const reader = observedReader(src, (n) => {
    if (n === 1) src.append(ev('a', 1)); // cut at once into checkpoint 1 (no minimum interval)
    if (n === 2) for (let i = 0; i < 4000; i++) src.append(ev('k', 10 + i)); // one poll
    if (n > 2) stop.abort();
  });
  await new Runtime(passThroughPipeline(reader), {
    committer,
    clock,
    pollMaxRecords: 4096,
    checkpointIntervalMs: 0,
  }).run({ signal: stop.signal });
  assert.deepEqual(committer.log[0]?.rows, ['a@1']);
  const second = committer.log[1] as Commit;
  assert.ok(second.rows.length > 0 && second.rows.length < 4000, `checkpoint 2 held ${second.rows.length} records`);
  assert.equal(second.rows.length % 256, 0, 'cut at a check within the poll');
});

test('quiet when idle: a live run with no input commits only a heartbeat', async () => {
  const clock = new ManualClock();
  const committer = new LoggingCommitter(clock);
  const stop = new AbortController();
  const reader = observedReader(new MemorySource<Ev>({ bounded: false }), () => {
    if (clock.nowMs() >= 20_000) stop.abort();
  });
  await new Runtime(passThroughPipeline(reader), { committer, clock }).run({ signal: stop.signal });
  // 20 s at a 20 ms interval was a thousand checkpoints; now one per heartbeat (2 s), plus the
  // final one of the run.
  const beats = committer.log.slice(0, -1);
  assert.deepEqual(
    beats.map((c) => c.cutAtMs),
    Array.from(
      { length: 20_000 / DEFAULT_CHECKPOINT_HEARTBEAT_MS },
      (_, i) => (i + 1) * DEFAULT_CHECKPOINT_HEARTBEAT_MS,
    ),
  );
  assert.ok(beats.every((c) => c.rows.length === 0));
});

test('quiet when idle: records are committed, then nothing until the heartbeat', async () => {
  const clock = new ManualClock();
  const committer = new LoggingCommitter(clock);
  const src = new MemorySource<Ev>({ bounded: false });
  const stop = new AbortController();
  const reader = observedReader(src, (n) => {
    if (n === 1) src.append(ev('a', 100));
    if (clock.nowMs() >= 5000) stop.abort();
  });
  await new Runtime(passThroughPipeline(reader), { committer, clock }).run({ signal: stop.signal });
  const cuts = committer.log.slice(0, -1).map((c) => c.cutAtMs);
  // The record once the minimum interval passed, then one heartbeat after another.
  const first = DEFAULT_CHECKPOINT_INTERVAL_MS;
  assert.deepEqual(cuts, [first, first + DEFAULT_CHECKPOINT_HEARTBEAT_MS, first + 2 * DEFAULT_CHECKPOINT_HEARTBEAT_MS]);
  assert.deepEqual(committer.carrying('a@100').id, 1);
});

test('quiet when idle: a watermark released by idleness (processing time, no record) is committed at once', async () => {
  const clock = new ManualClock();
  const committer = new LoggingCommitter(clock);
  // Partition 1 never produces: after the 300 ms idle timeout it stops holding the watermark back.
  const src = new MemorySource<Ev>({ partitions: [0, 1], bounded: false });
  src.append(ev('a', 5000), 0);
  const stop = new AbortController();
  const reader = observedReader(src, () => {
    if (clock.nowMs() >= 1500) stop.abort();
  });
  await new Runtime(passThroughPipeline(reader, 0, 300), { committer, clock }).run({ signal: stop.signal });
  const [first, second, ...rest] = committer.log;
  assert.equal(first?.passWatermarkMs, Number.NEGATIVE_INFINITY, 'partition 1 holds the watermark back');
  assert.equal(second?.passWatermarkMs, 5000, 'released by idleness');
  // Committed at the first due turn after the release, long before the heartbeat.
  assert.ok((second?.cutAtMs as number) >= 300 && (second?.cutAtMs as number) < 300 + 2 * DEFAULT_IDLE_WAIT_MS);
  assert.deepEqual(
    rest.map((c) => c.id),
    [3],
    'then only the final checkpoint of the run',
  );
});

test('quiet when idle: a restart with nothing new commits nothing before the heartbeat', async () => {
  const clock = new ManualClock();
  const committer = new LoggingCommitter(clock);
  const src = new MemorySource<Ev>({ bounded: false });
  src.append(ev('a', 100));
  const runFor = async (ms: number) => {
    const stop = new AbortController();
    const until = clock.nowMs() + ms;
    const reader = observedReader(src, () => {
      if (clock.nowMs() >= until) stop.abort();
    });
    await new Runtime(passThroughPipeline(reader), { committer, clock }).run({ signal: stop.signal });
  };
  await runFor(500);
  const before = committer.log.length;
  await runFor(DEFAULT_CHECKPOINT_HEARTBEAT_MS - 100);
  assert.equal(committer.log.length, before + 1, 'only the final checkpoint of the second run');
  assert.deepEqual(ids(committer.rows('out')), ['a@100']);
});

test('under backlog, checkpoints are at least the backlog interval apart; the last one is cut at the end', async () => {
  const clock = new ManualClock();
  const committer = new LoggingCommitter(clock);
  const records = Array.from({ length: 2000 }, (_, i) => ev(`k${i % 7}`, i));
  // Every poll delivers 10 of the 2 000 records and takes 5 ms of processing time: a backlog.
  const reader = observedReader(MemorySource.of(records), () => clock.advance(5));
  await new Runtime(passThroughPipeline(reader), { committer, clock, pollMaxRecords: 10 }).run();
  const cuts = committer.log.map((c) => c.cutAtMs);
  for (let i = 1; i < cuts.length - 1; i++) {
    assert.ok((cuts[i] as number) - (cuts[i - 1] as number) >= DEFAULT_BACKLOG_CHECKPOINT_INTERVAL_MS, `${cuts}`);
  }
  // 200 polls × 5 ms = 1 s: four checkpoints, not fifty.
  assert.ok(cuts.length <= 1000 / DEFAULT_BACKLOG_CHECKPOINT_INTERVAL_MS + 1, `${cuts}`);
  assert.equal(committer.rows('out').length, 2000);
});

test('a reader that is never caught up but whose records are fresh is no backlog: group commit goes on; records that waited are one', async () => {
  // As Kafka's prefetching reader under a steady live stream: every poll leaves records behind
  // (not caught up), but what it delivers arrived just now — or, in the second run, long ago.
  const cutsWith = async (ageMs: number) => {
    const clock = new ManualClock();
    const committer = new LoggingCommitter(clock);
    const records = Array.from({ length: 2000 }, (_, i) => ev(`k${i % 7}`, i));
    const inner = observedReader(MemorySource.of(records), () => clock.advance(5));
    const reader = {
      ...inner,
      poll: async (max: number) => {
        const res = await inner.poll(max);
        return { ...res, records: res.records.map((r) => ({ ...r, timestampMs: clock.nowMs() - ageMs })) };
      },
    };
    await new Runtime(passThroughPipeline(reader), { committer, clock, pollMaxRecords: 10 }).run();
    assert.equal(committer.rows('out').length, 2000);
    const cuts = committer.log.map((c) => c.cutAtMs);
    return cuts.slice(1, -1).map((t, i) => t - (cuts[i] as number));
  };
  const fresh = await cutsWith(0);
  assert.ok(
    fresh.some((gap) => gap < DEFAULT_BACKLOG_CHECKPOINT_INTERVAL_MS),
    `fresh records: cut as soon as the previous checkpoint is durable (gaps ${fresh})`,
  );
  assert.ok(
    fresh.every((gap) => gap >= DEFAULT_CHECKPOINT_INTERVAL_MS),
    `never under the least interval (${fresh})`,
  );
  const waited = await cutsWith(BACKLOG_AGE_MS);
  assert.ok(
    waited.every((gap) => gap >= DEFAULT_BACKLOG_CHECKPOINT_INTERVAL_MS),
    `records that waited ${BACKLOG_AGE_MS} ms: the backlog interval (gaps ${waited})`,
  );
});
