import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type KeyedProcessFunction,
  KeyedProcessOperator,
  type MapState,
  type SortedListState,
  type ValueState,
} from '../../../src/engine/operators/keyed-process-operator.ts';
import { OperatorHarness } from '../operator-harness.ts';

interface E {
  k: string;
  t: number;
}

function harness<O, S>(fn: KeyedProcessFunction<E, O, S>): OperatorHarness {
  return new OperatorHarness(() => new KeyedProcessOperator<E, O, S>((e) => e.k, fn));
}

/** Registers a timer at t + 10 and emits "key@timer" when it fires. */
const echoTimer: KeyedProcessFunction<E, string, void> = {
  onElement: (e, ctx) => ctx.registerTimer(e.t + 10),
  onTimer: (t, ctx) => ctx.emit(`${ctx.key}@${t}`),
};

test('a timer for t fires once the watermark is > t, not when it equals t', () => {
  const h = harness(echoTimer).element({ k: 'a', t: 100 }, 100).watermark(110);
  assert.deepEqual(h.out(), []);
  h.watermark(111);
  assert.deepEqual(h.out(), ['a@110']);
  assert.deepEqual(h.emitted()[0]?.ts, 110, 'a timer result carries the timer time');
});

test('timers fire before the watermark is forwarded, in time order then key order', () => {
  const h = harness(echoTimer)
    .element({ k: 'b', t: 5 }, 5)
    .element({ k: 'a', t: 5 }, 5)
    .element({ k: 'c', t: 1 }, 1)
    .watermark(1000);
  assert.deepEqual(h.out(), ['c@11', 'a@15', 'b@15']);
  assert.deepEqual(h.watermarks, [1000]);
});

test('one timer per key and time; a deleted timer does not fire', () => {
  const fn: KeyedProcessFunction<E, string, void> = {
    onElement: (e, ctx) => {
      ctx.registerTimer(50);
      if (e.t === 2) ctx.deleteTimer(50);
    },
    onTimer: (t, ctx) => ctx.emit(`${ctx.key}@${t}`),
  };
  const h = harness(fn).element({ k: 'a', t: 1 }, 1).element({ k: 'a', t: 1 }, 1).element({ k: 'b', t: 1 }, 1);
  h.element({ k: 'b', t: 2 }, 2).watermark(100);
  assert.deepEqual(h.out(), ['a@50']);
});

test('lateness exactly at the watermark: t = W is on time, t = W − 1 is late and untouched', () => {
  const h = harness<string, void>({ onElement: (e, ctx) => ctx.emit(`${e.k}${e.t}`) }).watermark(100);
  h.element({ k: 'a', t: 100 }, 100).element({ k: 'a', t: 99 }, 99);
  assert.deepEqual(h.out(), ['a100']);
  assert.deepEqual(h.emitted('late'), [{ value: { k: 'a', t: 99 }, ts: 99 }]);
});

test('value state is per key', () => {
  const fn: KeyedProcessFunction<E, string, { n: ValueState<number> }> = {
    state: (s) => ({ n: s.value<number>('n') }),
    onElement: (_e, ctx, st) => {
      st.n.set((st.n.get() ?? 0) + 1);
      ctx.emit(`${ctx.key}=${st.n.get()}`);
    },
  };
  const h = harness(fn).element({ k: 'a', t: 1 }, 1).element({ k: 'b', t: 1 }, 1).element({ k: 'a', t: 2 }, 2);
  assert.deepEqual(h.out(), ['a=1', 'b=1', 'a=2']);
  assert.equal(h.stateEntries(), 2);
});

test('sorted list state keeps time order (stable for ties), ranges inclusively, removes a prefix', () => {
  let list!: SortedListState<string>;
  const fn: KeyedProcessFunction<E & { v: string }, string, { l: SortedListState<string> }> = {
    state: (s) => ({ l: s.sortedList<string>('l') }),
    onElement: (e, ctx, st) => {
      st.l.add(e.t, e.v);
      list = st.l;
      ctx.emit(
        st.l
          .all()
          .map(([t, v]) => `${t}${v}`)
          .join(','),
      );
    },
  };
  const h = new OperatorHarness(
    () => new KeyedProcessOperator<E & { v: string }, string, { l: SortedListState<string> }>((e) => e.k, fn),
  );
  for (const [t, v] of [
    [30, 'x'],
    [10, 'y'],
    [30, 'z'],
    [20, 'w'],
  ] as const)
    h.element({ k: 'a', t, v }, t);
  assert.equal(h.out().at(-1), '10y,20w,30x,30z');
  assert.deepEqual(
    list.range(20, 30).map(([, v]) => v),
    ['w', 'x', 'z'],
  );
  assert.deepEqual(list.range(11, 19), []);
  assert.equal(list.removeBefore(30), 2);
  assert.deepEqual(
    list.all().map(([, v]) => v),
    ['x', 'z'],
  );
  assert.equal(list.removeBefore(31), 2);
  assert.equal(h.stateEntries(), 0, 'an emptied list leaves no entry');
});

test('map state per key: set, get, delete, entries', () => {
  const fn: KeyedProcessFunction<E & { f: string }, string, { m: MapState<number> }> = {
    state: (s) => ({ m: s.map<number>('m') }),
    onElement: (e, ctx, st) => {
      if (e.f === 'del') st.m.delete('x');
      else st.m.set(e.f, (st.m.get(e.f) ?? 0) + 1);
      ctx.emit(JSON.stringify(st.m.entries()));
    },
  };
  const h = new OperatorHarness(
    () => new KeyedProcessOperator<E & { f: string }, string, { m: MapState<number> }>((e) => e.k, fn),
  );
  h.element({ k: 'a', t: 1, f: 'x' }, 1).element({ k: 'a', t: 1, f: 'x' }, 1).element({ k: 'a', t: 1, f: 'y' }, 1);
  h.element({ k: 'b', t: 1, f: 'x' }, 1).element({ k: 'a', t: 1, f: 'del' }, 1);
  assert.deepEqual(h.out(), ['[["x",1]]', '[["x",2]]', '[["x",2],["y",1]]', '[["x",1]]', '[["y",1]]']);
});

test('TTL state is dropped once the watermark passes the last write time + TTL', () => {
  const fn: KeyedProcessFunction<E, string, { seen: ValueState<boolean> }> = {
    state: (s) => ({ seen: s.value<boolean>('seen', { ttlMs: 100 }) }),
    onElement: (_e, ctx, st) => {
      ctx.emit(st.seen.get() ? 'again' : 'first');
      st.seen.set(true);
    },
  };
  const h = harness(fn).element({ k: 'a', t: 1000 }, 1000).watermark(1100);
  assert.equal(h.stateEntries(), 1);
  h.element({ k: 'a', t: 1100 }, 1100); // refreshes the TTL to 1200
  h.watermark(1150);
  assert.equal(h.stateEntries(), 1);
  h.watermark(1201);
  assert.equal(h.stateEntries(), 0);
  h.element({ k: 'a', t: 1300 }, 1300);
  // Rewritten seconds later (another expiry bucket): the watermark passes the first write's bucket
  // and the state stays, until it passes the last write + TTL.
  h.element({ k: 'a', t: 4000 }, 4000);
  h.watermark(1500).watermark(3000);
  assert.equal(h.stateEntries(), 1);
  h.element({ k: 'a', t: 3500 }, 3500);
  h.watermark(4101);
  assert.equal(h.stateEntries(), 0);
  h.element({ k: 'a', t: 4200 }, 4200);
  assert.deepEqual(h.out(), ['first', 'again', 'first', 'again', 'again', 'first']);
});

test('a restart mid-case restores state, timers and the watermark', () => {
  const fn: KeyedProcessFunction<E, string, { n: ValueState<number> }> = {
    state: (s) => ({ n: s.value<number>('n') }),
    onElement: (e, ctx, st) => {
      st.n.set((st.n.get() ?? 0) + 1);
      ctx.registerTimer(e.t + 10);
    },
    onTimer: (t, ctx, st) => ctx.emit(`${ctx.key}:${st.n.get()}@${t}`),
  };
  const run = (restart: boolean): unknown[] => {
    const h = harness(fn).element({ k: 'a', t: 1 }, 1).element({ k: 'b', t: 3 }, 3).watermark(5);
    if (restart) h.restart();
    h.element({ k: 'a', t: 6 }, 6).element({ k: 'a', t: 2 }, 2); // 2 < W=5: late, also after restart
    h.watermark(100);
    return [h.out(), h.out('late')];
  };
  assert.deepEqual(run(true), run(false));
  assert.deepEqual(run(true)[0], ['a:2@11', 'b:1@13', 'a:2@16']);
});
