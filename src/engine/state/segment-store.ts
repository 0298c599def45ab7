import type { ColumnCodec } from './column-codecs.ts';

/**
 * The port through which a time-bucketed table keeps buckets on local disk ("cold segments"):
 * the engine does no I/O, so the store is a connector (`connectors/local-state`: one SQLite file
 * per segment) handed in through {@link ColdStorage}.
 */
export interface SegmentStore {
  /** The path of the segment of bucket `index` in a table's directory. */
  segmentPath(dir: string, index: number): string;
  /**
   * Writes a new segment (replacing one at `path`) of `entries`, in insertion order; with
   * `identity`, a manifest is written beside it once the file is complete (and synced when `sync`).
   */
  write(
    path: string,
    index: number,
    maxTimeMs: number,
    codecs: readonly ColumnCodec[],
    entries: ReadonlyArray<{ key: string; timeMs: number; values: CellValue[] }>,
    identity: (SegmentIdentity & { coveredSeq: number; deletesSeq: number }) | undefined,
    sync: boolean,
  ): ColdSegment;
  /**
   * The segments of `dir` whose manifests match `expect` (see {@link SegmentManifest}); every
   * other file of `dir` is deleted, `rejected` says why.
   */
  reuse(
    dir: string,
    expect: Omit<SegmentIdentity, 'lineage'> & { lineage: string | undefined; maxSeq: number; cutoffMs: number },
    codecs: readonly ColumnCodec[],
  ): { segments: ColdSegment[]; rejected: string[] };
  /** Deletes the directory; true when it held something. */
  clear(dir: string): boolean;
}

/** One segment on disk: the entries of one sealed bucket. */
export interface ColdSegment {
  readonly path: string;
  readonly index: number;
  /** The bucket's latest time (deleted entries' too): the segment expires when the bucket would have. */
  readonly maxTimeMs: number;
  /** Entries not deleted. */
  readonly live: number;
  /** Bytes held in memory for it (its key filter). */
  readonly memoryBytes: number;
  /** False when no entry of `key` was ever written here: the disk need not be read. */
  mayHave(key: string): boolean;
  /** {@link mayHave} of a key hashed once by `KeyFilter.hashesOf`. */
  mayHaveHashed(h1: number, h2: number): boolean;
  /** The entries of `key` with fromMs ≤ time ≤ toMs, by (time, insertion). */
  read(key: string, fromMs: number, toMs: number): ColdEntry[];
  /** Every entry, in insertion order. */
  readAll(): ColdEntry[];
  /** Deletes the entries of `key` at `timeMs` that `match` accepts; `nextSeq`: the chunk that records it. */
  delete(key: string, timeMs: number, match: (e: ColdEntry) => boolean, nextSeq: number): number;
  close(): void;
  /** Closes it and deletes its files, the manifest first. */
  destroy(): void;
}

/** A value of one column of an entry, as the table's reads give it. */
export type CellValue = string | number | null;

/** One entry read back from a segment: its key, event time, order among equal times, and fields. */
export interface ColdEntry {
  key: string;
  timeMs: number;
  ord: number;
  values: CellValue[];
}

/** Which table and which checkpoint history a segment belongs to: what its manifest must match to be reused. */
export interface SegmentIdentity {
  table: string;
  columns: Array<[string, ColumnCodec]>;
  idColumn: string | null;
  bucketWidthMs: number;
  /** The table's chunk lineage (a random id carried by every chunk of one checkpoint history). */
  lineage: string;
}

/**
 * The manifest beside a segment, written after the segment file is complete (and synced): a
 * segment without one, or whose manifest does not match the restored checkpoint, is never read
 * after a restart. The rule (docs/engine.md, "Cold segments"): reused only when every entry and
 * every delete in it is in a chunk the checkpoint holds — `coveredSeq` and `deletesSeq` ≤ the
 * restored chunks' last sequence number, of the same lineage — and no delete was under way.
 */
export interface SegmentManifest extends SegmentIdentity {
  version: 1;
  index: number;
  maxTimeMs: number;
  live: number;
  /** Every entry in the segment is in a chunk with a sequence number ≤ this. */
  coveredSeq: number;
  /** The deletes made in the segment after it was written are in chunks ≤ this (0: none). */
  deletesSeq: number;
  /** False while a delete is being made: a crash then leaves a segment that is not reused. */
  clean: boolean;
  /** The segment file's size when the manifest was written. */
  bytes: number;
}
