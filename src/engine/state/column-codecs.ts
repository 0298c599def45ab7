/**
 * The fixed-width column codecs an operator declares for the entries of a time-bucketed table
 * (as Arroyo's operators declare their tables' schemas): each field is held in a typed array, never
 * in a JavaScript object per entry.
 *
 * | codec    | value            | held as                                                             |
 * |----------|------------------|---------------------------------------------------------------------|
 * | `string` | string \| null   | an id into the table's interned dictionary (4 bytes); for values    |
 * |          |                  | with few distinct strings: sources, product ids                     |
 * | `uuid`   | string \| null   | 16 bytes when the value is a canonical (lower-case, hyphenated)     |
 * |          |                  | UUID, else interned as a `string` (marked inside the 16 bytes)      |
 * | `f64`    | number           | a float64 (NaN allowed)                                             |
 * | `i32`    | number           | an int32: an integer in [−2^31, 2^31)                               |
 * | `timeMs` | number           | a float64 holding epoch milliseconds (an integer)                   |
 */
export type ColumnCodec = 'string' | 'uuid' | 'f64' | 'i32' | 'timeMs';

export const COLUMN_CODECS: readonly ColumnCodec[] = ['string', 'uuid', 'f64', 'i32', 'timeMs'];

/** The value type of a codec. */
export type ColumnValue<C extends ColumnCodec> = C extends 'string' | 'uuid' ? string | null : number;

/** Field name → codec, in declaration order (the order of the columns in memory and in chunks). */
export type ColumnSpecs = Readonly<Record<string, ColumnCodec>>;

/** One entry's fields. */
export type Row<S extends ColumnSpecs> = { [K in keyof S]: ColumnValue<S[K]> };

/** 32-bit words per entry a codec takes in memory and in a chunk. */
export function wordsOf(codec: ColumnCodec): number {
  return codec === 'uuid' ? 4 : codec === 'string' || codec === 'i32' ? 1 : 2;
}

/**
 * The marker of a `uuid` cell that holds no 16-byte UUID: its first three words are all ones and
 * the fourth is a dictionary id (or {@link NULL_ID}). A canonical UUID that happens to start with
 * 12 bytes of 0xff is stored the same way, as a string, so the marker is never ambiguous.
 */
export const UUID_MARK = 0xffffffff;
/** A null `string` cell (as an int32: −1) or a null fallback `uuid` (as a uint32). */
export const NULL_ID = -1;

const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[97 + i] = 10 + i;

/**
 * Writes the 16 bytes of `s` into `out[at..at+4)` as four big-endian words, so that comparing the
 * words in order compares the strings (hex digits sort like their values). Returns false, writing
 * nothing, when `s` is not exactly `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lower-case hex, or
 * when it would read as the fallback marker.
 */
export function parseUuid(s: string, out: Uint32Array, at: number): boolean {
  if (s.length !== 36) return false;
  let w0 = 0;
  let w1 = 0;
  let w2 = 0;
  let w3 = 0;
  let nibbles = 0;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
      continue;
    }
    const v = c < 128 ? (HEX_VALUE[c] as number) : -1;
    if (v < 0) return false;
    const word = nibbles >> 3;
    if (word === 0) w0 = (w0 << 4) | v;
    else if (word === 1) w1 = (w1 << 4) | v;
    else if (word === 2) w2 = (w2 << 4) | v;
    else w3 = (w3 << 4) | v;
    nibbles++;
  }
  if (w0 === -1 && w1 === -1 && w2 === -1) return false; // would read as the marker
  out[at] = w0;
  out[at + 1] = w1;
  out[at + 2] = w2;
  out[at + 3] = w3;
  return true;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex32(w: number): string {
  return (
    (HEX[w >>> 24] as string) +
    (HEX[(w >>> 16) & 0xff] as string) +
    (HEX[(w >>> 8) & 0xff] as string) +
    (HEX[w & 0xff] as string)
  );
}

/** The canonical string of the UUID held in `words[at..at+4)`. */
export function formatUuid(words: Uint32Array, at: number): string {
  const a = hex32(words[at] as number);
  const b = hex32(words[at + 1] as number);
  const c = hex32(words[at + 2] as number);
  const d = hex32(words[at + 3] as number);
  return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
}

/** True when the uuid cell at `at` holds a fallback (a dictionary id or null), not 16 bytes. */
export function isUuidFallback(words: Uint32Array, at: number): boolean {
  return words[at] === UUID_MARK && words[at + 1] === UUID_MARK && words[at + 2] === UUID_MARK;
}

/** `s` copied into a string of its own: a substring of a large line would keep the whole line alive. */
export function ownCopy(s: string): string {
  // V8 makes sliced and cons strings only from 13 characters on; shorter substrings are copies.
  return s.length < 13 ? s : s.split('').join('');
}
