/**
 * The local store of the time-bucketed state beyond its memory budget (`state.local_dir`): the
 * engine's `SegmentStore` port over one SQLite file (`node:sqlite`) per event-time segment.
 */
export { ColdSegment, decodeValues, encodeValues, sqliteSegmentStore } from './sqlite-segment-store.ts';
