/**
 * The public entry of the event-time dataflow engine. Everything else in src/engine is internal.
 * The engine does no I/O and imports nothing from the rest of flowmark.
 */
export {
  type Checkpoint,
  type CheckpointCommitter,
  isChunkExpired,
  type NodeChunk,
  type RestorePoint,
  type StoredChunk,
} from './checkpoint.ts';
export { ERROR_CODES, type ErrorCode, FlowmarkError, isFlowmarkError, RETRIABLE_ERROR_CODES } from './errors.ts';
export {
  type HealthChange,
  HealthTracker,
  isRetriable,
  nextBackoffMs,
  type RuntimeHealth,
  type Trouble,
} from './health.ts';
export { MinHeap } from './heap.ts';
export type { IntervalJoinSpec } from './interval-join-types.ts';
export type { LookupFn, LookupJoinSpec } from './lookup-types.ts';
export {
  type CounterHook,
  type EngineMetrics,
  engineMetrics,
  type GaugeHook,
  type HistogramHook,
  type Labels,
  type MetricsRegistry,
  noopMetrics,
} from './metrics.ts';
export {
  type AsyncOperatorFacet,
  type Key,
  LATE_PORT,
  type NodeKind,
  type Operator,
  type OperatorContext,
  type OperatorKind,
  OUT_PORT,
  type Output,
  type PortRole,
  type PortSpec,
} from './operator.ts';
export type {
  KeyedProcessContext,
  KeyedProcessFunction,
  MapState,
  SortedListState,
  StateDeclarer,
  TimeTableDeclaration,
  TimeTableState,
  ValueState,
} from './operators/keyed-process-operator.ts';
export {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_OUT_OF_ORDERNESS_MS,
  KeyedStream,
  Pipeline,
  type SourceSpec,
  Stream,
} from './pipeline.ts';
export {
  checkpointHeartbeatOf,
  DEFAULT_BACKLOG_CHECKPOINT_INTERVAL_MS,
  DEFAULT_CHECKPOINT_HEARTBEAT_MS,
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  DEFAULT_IDLE_WAIT_MS,
  type NodeStats,
  type RunOptions,
  type RunSummary,
  Runtime,
  type RuntimeOptions,
} from './runtime/runtime.ts';
export {
  CompactedSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  replaceInfinity,
  reviveInfinity,
  SNAPSHOT_FORMAT_VERSION,
  type Snapshot,
  type SnapshotEntry,
  type SnapshotMeta,
  stateValueJson,
} from './snapshot.ts';
export { type InvalidRecord, type PollResult, Rejected, type SourceReader, type SourceRecord } from './source.ts';
export {
  ColdStorage,
  type ColdStorageOptions,
  DEFAULT_STATE_MEMORY_BUDGET_BYTES,
} from './state/cold-storage.ts';
export type { ColumnCodec, ColumnSpecs, ColumnValue, Row as TableRow } from './state/column-codecs.ts';
export { formatUuid, parseUuid } from './state/column-codecs.ts';
export { crc32 } from './state/crc32-checksum.ts';
export { KeyFilter } from './state/key-filter.ts';
export type {
  CellValue,
  ColdEntry,
  ColdSegment,
  SegmentIdentity,
  SegmentManifest,
  SegmentStore,
} from './state/segment-store.ts';
export { STATE_CHUNK_FORMAT_VERSION } from './state/state-chunk-codec.ts';
export type { ChunkedStateStore, StateStore } from './state/state-store.ts';
export { type StateSize, StateTable, type StateTableOptions } from './state/state-table.ts';
export {
  type ChunkInput,
  type TableChunk,
  TimeBucketedTable,
  type TimeBucketedTableSpec,
} from './state/time-bucketed-table.ts';
export {
  type Clock,
  formatEventTime,
  MAX_WATERMARK,
  ManualClock,
  MIN_WATERMARK,
  parseDurationMs,
  systemClock,
} from './time.ts';
export {
  type AggregateFunction,
  cumulate,
  hopping,
  session,
  tumbling,
  type WindowAssigner,
  type WindowOptions,
  type WindowResult,
} from './windows/window-types.ts';
