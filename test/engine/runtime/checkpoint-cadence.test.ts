/**
 * When the loop cuts the next checkpoint (group commit), decided alone: never with a commit in
 * flight, not before the minimum interval (the longer backlog interval under backlog), and only
 * when something changed or the heartbeat is due; and the exact meta comparison behind "changed".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CheckpointCadence, sameMeta } from '../../../src/engine/runtime/checkpoint-cadence.ts';
import type { SnapshotMeta } from '../../../src/engine/snapshot.ts';

const cadence = new CheckpointCadence({ minIntervalMs: 20, backlogIntervalMs: 250, heartbeatMs: 2000 });
const at = (sinceCutMs: number, o: { committing?: boolean; backlog?: boolean; changed?: boolean } = {}) =>
  cadence.due({
    nowMs: 10_000 + sinceCutMs,
    lastCutAtMs: 10_000,
    committing: o.committing ?? false,
    backlog: o.backlog ?? false,
    changed: () => o.changed ?? true,
  });

test('a change is cut once the previous checkpoint is durable and the minimum interval has passed', () => {
  assert.equal(at(19), false, 'before the minimum interval');
  assert.equal(at(20), true);
  assert.equal(at(5000, { committing: true }), false, 'never with a commit in flight');
});

test('under backlog the least gap is the backlog interval', () => {
  assert.equal(at(249, { backlog: true }), false);
  assert.equal(at(250, { backlog: true }), true);
});

test('nothing changed: only the heartbeat is cut', () => {
  assert.equal(at(1999, { changed: false }), false);
  assert.equal(at(2000, { changed: false }), true);
  assert.equal(at(2000, { changed: false, committing: true }), false);
});

test('whether anything changed is asked only when the cut is otherwise due', () => {
  let asked = 0;
  const due = (sinceCutMs: number, committing: boolean) =>
    cadence.due({
      nowMs: sinceCutMs,
      lastCutAtMs: 0,
      committing,
      backlog: false,
      changed: () => {
        asked++;
        return false;
      },
    });
  due(5, false);
  due(100, true);
  due(3000, false);
  assert.equal(asked, 0);
  due(100, false);
  assert.equal(asked, 1);
});

test('the heartbeat and the backlog interval are never shorter than the minimum interval', () => {
  const slow = new CheckpointCadence({ minIntervalMs: 5000, backlogIntervalMs: 250, heartbeatMs: 2000 });
  const due = (sinceCutMs: number, backlog: boolean, changed: boolean) =>
    slow.due({ nowMs: sinceCutMs, lastCutAtMs: 0, committing: false, backlog, changed: () => changed });
  assert.equal(due(4999, false, false), false);
  assert.equal(due(4999, true, true), false);
  assert.equal(due(5000, false, false), true);
});

const meta = (): SnapshotMeta => ({
  sources: { in: { offsets: { 0: 3, 1: 0 }, maxEventTimeMs: { 0: 500, 1: Number.NEGATIVE_INFINITY } } },
  nodes: {
    in: { inputWatermarksMs: [], watermarkMs: Number.NEGATIVE_INFINITY, outputWatermarkMs: 490 },
    pass: { inputWatermarksMs: [490], watermarkMs: 490, outputWatermarkMs: 490 },
  },
});

test('sameMeta: equal metas are the same; any moved offset, partition maximum or watermark is a change', () => {
  assert.equal(sameMeta(meta(), meta()), true);
  const changes: Array<(m: SnapshotMeta) => void> = [
    (m) => {
      (m.sources.in as { offsets: Record<string, number> }).offsets[1] = 1;
    },
    (m) => {
      (m.sources.in as { maxEventTimeMs: Record<string, number> }).maxEventTimeMs[1] = 7;
    },
    (m) => {
      (m.nodes.pass as { inputWatermarksMs: number[] }).inputWatermarksMs[0] = 491;
    },
    (m) => {
      (m.nodes.pass as { watermarkMs: number }).watermarkMs = 491;
    },
    (m) => {
      (m.nodes.in as { outputWatermarkMs: number }).outputWatermarkMs = 491;
    },
    (m) => {
      // −∞ and +∞ are different (JSON would write both as null).
      (m.nodes.in as { watermarkMs: number }).watermarkMs = Number.POSITIVE_INFINITY;
    },
    (m) => {
      m.sources.other = { offsets: {}, maxEventTimeMs: {} };
    },
    (m) => {
      delete m.nodes.pass;
    },
  ];
  for (const [i, change] of changes.entries()) {
    const m = meta();
    change(m);
    assert.equal(sameMeta(meta(), m), false, `change ${i}`);
    assert.equal(sameMeta(m, meta()), false, `change ${i}, the other way round`);
  }
});

test('msUntilDue: what an idle loop may sleep before the next cut is due', () => {
  const until = (sinceCutMs: number, o: { committing?: boolean; backlog?: boolean; changed: boolean }) =>
    cadence.msUntilDue({
      nowMs: sinceCutMs,
      lastCutAtMs: 0,
      committing: o.committing ?? false,
      backlog: o.backlog ?? false,
      changed: () => o.changed,
    });
  assert.equal(until(5, { changed: true }), 15, 'a change waits for the minimum interval');
  assert.equal(until(5, { changed: true, backlog: true }), 245);
  assert.equal(until(30, { changed: true }), 0);
  assert.equal(until(500, { changed: false }), 1500, 'nothing changed: the heartbeat');
  assert.equal(until(5, { changed: true, committing: true }), Number.POSITIVE_INFINITY);
});
