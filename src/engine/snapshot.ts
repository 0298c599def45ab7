import { FlowmarkError } from './errors.ts';

/**
 * Checkpoint snapshots and their byte format.
 *
 * A snapshot is a list of state-table changes plus a small metadata document (source offsets,
 * per-partition event-time maxima, operator watermarks). A *delta* snapshot holds only the
 * entries changed since the previous checkpoint; a *full* one holds every entry. A store keeps
 * the compacted result ({@link CompactedSnapshot}): applying deltas in order gives the same
 * state as a full snapshot taken at the same point, so a checkpoint's cost follows what changed,
 * never the total size of the state.
 *
 * Byte format, version 1 (all integers big-endian):
 * ```
 * "FMSN" | u16 version | u32 headerLength | header JSON | u32 entryCount |
 *   entryCount × ( u32 length | entry JSON: [node, table, key] or [node, table, key, value, expiresAtMs?] )
 * ```
 * A three-element entry is a deletion. ±∞ in the header are written as the strings "+inf"/"-inf".
 */
export const SNAPSHOT_FORMAT_VERSION = 1;
const MAGIC = [0x46, 0x4d, 0x53, 0x4e]; // "FMSN"

/** Per-source position: the next offset to read and the largest event time seen, per partition. */
export interface SourcePosition {
  offsets: Record<string, number>;
  maxEventTimeMs: Record<string, number>;
}

/** Metadata stored with every snapshot. */
export interface SnapshotMeta {
  sources: Record<string, SourcePosition>;
  /** Per node: the watermark of each input, and the node's own (output-side) watermark. */
  nodes: Record<string, { inputWatermarksMs: number[]; watermarkMs: number; outputWatermarkMs: number }>;
}

/** One state entry; `value === undefined` deletes the key. */
export interface SnapshotEntry {
  node: string;
  table: string;
  key: string;
  value: unknown;
  expiresAtMs?: number;
  /**
   * The value as JSON text, when the producer already has it: every live entry of a checkpoint
   * cut by the runtime carries it ({@link frozenEntry}). A store writes it as is rather than
   * serializing `value` again.
   */
  readonly json?: string;
}

/**
 * A live state entry frozen when its checkpoint is cut: the value is serialized at once, so an
 * operator that goes on mutating the live value (a list spliced in place) cannot change a
 * checkpoint that is still being committed — or retried. `value` is parsed back on demand.
 */
class FrozenEntry implements SnapshotEntry {
  readonly node: string;
  readonly table: string;
  readonly key: string;
  readonly json: string;
  expiresAtMs?: number;
  constructor(node: string, table: string, key: string, json: string) {
    this.node = node;
    this.table = table;
    this.key = key;
    this.json = json;
  }
  get value(): unknown {
    return JSON.parse(this.json);
  }
}

/**
 * The entry of a checkpoint for one changed key: a deletion when `value` is undefined, else a
 * {@link FrozenEntry}. Throws `FM_STATE_NOT_SERIALIZABLE` for a value JSON cannot carry.
 */
export function frozenEntry(
  node: string,
  table: string,
  key: string,
  value: unknown,
  expiresAtMs: number | undefined,
): SnapshotEntry {
  if (value === undefined) return { node, table, key, value: undefined };
  const e = new FrozenEntry(node, table, key, stateValueJson(node, table, key, value));
  if (expiresAtMs !== undefined) e.expiresAtMs = expiresAtMs;
  return e;
}

/** `value` as JSON text, or `FM_STATE_NOT_SERIALIZABLE` naming the state and key. */
export function stateValueJson(node: string, table: string, key: string, value: unknown): string {
  const notSerializable = (why: string) =>
    new FlowmarkError(
      'FM_STATE_NOT_SERIALIZABLE',
      `state ${node}/${table} key ${key} cannot be snapshotted (${why}): state values must be JSON-serializable plain data`,
    );
  const t = typeof value;
  if (t === 'function' || t === 'symbol' || t === 'bigint') throw notSerializable(`a ${t}`);
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw notSerializable((err as Error).message);
  }
  if (json === undefined) throw notSerializable('not JSON data');
  return json;
}

export interface Snapshot {
  version: number;
  checkpointId: number;
  kind: 'full' | 'delta';
  meta: SnapshotMeta;
  entries: SnapshotEntry[];
}

/** A JSON replacer writing ±∞ (watermarks) as "+inf"/"-inf", as the snapshot header does. */
export function replaceInfinity(_key: string, value: unknown): unknown {
  if (value === Number.POSITIVE_INFINITY) return '+inf';
  if (value === Number.NEGATIVE_INFINITY) return '-inf';
  return value;
}

/** The reviver matching {@link replaceInfinity}. */
export function reviveInfinity(_key: string, value: unknown): unknown {
  if (value === '+inf') return Number.POSITIVE_INFINITY;
  if (value === '-inf') return Number.NEGATIVE_INFINITY;
  return value;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes a snapshot into the stable, versioned byte format. */
export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  const header = encoder.encode(
    JSON.stringify({ checkpointId: snapshot.checkpointId, kind: snapshot.kind, meta: snapshot.meta }, replaceInfinity),
  );
  const parts: Uint8Array[] = [];
  let total = 4 + 2 + 4 + header.length + 4;
  for (const e of snapshot.entries) {
    const head = JSON.stringify([e.node, e.table, e.key]);
    let json: string;
    if (e.json === undefined && e.value === undefined) json = head;
    else {
      const value = e.json ?? stateValueJson(e.node, e.table, e.key, e.value);
      const exp = e.expiresAtMs === undefined ? '' : `,${JSON.stringify(e.expiresAtMs)}`;
      json = `${head.slice(0, -1)},${value}${exp}]`;
    }
    const bytes = encoder.encode(json);
    parts.push(bytes);
    total += 4 + bytes.length;
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint16(4, SNAPSHOT_FORMAT_VERSION);
  view.setUint32(6, header.length);
  out.set(header, 10);
  let pos = 10 + header.length;
  view.setUint32(pos, parts.length);
  pos += 4;
  for (const p of parts) {
    view.setUint32(pos, p.length);
    out.set(p, pos + 4);
    pos += 4 + p.length;
  }
  return out;
}

function corrupt(detail: string): FlowmarkError {
  return new FlowmarkError('FM_SNAPSHOT_CORRUPT', `snapshot bytes are corrupt: ${detail}`);
}

/** Decodes bytes written by {@link encodeSnapshot}; rejects other formats and future versions. */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  if (bytes.length < 14) throw corrupt(`only ${bytes.length} bytes`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw corrupt('missing FMSN magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4);
  if (version !== SNAPSHOT_FORMAT_VERSION) {
    throw new FlowmarkError(
      'FM_SNAPSHOT_VERSION',
      `snapshot format version ${version} is not supported (this flowmark reads version ${SNAPSHOT_FORMAT_VERSION})`,
    );
  }
  const headerLength = view.getUint32(6);
  if (10 + headerLength + 4 > bytes.length) throw corrupt('header runs past the end');
  let header: { checkpointId: number; kind: 'full' | 'delta'; meta: SnapshotMeta };
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(10, 10 + headerLength)), reviveInfinity);
  } catch (err) {
    throw corrupt(`header is not JSON (${(err as Error).message})`);
  }
  let pos = 10 + headerLength;
  const count = view.getUint32(pos);
  pos += 4;
  const entries: SnapshotEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (pos + 4 > bytes.length) throw corrupt(`entry ${i} of ${count} is missing`);
    const len = view.getUint32(pos);
    if (pos + 4 + len > bytes.length) throw corrupt(`entry ${i} runs past the end`);
    let arr: unknown[];
    try {
      arr = JSON.parse(decoder.decode(bytes.subarray(pos + 4, pos + 4 + len)));
    } catch (err) {
      throw corrupt(`entry ${i} is not JSON (${(err as Error).message})`);
    }
    pos += 4 + len;
    const [node, table, key, value, expiresAtMs] = arr as [string, string, string, unknown, number | undefined];
    const entry: SnapshotEntry = { node, table, key, value: arr.length >= 4 ? value : undefined };
    if (expiresAtMs !== undefined) entry.expiresAtMs = expiresAtMs;
    entries.push(entry);
  }
  if (pos !== bytes.length) throw corrupt(`${bytes.length - pos} trailing bytes`);
  return { version, checkpointId: header.checkpointId, kind: header.kind, meta: header.meta, entries };
}

function entryId(node: string, table: string, key: string): string {
  return `${node}\u0000${table}\u0000${key}`;
}

/**
 * The state a store keeps: the latest metadata and every live entry, built by applying a full
 * snapshot and then deltas in checkpoint order.
 */
export class CompactedSnapshot {
  checkpointId = 0;
  meta: SnapshotMeta = { sources: {}, nodes: {} };
  #entries = new Map<string, SnapshotEntry>();

  get size(): number {
    return this.#entries.size;
  }

  apply(snapshot: Snapshot): void {
    if (snapshot.kind === 'full') this.#entries.clear();
    for (const e of snapshot.entries) {
      const id = entryId(e.node, e.table, e.key);
      if (e.value === undefined) this.#entries.delete(id);
      else this.#entries.set(id, e);
    }
    this.checkpointId = snapshot.checkpointId;
    this.meta = snapshot.meta;
  }

  entries(): IterableIterator<SnapshotEntry> {
    return this.#entries.values();
  }

  /** A full snapshot equivalent to everything applied so far. */
  toSnapshot(): Snapshot {
    return {
      version: SNAPSHOT_FORMAT_VERSION,
      checkpointId: this.checkpointId,
      kind: 'full',
      meta: this.meta,
      entries: [...this.#entries.values()],
    };
  }
}
