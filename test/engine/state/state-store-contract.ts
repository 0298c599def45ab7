/**
 * The contract of a {@link StateStore} (src/engine/state/state-store.ts): what the runtime relies on
 * to checkpoint and restore operator state incrementally. One suite, run by every implementation
 * (test/engine/state/state-store-contract.test.ts): StateTable without and with a TTL, and the
 * window operator's own store.
 *
 * The interface has no write methods (each implementation is written through its own API), so a
 * *subject* wraps a store with `mutate`, one random change through that API. The suite checks, over
 * random runs with fixed seeds:
 * - the changes taken at each checkpoint, applied in order, give the full state (incremental = full);
 * - a take forgets: a second take with no change in between is empty; a key appears once per take;
 * - restoring the full state into a fresh store gives the same state, is not a change, keeps the
 *   expiries, and the restored store then behaves as the original under the same changes;
 * - `measure().entries` counts the live entries.
 *
 * @example
 * stateStoreContract('StateTable', () => tableSubject(new StateTable('t')));
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StateStore } from '../../../src/engine/state/state-store.ts';

export interface StateStoreSubject {
  readonly store: StateStore;
  /** One random change through the implementation's own API (write, delete, expiry, watermark…). */
  mutate(rand: () => number): void;
  /** Called on a fresh subject after `from`'s full state was restored into its store. */
  afterRestore?(from: StateStoreSubject): void;
}

/** A deterministic generator in [0, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The value as a durable store gives it back (the runtime freezes values as JSON at the cut). */
const frozen = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/** The full state, frozen, sorted by key. */
function full(store: StateStore): [string, unknown][] {
  return [...store.allEntries()]
    .map(([k, v]): [string, unknown] => [k, frozen(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Takes the changes (frozen), checking that each key appears once, and applies them to `model`. */
function takeInto(store: StateStore, model: Map<string, unknown>): number {
  const seen = new Set<string>();
  let n = 0;
  for (const [key, value] of store.takeChanges()) {
    assert.ok(!seen.has(key), `key ${JSON.stringify(key)} twice in one take`);
    seen.add(key);
    if (value === undefined) model.delete(key);
    else model.set(key, frozen(value));
    n++;
  }
  return n;
}

const sortedModel = (model: Map<string, unknown>) =>
  [...model].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

/** Restores `from`'s full state (frozen, with expiries) into a fresh subject. */
function restored(make: () => StateStoreSubject, from: StateStoreSubject): StateStoreSubject {
  const to = make();
  for (const [key, value] of from.store.allEntries()) {
    to.store.restoreEntry(key, frozen(value), from.store.expiryOf?.(key));
  }
  to.afterRestore?.(from);
  return to;
}

const SEEDS = [1, 2, 3, 42, 2026];
const ROUNDS = 12;

export function stateStoreContract(label: string, make: () => StateStoreSubject): void {
  /** Runs `rounds` of random changes, each followed by `check(subject, model, round)`. */
  const run = (seed: number, check: (s: StateStoreSubject, model: Map<string, unknown>, round: number) => void) => {
    const rand = seeded(seed);
    const s = make();
    const model = new Map<string, unknown>();
    for (let round = 0; round < ROUNDS; round++) {
      const changes = 1 + Math.floor(rand() * 40);
      for (let i = 0; i < changes; i++) s.mutate(rand);
      check(s, model, round);
    }
    return s;
  };

  describe(`StateStore contract: ${label}`, () => {
    test('a new store is empty and has no changes', () => {
      const { store } = make();
      assert.deepEqual([...store.allEntries()], []);
      assert.deepEqual([...store.takeChanges()], []);
      assert.deepEqual(store.measure(), { entries: 0, bytes: 0 });
    });

    test('the changes taken at each checkpoint, applied in order, give the full state', () => {
      let changed = 0;
      for (const seed of SEEDS) {
        run(seed, (s, model, round) => {
          changed += takeInto(s.store, model);
          assert.deepEqual(sortedModel(model), full(s.store), `seed ${seed}, round ${round}`);
        });
      }
      assert.ok(changed > 0, 'the subject changed something');
    });

    test('a take forgets what it reported: a second take with no change in between is empty', () => {
      for (const seed of SEEDS) {
        run(seed, (s, model, round) => {
          takeInto(s.store, model);
          assert.deepEqual([...s.store.takeChanges()], [], `seed ${seed}, round ${round}`);
        });
      }
    });

    test('measure counts the live entries', () => {
      for (const seed of SEEDS) {
        run(seed, (s, _model, round) => {
          const { entries, bytes } = s.store.measure();
          assert.equal(entries, [...s.store.allEntries()].length, `seed ${seed}, round ${round}`);
          assert.ok(entries === 0 ? bytes === 0 : bytes > 0, `bytes ${bytes} for ${entries} entries`);
        });
      }
    });

    test('restoring the full state gives the same state and expiries, and is not a change', () => {
      for (const seed of SEEDS) {
        run(seed, (s, model, round) => {
          takeInto(s.store, model);
          const r = restored(make, s);
          const at = `seed ${seed}, round ${round}`;
          assert.deepEqual(full(r.store), full(s.store), at);
          assert.deepEqual([...r.store.takeChanges()], [], `${at}: restoring is not a change`);
          assert.equal(r.store.measure().entries, s.store.measure().entries, at);
          if (s.store.expiryOf !== undefined) {
            for (const [key] of s.store.allEntries()) {
              assert.equal(r.store.expiryOf?.(key), s.store.expiryOf(key), `${at}: expiry of ${key}`);
            }
          }
        });
      }
    });

    test('a restored store behaves as the original under the same changes (a restart mid-run)', () => {
      for (const seed of SEEDS) {
        const rand = seeded(seed);
        const original = make();
        for (let i = 0; i < 60; i++) original.mutate(rand);
        const originalModel = new Map<string, unknown>();
        takeInto(original.store, originalModel);
        const copy = restored(make, original);
        const copyModel = new Map(full(copy.store));
        // The same random changes on both: the original's generator is replayed for the copy.
        for (let round = 0; round < ROUNDS; round++) {
          const state = rand();
          const a = seeded(Math.floor(state * 2 ** 32));
          const b = seeded(Math.floor(state * 2 ** 32));
          const changes = 1 + Math.floor(state * 40);
          for (let i = 0; i < changes; i++) {
            original.mutate(a);
            copy.mutate(b);
          }
          takeInto(original.store, originalModel);
          takeInto(copy.store, copyModel);
          const at = `seed ${seed}, round ${round}`;
          assert.deepEqual(full(copy.store), full(original.store), at);
          assert.deepEqual(sortedModel(copyModel), sortedModel(originalModel), `${at}: the checkpoints agree`);
        }
      }
    });
  });
}
