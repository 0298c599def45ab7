import assert from 'node:assert/strict';
import { test } from 'node:test';
import { engineMetrics, ManualClock, type NodeStats, type RuntimeHealth } from '../../src/engine/index.ts';
import { type CombinableRuntime, combinedRuntime, combineStats } from '../../src/observability/combined-runtime.ts';
import { createPrometheusMetrics } from '../../src/observability/index.ts';

function stats(id: string, o: Partial<NodeStats>): NodeStats {
  return {
    id,
    kind: 'process',
    inputs: [],
    recordsIn: 0,
    recordsOut: {},
    watermarkMs: 0,
    idle: false,
    state: { entries: 0, bytes: 0 },
    details: {},
    ...o,
  };
}

/** A partition job's runtime as the view sees it; publishMetrics sets gauges as a Runtime does. */
function partitionRuntime(
  registry: ReturnType<typeof createPrometheusMetrics>,
  s: NodeStats[],
  health: RuntimeHealth,
  checkpointId: number,
): CombinableRuntime {
  const m = engineMetrics(registry);
  return {
    stats: () => s,
    health: () => health,
    checkpointId,
    publishMetrics: () => {
      for (const x of s) m.stateEntries.set({ operator: x.id }, x.state.entries);
    },
  };
}

test('combineStats sums counts and state per step, keeps the least watermark, and idle only when all are', () => {
  const a = [
    stats('attribute', { recordsIn: 10, recordsOut: { out: 4 }, watermarkMs: 500, state: { entries: 3, bytes: 30 } }),
  ];
  const b = [
    stats('attribute', {
      recordsIn: 5,
      recordsOut: { out: 1, late: 2 },
      watermarkMs: 200,
      idle: true,
      state: { entries: 7, bytes: 70 },
    }),
  ];
  assert.deepEqual(combineStats([a, b]), [
    stats('attribute', {
      recordsIn: 15,
      recordsOut: { out: 5, late: 2 },
      watermarkMs: 200,
      idle: false,
      state: { entries: 10, bytes: 100 },
    }),
  ]);
  assert.equal(a[0]?.recordsIn, 10, 'the inputs are not changed');
});

test('the view reports every runtime’s troubles, moves its checkpoint id with any of them, and publishes combined gauges', () => {
  const registry = createPrometheusMetrics();
  const trouble = {
    ok: false,
    troubles: [{ what: 'checkpoint', code: 'FM_PG_UNAVAILABLE' }],
  } as unknown as RuntimeHealth;
  const runtimes = [
    partitionRuntime(
      registry,
      [stats('attribute', { state: { entries: 3, bytes: 1 } })],
      { ok: true, troubles: [] },
      4,
    ),
    partitionRuntime(registry, [stats('attribute', { state: { entries: 7, bytes: 1 } })], trouble, 9),
  ];
  const view = combinedRuntime(() => runtimes, {
    registry,
    clock: new ManualClock(1000),
    consumerLag: () => new Map([['clicks', 42]]),
  });
  assert.equal(view.checkpointId, 13);
  assert.deepEqual(view.health(), { ok: false, troubles: trouble.troubles });
  view.publishMetrics?.();
  // Each runtime alone would leave its own figure (7, the last one published); the view's is the sum.
  assert.equal(registry.read('flowmark_state_entries', { operator: 'attribute' }), 10);
  assert.equal(registry.read('flowmark_consumer_lag_records', { source: 'clicks' }), 42);
});
