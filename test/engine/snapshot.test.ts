import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFlowmarkError } from '../../src/engine/errors.ts';
import {
  CompactedSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  SNAPSHOT_FORMAT_VERSION,
  type Snapshot,
} from '../../src/engine/snapshot.ts';

const meta = {
  sources: { clicks: { offsets: { '0': 5 }, maxEventTimeMs: { '0': 1234 } } },
  nodes: { join: { inputWatermarksMs: [-Infinity, 10], watermarkMs: -Infinity, outputWatermarkMs: Infinity } },
};

function snap(id: number, kind: 'full' | 'delta', entries: Snapshot['entries']): Snapshot {
  return { version: SNAPSHOT_FORMAT_VERSION, checkpointId: id, kind, meta, entries };
}

test('a snapshot survives encode → decode unchanged, infinities and deletions included', () => {
  const s = snap(7, 'delta', [
    { node: 'join', table: 'left', key: 'u1', value: [[1, 'a']], expiresAtMs: 99 },
    { node: 'join', table: 'left', key: 'u2', value: undefined },
    { node: 'w', table: 'acc', key: 'é|"k"', value: { n: 1, s: 'ünïcode' } },
  ]);
  assert.deepEqual(decodeSnapshot(encodeSnapshot(s)), s);
});

test('the byte format starts with FMSN and the version', () => {
  const bytes = encodeSnapshot(snap(1, 'full', []));
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), 'FMSN');
  assert.equal((bytes[4] as number) * 256 + (bytes[5] as number), SNAPSHOT_FORMAT_VERSION);
});

test('truncated, foreign and future-version bytes are refused with a clear code', () => {
  const bytes = encodeSnapshot(snap(1, 'full', [{ node: 'n', table: 't', key: 'k', value: 1 }]));
  assert.throws(
    () => decodeSnapshot(bytes.subarray(0, bytes.length - 3)),
    (e) => isFlowmarkError(e, 'FM_SNAPSHOT_CORRUPT'),
  );
  assert.throws(
    () => decodeSnapshot(new TextEncoder().encode('{"not":"a snapshot"}')),
    (e) => isFlowmarkError(e, 'FM_SNAPSHOT_CORRUPT'),
  );
  const future = bytes.slice();
  future[5] = 99;
  assert.throws(
    () => decodeSnapshot(future),
    (e) => isFlowmarkError(e, 'FM_SNAPSHOT_VERSION'),
  );
});

test('a value that JSON cannot carry is refused when the snapshot is taken', () => {
  assert.throws(
    () => encodeSnapshot(snap(1, 'full', [{ node: 'n', table: 't', key: 'k', value: () => 1 }])),
    (e) => isFlowmarkError(e, 'FM_STATE_NOT_SERIALIZABLE'),
  );
});

test('compaction: a full snapshot then deltas equal the latest state, deletions applied', () => {
  const c = new CompactedSnapshot();
  c.apply(
    snap(1, 'full', [
      { node: 'n', table: 't', key: 'a', value: 1 },
      { node: 'n', table: 't', key: 'b', value: 2 },
    ]),
  );
  c.apply(
    snap(2, 'delta', [
      { node: 'n', table: 't', key: 'a', value: undefined },
      { node: 'n', table: 't', key: 'c', value: 3 },
    ]),
  );
  c.apply(snap(3, 'delta', [{ node: 'n', table: 't', key: 'b', value: 20 }]));
  assert.equal(c.checkpointId, 3);
  assert.deepEqual([...c.entries()].map((e) => [e.key, e.value]).sort(), [
    ['b', 20],
    ['c', 3],
  ]);
  assert.equal(c.toSnapshot().kind, 'full');
});
