/**
 * A keyed process function on time-bucketed tables, in the attribution's shape, for the engine's
 * property tests (in memory: properties.test.ts; through the SQL committer's chunks:
 * test/connectors/sql/chunked-restore.property.test.ts).
 */
import type { KeyedProcessFunction, TimeTableState } from '../../src/engine/operators/keyed-process-operator.ts';
import type { Ev } from './engine-fixtures.ts';

/**
 * The attribution's shape on time-bucketed tables: even events are "clicks" kept for 60 ms, odd
 * ones "checkouts" that wait (retention 0) until the watermark passes them, then emit the first
 * click of their key in [t − 60, t].
 */
export const FIRST_LOOKBACK_MS = 60;
export const firstInWindow: KeyedProcessFunction<
  Ev,
  string,
  { clicks: TimeTableState<{ id: 'string' }>; pending: TimeTableState<{ id: 'string' }> }
> = {
  state: (s) => ({
    clicks: s.timeTable({ name: 'clicks', retentionMs: FIRST_LOOKBACK_MS, idColumn: 'id', columns: { id: 'string' } }),
    pending: s.timeTable({ name: 'pending', retentionMs: 0, bucketWidthMs: 10, columns: { id: 'string' } }),
  }),
  onElement: (e, ctx, st) => {
    if (Number(e.id.slice(1)) % 2 === 0) st.clicks.insert(e.t, { id: e.id });
    else {
      st.pending.insert(e.t, { id: e.id });
      ctx.registerTimer(e.t);
    }
  },
  onTimer: (t, ctx, st) => {
    for (const ref of st.pending.range(t, t)) {
      const first = st.clicks.first(t - FIRST_LOOKBACK_MS, t);
      ctx.emit(`${st.pending.value(ref, 'id')}<-${first < 0 ? 'none' : st.clicks.value(first, 'id')}`);
    }
  },
};
