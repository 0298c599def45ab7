import { FlowmarkError } from '../errors.ts';
import { COLUMN_CODECS, type ColumnCodec, wordsOf } from './column-codecs.ts';
import { crc32 } from './crc32-checksum.ts';

/**
 * The binary chunk of a time-bucketed table: what one `takeChunk` saw added or explicitly deleted
 * since the previous one, self-contained (its own string dictionary), so that any chunk can be
 * dropped once every entry in it has expired.
 *
 * Format, version 1 (integers little-endian):
 * ```
 *  0  "FMTB"                       magic
 *  4  u16 version                  1
 *  6  u16 flags                    0
 *  8  u32 length                   of the whole chunk, CRC included: a cut chunk is seen at once
 * 12  u32 H                        header length
 * 16  header, H bytes of JSON      {table, seq, retentionMs, columns: [[name, codec]…], idColumn,
 *                                   minTimeMs, maxTimeMs, strings, deletes, inserts}
 *     strings   S × u32 (byteLength × 2, + 1 if UTF-16LE) | the bytes (UTF-8, or UTF-16LE for a
 *               string that is not well-formed Unicode: UTF-8 could not carry a lone surrogate)
 *     deletes   D × u32 key | D × f64 time | D id cells (only with an id column)
 *     inserts   N × u32 key | N × f64 time | per column, N cells
 * -4  u32 CRC-32 of every byte before it
 * ```
 * Keys and `string` cells are indexes into the chunk's strings (0xffffffff: null). Cells: `uuid`
 * 4 × u32 (16 bytes, or the fallback marker with a string index), `string` u32, `i32` i32, `f64`
 * and `timeMs` f64. The frame (magic, version, flags, length, trailing CRC) is the same in every
 * version, so a damaged byte is reported as damage, and only an intact chunk as a newer version.
 */
export const STATE_CHUNK_FORMAT_VERSION = 1;
const MAGIC = [0x46, 0x4d, 0x54, 0x42]; // "FMTB"
const FIXED = 16;

/** What a chunk's header says. */
export interface ChunkHeader {
  table: string;
  /** The chunk's number in its table: chunks are applied in this order. */
  seq: number;
  retentionMs: number;
  columns: Array<[string, ColumnCodec]>;
  idColumn: string | null;
  /** The smallest and largest event time of an entry or delete in the chunk. */
  minTimeMs: number;
  maxTimeMs: number;
  /**
   * A random id shared by the chunks of one checkpoint history of the table (absent in chunks of
   * tables without a local store, and before it existed): a local segment is reused only with it.
   */
  lineage?: string;
  strings: number;
  deletes: number;
  inserts: number;
}

/** The columns of one section, as the table hands them to {@link encodeChunk}. */
export interface ChunkSection {
  count: number;
  /** String index of each entry's key. */
  keys: Uint32Array;
  times: Float64Array;
  /** One array per column (inserts) or the id column alone (deletes, when there is one). */
  cells: Array<Uint32Array | Int32Array | Float64Array>;
}

export interface ChunkContents {
  header: Omit<ChunkHeader, 'strings' | 'deletes' | 'inserts'>;
  strings: readonly string[];
  deletes: ChunkSection;
  inserts: ChunkSection;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes a chunk. */
export function encodeChunk(c: ChunkContents): Uint8Array {
  const header: ChunkHeader = {
    ...c.header,
    strings: c.strings.length,
    deletes: c.deletes.count,
    inserts: c.inserts.count,
  };
  const headerBytes = encoder.encode(JSON.stringify(header));
  // Every string into one buffer (encodeInto: no array per string; a chunk may hold a million).
  const n = c.strings.length;
  let chars = 0;
  for (const s of c.strings) chars += s.length;
  const text = new Uint8Array(3 * chars);
  const lengthFields = new Uint32Array(n);
  let textLength = 0;
  for (let i = 0; i < n; i++) {
    const s = c.strings[i] as string;
    if (s.isWellFormed()) {
      const w = encoder.encodeInto(s, text.subarray(textLength)).written;
      lengthFields[i] = 2 * w;
      textLength += w;
    } else {
      const b = utf16le(s);
      text.set(b, textLength);
      lengthFields[i] = 2 * b.length + 1;
      textLength += b.length;
    }
  }
  let total = FIXED + headerBytes.length + 4 * n + textLength;
  const idCodecs = header.idColumn === null ? [] : [codecOf(header, header.idColumn)];
  total += sectionBytes(c.deletes.count, idCodecs);
  total += sectionBytes(
    c.inserts.count,
    header.columns.map(([, codec]) => codec),
  );
  total += 4;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint16(4, STATE_CHUNK_FORMAT_VERSION, true);
  dv.setUint16(6, 0, true);
  dv.setUint32(8, total, true);
  dv.setUint32(12, headerBytes.length, true);
  out.set(headerBytes, FIXED);
  let at = FIXED + headerBytes.length;
  for (let i = 0; i < n; i++, at += 4) dv.setUint32(at, lengthFields[i] as number, true);
  out.set(text.subarray(0, textLength), at);
  at += textLength;
  at = writeSection(dv, at, c.deletes, idCodecs);
  at = writeSection(
    dv,
    at,
    c.inserts,
    header.columns.map(([, codec]) => codec),
  );
  dv.setUint32(at, crc32(out, 0, at), true);
  return out;
}

function codecOf(h: { columns: Array<[string, ColumnCodec]> }, name: string): ColumnCodec {
  const col = h.columns.find(([n]) => n === name);
  if (col === undefined) throw new RangeError(`id column ${name} is not a column`);
  return col[1];
}

function sectionBytes(n: number, codecs: readonly ColumnCodec[]): number {
  let words = 0;
  for (const c of codecs) words += wordsOf(c);
  return n * (4 + 8 + 4 * words);
}

function writeSection(dv: DataView, at: number, s: ChunkSection, codecs: readonly ColumnCodec[]): number {
  const n = s.count;
  for (let i = 0; i < n; i++, at += 4) dv.setUint32(at, s.keys[i] as number, true);
  for (let i = 0; i < n; i++, at += 8) dv.setFloat64(at, s.times[i] as number, true);
  codecs.forEach((codec, c) => {
    const cells = s.cells[c] as Uint32Array | Int32Array | Float64Array;
    if (codec === 'f64' || codec === 'timeMs') {
      for (let i = 0; i < n; i++, at += 8) dv.setFloat64(at, cells[i] as number, true);
    } else if (codec === 'i32') {
      for (let i = 0; i < n; i++, at += 4) dv.setInt32(at, cells[i] as number, true);
    } else {
      // uuid: 4 words a cell; string: 1 word (−1, null, is written as 0xffffffff).
      const m = n * wordsOf(codec);
      for (let i = 0; i < m; i++, at += 4) dv.setUint32(at, (cells[i] as number) >>> 0, true);
    }
  });
  return at;
}

function utf16le(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 * i] = c & 0xff;
    out[2 * i + 1] = c >>> 8;
  }
  return out;
}

/** Byte offsets of one section of a decoded chunk. */
export interface SectionLayout {
  count: number;
  keysAt: number;
  timesAt: number;
  /** Offset of each column's cells (inserts: every column; deletes: the id column, if any). */
  cellsAt: number[];
}

/** A chunk whose frame, checksum and header have been checked; the body is read in place. */
export interface ChunkView {
  /** What errors call the chunk: the caller's name, with the table and sequence number. */
  name: string;
  header: ChunkHeader;
  dv: DataView;
  stringsAt: number;
  deletes: SectionLayout;
  inserts: SectionLayout;
}

/**
 * Checks a chunk's frame (magic, length, CRC-32), then its version, then its header, and returns
 * where its sections are. Throws `FM_SNAPSHOT_CORRUPT` for a truncated or damaged chunk and
 * `FM_SNAPSHOT_VERSION` for an intact chunk of a newer format, naming the chunk.
 */
export function openChunk(bytes: Uint8Array, name: string): ChunkView {
  const corrupt = (detail: string) =>
    new FlowmarkError(
      'FM_SNAPSHOT_CORRUPT',
      `state chunk ${name} is corrupt: ${detail}. The checkpoint cannot be restored as it is: restore the ` +
        `database from a backup, or delete the job's checkpoint to rebuild its state from the source`,
    );
  if (bytes.length < FIXED + 4) throw corrupt(`only ${bytes.length} bytes (truncated)`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw corrupt('it does not start with FMTB');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = dv.getUint32(8, true);
  if (length > bytes.length) throw corrupt(`truncated: ${bytes.length} of its ${length} bytes`);
  if (length < bytes.length) throw corrupt(`${bytes.length - length} bytes after its end`);
  const stored = dv.getUint32(length - 4, true);
  const computed = crc32(bytes, 0, length - 4);
  if (stored !== computed) {
    throw corrupt(`its CRC-32 is ${hex(computed)}, the chunk says ${hex(stored)} (a damaged byte)`);
  }
  const version = dv.getUint16(4, true);
  if (version !== STATE_CHUNK_FORMAT_VERSION) {
    throw new FlowmarkError(
      'FM_SNAPSHOT_VERSION',
      `state chunk ${name} has format version ${version}; this flowmark reads version ` +
        `${STATE_CHUNK_FORMAT_VERSION}: it was written by a newer flowmark, run that one (or a newer one) on this state`,
    );
  }
  const headerLength = dv.getUint32(12, true);
  if (FIXED + headerLength > length - 4) throw corrupt('its header runs past the end');
  let header: ChunkHeader;
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(FIXED, FIXED + headerLength))) as ChunkHeader;
  } catch (err) {
    throw corrupt(`its header is not JSON (${(err as Error).message})`);
  }
  const why = invalidHeader(header);
  if (why !== undefined) throw corrupt(`its header ${why}`);
  const named = `${name} (table ${header.table}, chunk #${header.seq})`;
  let at = FIXED + headerLength;
  const stringsAt = at;
  if (at + 4 * header.strings > length - 4) throw corrupt('its strings run past the end');
  let stringBytes = 0;
  for (let i = 0; i < header.strings; i++) stringBytes += sizeOf(dv.getUint32(at + 4 * i, true));
  at += 4 * header.strings + stringBytes;
  const idCodecs = header.idColumn === null ? [] : [codecOf(header, header.idColumn)];
  const deletes = layout(header.deletes, idCodecs, at);
  at = deletes.end;
  const inserts = layout(
    header.inserts,
    header.columns.map(([, c]) => c),
    at,
  );
  if (inserts.end !== length - 4) {
    throw corrupt(`its sections end at byte ${inserts.end}, not at ${length - 4} where its checksum is`);
  }
  return { name: named, header, dv, stringsAt, deletes: deletes.section, inserts: inserts.section };
}

/** Byte length of a string from its length field. */
function sizeOf(field: number): number {
  return Math.floor(field / 2);
}

function layout(count: number, codecs: readonly ColumnCodec[], at: number): { section: SectionLayout; end: number } {
  const keysAt = at;
  const timesAt = keysAt + 4 * count;
  let cell = timesAt + 8 * count;
  const cellsAt: number[] = [];
  for (const c of codecs) {
    cellsAt.push(cell);
    cell += 4 * wordsOf(c) * count;
  }
  return { section: { count, keysAt, timesAt, cellsAt }, end: cell };
}

/** The chunk's strings, decoded. */
export function chunkStrings(view: ChunkView): string[] {
  const { dv } = view;
  const n = view.header.strings;
  const out: string[] = new Array(n);
  const bytes = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
  let at = view.stringsAt + 4 * n;
  for (let i = 0; i < n; i++) {
    const field = dv.getUint32(view.stringsAt + 4 * i, true);
    const size = sizeOf(field);
    if (field & 1) {
      let s = '';
      for (let j = 0; j < size; j += 2) s += String.fromCharCode(dv.getUint16(at + j, true));
      out[i] = s;
    } else {
      try {
        out[i] = decoder.decode(bytes.subarray(at, at + size));
      } catch {
        throw new FlowmarkError(
          'FM_SNAPSHOT_CORRUPT',
          `state chunk ${view.name} is corrupt: string ${i} is not UTF-8. Restore the database from a backup, ` +
            `or delete the job's checkpoint to rebuild its state from the source`,
        );
      }
    }
    at += size;
  }
  return out;
}

function invalidHeader(h: ChunkHeader): string | undefined {
  if (typeof h !== 'object' || h === null) return 'is not an object';
  if (typeof h.table !== 'string') return 'has no table name';
  for (const k of ['seq', 'retentionMs', 'minTimeMs', 'maxTimeMs'] as const) {
    if (typeof h[k] !== 'number') return `has no number ${k}`;
  }
  for (const k of ['strings', 'deletes', 'inserts'] as const) {
    if (!Number.isSafeInteger(h[k]) || h[k] < 0) return `has a bad count ${k}`;
  }
  if (!Array.isArray(h.columns)) return 'has no columns';
  for (const c of h.columns) {
    if (!Array.isArray(c) || typeof c[0] !== 'string' || !COLUMN_CODECS.includes(c[1])) return 'has a bad column';
  }
  if (h.idColumn !== null && !h.columns.some(([n]) => n === h.idColumn)) return 'names an id column it does not have';
  return undefined;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
