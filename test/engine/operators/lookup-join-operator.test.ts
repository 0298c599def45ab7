import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryCommitter } from '../../../src/connectors/memory/memory-committer.ts';
import { MemorySource } from '../../../src/connectors/memory/memory-source.ts';
import { FlowmarkError, isFlowmarkError } from '../../../src/engine/errors.ts';
import type { LookupFn, LookupJoinSpec } from '../../../src/engine/lookup-types.ts';
import { LOOKUP_MAX_ATTEMPTS, LookupJoinOperator } from '../../../src/engine/operators/lookup-join-operator.ts';
import { Pipeline } from '../../../src/engine/pipeline.ts';
import { Runtime } from '../../../src/engine/runtime/runtime.ts';
import { ManualClock } from '../../../src/engine/time.ts';
import { OperatorHarness } from '../operator-harness.ts';

interface Rec {
  id: string;
  k?: string;
}

type Spec = Partial<LookupJoinSpec<Rec, string, string>>;

/** Joined rows read as `id=found`, `id=?` when nothing was found. */
const show = (r: Rec, found: string | undefined): string => `${r.id}=${found ?? '?'}`;

/** A lookup over a fixed table that answers at once and records the keys of every call. */
function tableLookup(table: Record<string, string>): { fn: LookupFn<string>; calls: string[][] } {
  const calls: string[][] = [];
  const fn: LookupFn<string> = async (keys) => {
    calls.push([...keys]);
    return new Map(keys.flatMap((k): Array<[string, string]> => (k in table ? [[k, table[k] as string]] : [])));
  };
  return { fn, calls };
}

interface PendingCall {
  keys: string[];
  resolve: (rows: ReadonlyMap<string, string>) => void;
}

/** A lookup whose answers the test gives by hand, in any order. */
function manualLookup(): { fn: LookupFn<string>; calls: PendingCall[] } {
  const calls: PendingCall[] = [];
  const fn: LookupFn<string> = (keys) =>
    new Promise((resolve) => {
      calls.push({ keys: [...keys], resolve });
    });
  return { fn, calls };
}

/** An answer naming each key's row after the key. */
const rowsFor = (keys: readonly string[]): Map<string, string> => new Map(keys.map((k) => [k, k.toUpperCase()]));

function harness(spec: Spec): OperatorHarness {
  const full: LookupJoinSpec<Rec, string, string> = {
    key: (r) => r.k,
    lookup: tableLookup({}).fn,
    join: show,
    ...spec,
  };
  return new OperatorHarness(() => new LookupJoinOperator(full), { ports: ['out'] });
}

/**
 * Lets every promise continuation that is already queued run (one macrotask turn); the lookups
 * in these tests settle through microtasks only, so this is a point, not a wait.
 */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const rec = (id: string, k = id): Rec => ({ id, k });
/** A record without a lookup key. */
const keyless = (id: string): Rec => ({ id });

describe('LookupJoinOperator', () => {
  it('keeps input order when look-ups answer out of order', async () => {
    const lookup = manualLookup();
    const h = harness({ lookup: lookup.fn, batchSize: 1 });
    h.element(rec('a'), 10).element(rec('b'), 20).element(rec('c'), 15);
    assert.deepEqual(
      lookup.calls.map((c) => c.keys),
      [['a'], ['b'], ['c']],
      'a full batch is issued at once',
    );
    for (const i of [2, 1]) lookup.calls[i]?.resolve(rowsFor(lookup.calls[i]?.keys ?? []));
    await settle();
    assert.deepEqual(h.out(), [], 'b and c wait for a');
    assert.equal(h.operator.async?.hasPending(), true);
    lookup.calls[0]?.resolve(rowsFor(['a']));
    await settle();
    assert.deepEqual(h.emitted(), [
      { value: 'a=A', ts: 10 },
      { value: 'b=B', ts: 20 },
      { value: 'c=C', ts: 15 },
    ]);
    assert.equal(h.operator.async?.hasPending(), false);
  });

  it('batches distinct keys: N keys with batch size b make ceil(N/b) calls', async () => {
    const lookup = tableLookup({});
    const h = harness({ lookup: lookup.fn, batchSize: 3 });
    for (const k of ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']) h.element(rec(k), 1);
    assert.equal(lookup.calls.length, 2, 'two full batches, the partial one waits for drain');
    await h.drain();
    assert.deepEqual(lookup.calls, [['k1', 'k2', 'k3'], ['k4', 'k5', 'k6'], ['k7']]);
    assert.deepEqual(h.out(), ['k1=?', 'k2=?', 'k3=?', 'k4=?', 'k5=?', 'k6=?', 'k7=?']);
  });

  it('shares one look-up among all pending records of a key, batched or in flight', async () => {
    const lookup = manualLookup();
    const h = harness({ lookup: lookup.fn, batchSize: 2 });
    h.element(rec('1', 'a'), 1).element(rec('2', 'b'), 2); // a full batch: in flight
    h.element(rec('3', 'a'), 3).element(rec('4', 'c'), 4).element(rec('5', 'c'), 5).element(rec('6', 'b'), 6);
    const drained = h.drain();
    await settle();
    assert.deepEqual(
      lookup.calls.map((c) => c.keys),
      [['a', 'b'], ['c']],
    );
    for (const c of lookup.calls) c.resolve(rowsFor(c.keys));
    await drained;
    assert.deepEqual(h.out(), ['1=A', '2=B', '3=A', '4=C', '5=C', '6=B']);
    assert.deepEqual(h.operator.describe?.(), {
      cacheEntries: 3,
      cacheHits: 0,
      cacheMisses: 6,
      lookups: 2,
      pending: 0,
    });
  });

  it('answers a cached key without a look-up, at once', async () => {
    const lookup = tableLookup({ a: 'A' });
    const h = harness({ lookup: lookup.fn });
    h.element(rec('1', 'a'), 1);
    await h.drain();
    h.element(rec('2', 'a'), 2);
    assert.deepEqual(h.out(), ['1=A', '2=A'], 'emitted without a drain');
    assert.equal(lookup.calls.length, 1);
    assert.deepEqual(h.operator.describe?.(), {
      cacheEntries: 1,
      cacheHits: 1,
      cacheMisses: 1,
      lookups: 1,
      pending: 0,
    });
  });

  it('looks a key up again once its answer is older than cacheTtlMs of processing time', async () => {
    const lookup = tableLookup({ a: 'A' });
    const h = harness({ lookup: lookup.fn, cacheTtlMs: 1_000 });
    h.element(rec('1', 'a'), 1);
    await h.drain();
    h.clock.advance(1_000);
    h.element(rec('2', 'a'), 2);
    assert.equal(lookup.calls.length, 1, 'exactly ttl old: still fresh');
    h.clock.advance(1);
    h.element(rec('3', 'a'), 3);
    await h.drain();
    assert.equal(lookup.calls.length, 2, 'older than ttl: stale');
    h.clock.advance(1_000);
    h.element(rec('4', 'a'), 4);
    assert.equal(lookup.calls.length, 2, 'the new answer restarted the ttl');
    assert.deepEqual(h.out(), ['1=A', '2=A', '3=A', '4=A']);
  });

  it('evicts the least recently used key when the cache is full', async () => {
    const lookup = tableLookup({ a: 'A', b: 'B', c: 'C' });
    const h = harness({ lookup: lookup.fn, cacheEntries: 2 });
    h.element(rec('1', 'a'), 1).element(rec('2', 'b'), 2);
    await h.drain();
    h.element(rec('3', 'a'), 3); // a is now more recent than b
    h.element(rec('4', 'c'), 4);
    await h.drain(); // c evicts b
    assert.equal(lookup.calls.length, 2);
    h.element(rec('5', 'a'), 5);
    assert.equal(lookup.calls.length, 2, 'a stayed');
    h.element(rec('6', 'b'), 6);
    await h.drain();
    assert.deepEqual(lookup.calls.at(-1), ['b'], 'b was evicted');
    assert.equal(h.operator.describe?.().cacheEntries, 2);
    assert.deepEqual(h.out(), ['1=A', '2=B', '3=A', '4=C', '5=A', '6=B']);
  });

  it('joins an unknown key with undefined and caches it as unknown; an undefined key waits its turn', async () => {
    const lookup = manualLookup();
    const h = harness({ lookup: lookup.fn });
    h.element(rec('1', 'known'), 1).element(keyless('2'), 2).element(rec('3', 'nope'), 3);
    assert.deepEqual(h.out(), [], 'the keyless record waits behind the first');
    const drained = h.drain();
    await settle();
    assert.deepEqual(lookup.calls[0]?.keys, ['known', 'nope'], 'no look-up for an undefined key');
    lookup.calls[0]?.resolve(new Map([['known', 'K']]));
    await drained;
    h.element(rec('4', 'nope'), 4).element(keyless('5'), 5);
    assert.deepEqual(h.out(), ['1=K', '2=?', '3=?', '4=?', '5=?']);
    assert.equal(lookup.calls.length, 1, 'the unknown key was cached');
  });

  it('queues watermarks behind pending records and forwards them at once when nothing waits', async () => {
    const lookup = tableLookup({ a: 'A' });
    let h: OperatorHarness | undefined;
    // Each row records how many watermarks had been forwarded when it was made.
    h = harness({ lookup: lookup.fn, join: (r, found) => `${show(r, found)}@${h?.watermarks.length}` });
    h.watermark(5);
    assert.deepEqual(h.watermarks, [5]);
    h.element(rec('1', 'a'), 10).watermark(10).element(rec('2', 'b'), 11).watermark(11).watermark(12);
    assert.deepEqual(h.watermarks, [5], 'held behind record 1');
    await h.drain();
    assert.deepEqual(h.out(), ['1=A@1', '2=?@2']);
    assert.deepEqual(h.watermarks, [5, 10, 12]);
    h.watermark(20);
    assert.deepEqual(h.watermarks, [5, 10, 12, 20]);
  });

  it('signals pressure when maxPending records wait; drain then empties it', async () => {
    const lookup = tableLookup({});
    const h = harness({ lookup: lookup.fn, maxPending: 3 });
    h.element(rec('a'), 1).element(rec('b'), 2);
    assert.equal(h.pressureSignals, 0);
    h.element(rec('c'), 3);
    assert.equal(h.pressureSignals, 1);
    assert.equal(lookup.calls.length, 0, 'the batch is not full yet');
    assert.equal(h.operator.async?.hasPending(), true);
    await h.operator.async?.drain();
    assert.equal(h.operator.async?.hasPending(), false);
    assert.deepEqual(lookup.calls, [['a', 'b', 'c']]);
    assert.deepEqual(h.out(), ['a=?', 'b=?', 'c=?']);
  });

  it('retries a failed look-up with exponential backoff on the clock, then succeeds', async () => {
    let attempts = 0;
    const h = harness({
      lookup: async (keys) => {
        if (++attempts <= 3) throw new Error('connection reset');
        return rowsFor(keys);
      },
    });
    h.element(rec('a'), 1);
    await h.drain();
    assert.equal(attempts, 4);
    assert.equal(h.clock.nowMs(), 50 + 100 + 200, 'slept 50, 100, 200 ms');
    assert.deepEqual(h.out(), ['a=A']);
  });

  it('waits out an unavailable database beyond the attempt limit, reporting it, then recovers', async () => {
    let attempts = 0;
    const down = LOOKUP_MAX_ATTEMPTS + 5;
    const unavailable = new FlowmarkError('FM_PG_UNAVAILABLE', 'the database is unavailable');
    const h = harness({
      lookup: async (keys) => {
        attempts++;
        if (attempts <= down) throw unavailable;
        return new Map(keys.map((k) => [k, k.toUpperCase()]));
      },
    });
    h.element(rec('a'), 1);
    await h.operator.async?.drain();
    assert.equal(attempts, down + 1);
    assert.deepEqual(h.out(), ['a=A']);
    assert.equal(h.retries.length, down, 'every failed attempt is reported');
    assert.ok(h.retries.every((e) => e === unavailable));
    assert.equal(h.recoveries, 1);
  });

  it('fails with FM_LOOKUP_FAILED from drain once the retries are used up', async () => {
    let attempts = 0;
    const cause = new Error('table is gone');
    const h = harness({
      lookup: async () => {
        attempts++;
        throw cause;
      },
    });
    h.element(rec('a'), 1);
    await assert.rejects(h.operator.async?.drain() ?? Promise.resolve(), (err) => {
      assert.ok(isFlowmarkError(err, 'FM_LOOKUP_FAILED'));
      assert.equal(err.message, `lookup "op" failed after ${LOOKUP_MAX_ATTEMPTS} attempts: table is gone`);
      assert.equal(err.cause, cause);
      assert.equal(err.retriable, false, 'it gave up: final, whatever the cause was');
      return true;
    });
    assert.equal(attempts, LOOKUP_MAX_ATTEMPTS);
    // 50 doubling, capped at 5 s, between the attempts.
    assert.equal(h.clock.nowMs(), 50 + 100 + 200 + 400 + 800 + 1_600 + 3_200 + 5_000 + 5_000);
    assert.deepEqual(h.out(), []);
    assert.equal(h.operator.async?.hasPending(), true, 'the runtime must drain, and so see the error');
    await assert.rejects(h.operator.async?.drain() ?? Promise.resolve(), FlowmarkError);
  });

  it('runs in a real Runtime with an asynchronous look-up, in order, never late downstream', async () => {
    const users: Record<string, string> = { u0: 'Ann', u1: 'Bob', u2: 'Cy', u3: 'Di', u4: 'Ed' };
    const calls: string[][] = [];
    const lookup: LookupFn<string> = async (keys) => {
      calls.push([...keys]);
      await settle(); // answer on a later turn of the event loop, like a database
      return new Map(keys.flatMap((k): Array<[string, string]> => (users[k] ? [[k, users[k]]] : [])));
    };
    interface Click {
      n: number;
      user: string;
      t: number;
    }
    const clicks = Array.from({ length: 60 }, (_, n): Click => ({ n, user: `u${(n * 7) % 6}`, t: 1_000 * n }));
    const p = new Pipeline();
    const src = p.source('clicks', {
      reader: MemorySource.of(clicks),
      eventTimeMs: (c: Click) => c.t,
      maxOutOfOrdernessMs: 0,
    });
    src.invalid.sink('dead-letters');
    const enriched = src.out.lookupJoin('users', {
      key: (c) => c.user,
      lookup,
      join: (c, name) => `${c.n}:${name ?? 'unknown'}`,
      batchSize: 2,
      maxPending: 4,
    });
    // A stateful step downstream: any row overtaken by the watermark would land in `late`.
    const checked = enriched
      .keyBy((row) => row.split(':')[1] as string)
      .process<string, undefined>('check', { onElement: (row, ctx) => ctx.emit(row) });
    checked.out.sink('rows');
    checked.late.sink('late');
    const committer = new MemoryCommitter();
    const runtime = new Runtime(p, { committer, clock: new ManualClock(0) });
    await runtime.run();
    assert.deepEqual(
      committer.rows('rows'),
      clicks.map((c) => `${c.n}:${users[c.user] ?? 'unknown'}`),
    );
    assert.deepEqual(committer.rows('late'), []);
    assert.deepEqual(calls.flat().sort(), ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'], 'each user looked up once');
    const node = runtime.stats().find((s) => s.id === 'users');
    assert.equal(node?.details.pending, 0);
    assert.equal(node?.details.cacheHits, 54);
    await runtime.close();
  });
});
