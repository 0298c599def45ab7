/**
 * Every StateStore implementation against the contract (state-store-contract.ts): StateTable
 * without and with a TTL, and the window operator's `windows` store (tumbling and hopping, with
 * allowed lateness so that fired windows stay in state and change again).
 */
import type { Key } from '../../../src/engine/index.ts';
import { WindowOperator } from '../../../src/engine/operators/window-operator.ts';
import type { StateStore } from '../../../src/engine/state/state-store.ts';
import { StateTable } from '../../../src/engine/state/state-table.ts';
import { hopping, tumbling, type WindowAssigner } from '../../../src/engine/windows/window-types.ts';
import { OperatorHarness } from '../operator-harness.ts';
import { type StateStoreSubject, stateStoreContract } from './state-store-contract.ts';

/** Keys with the characters a key encoding could trip over. */
const KEYS = [...Array.from({ length: 12 }, (_, i) => `k${i}`), '', 'é😀', 'a\u0000b', 'x:y', '"q"'];
const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;

class TableSubject implements StateStoreSubject {
  readonly table: StateTable<{ n: number; list: number[] }>;
  watermarkMs = 0;
  constructor(ttlMs?: number) {
    this.table = new StateTable('t', ttlMs === undefined ? {} : { ttlMs });
  }
  get store(): StateStore {
    return this.table;
  }
  mutate(rand: () => number): void {
    const t = this.table;
    const key = pick(rand, KEYS);
    const r = rand();
    // Event times around the watermark; a write without one never expires.
    const eventTimeMs = rand() < 0.2 ? undefined : this.watermarkMs + Math.floor(rand() * 3000) - 500;
    if (r < 0.4) t.set(key, { n: Math.floor(rand() * 100), list: [] }, eventTimeMs);
    else if (r < 0.55) t.delete(key);
    else if (r < 0.72) {
      // Mutated in place, then announced.
      const v = t.get(key);
      if (v !== undefined) {
        v.n++;
        v.list.push(v.n);
        t.touch(key);
      }
    } else if (r < 0.8) {
      t.set(key, { n: -1, list: [] }, eventTimeMs);
      t.delete(key);
      if (rand() < 0.5) t.set(key, { n: -2, list: [1] }, eventTimeMs);
    } else if (r < 0.995) {
      this.watermarkMs += Math.floor(rand() * 1500);
      t.expire(this.watermarkMs);
    } else {
      t.expire(Number.POSITIVE_INFINITY); // the end of a bounded input
    }
  }
  afterRestore(from: StateStoreSubject): void {
    this.watermarkMs = (from as TableSubject).watermarkMs;
  }
}

class WindowSubject implements StateStoreSubject {
  readonly harness: OperatorHarness;
  watermarkMs = 0;
  constructor(assigner: WindowAssigner) {
    this.harness = new OperatorHarness(
      () =>
        new WindowOperator<{ k: Key; n: number }, number, number>(
          (v) => v.k,
          assigner,
          { create: () => 0, add: (a, v) => a + v.n, result: (a) => a },
          { allowedLatenessMs: 1500 },
        ),
    );
  }
  get store(): StateStore {
    return this.harness.table('windows') as StateStore;
  }
  mutate(rand: () => number): void {
    if (rand() < 0.8) {
      const t = this.watermarkMs + Math.floor(rand() * 4000) - 2000;
      this.harness.element({ k: pick(rand, KEYS), n: Math.floor(rand() * 10) }, t);
    } else {
      this.watermarkMs += Math.floor(rand() * 800);
      this.harness.watermark(this.watermarkMs);
    }
  }
  afterRestore(from: StateStoreSubject): void {
    this.watermarkMs = (from as WindowSubject).watermarkMs;
    this.harness.operator.afterRestore?.(this.watermarkMs);
  }
}

stateStoreContract('StateTable', () => new TableSubject());
stateStoreContract('StateTable with a TTL', () => new TableSubject(1000));
stateStoreContract('WindowOperator windows, tumbling', () => new WindowSubject(tumbling(1000)));
stateStoreContract('WindowOperator windows, hopping', () => new WindowSubject(hopping(2000, 500)));
