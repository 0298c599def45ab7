/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: the CRC of zlib, gzip and PNG) of a byte
 * range, in plain TypeScript: table-driven "slicing-by-16" (sixteen independent look-ups per 16
 * bytes). The engine imports no `node:` builtin (test/architecture/layers.test.ts), so it cannot
 * use `zlib.crc32`; the log (src/connectors/log/crc32.ts) uses this one for short records and
 * `zlib.crc32` for long ones, where the native call is faster.
 *
 * @example
 * crc32(new TextEncoder().encode('123456789')); // 0xcbf43926, the standard check value
 */
/** 16 tables of 256 entries: TABLE[k * 256 + b] is the CRC of byte b followed by k zero bytes. */
const TABLE = buildTable();

function buildTable(): Int32Array {
  const t = new Int32Array(256 * 16);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n] as number;
    for (let k = 1; k < 16; k++) {
      c = (t[c & 0xff] as number) ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
}

/** The CRC-32 of `buf[start, end)`, as an unsigned 32-bit integer. */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  const t = TABLE;
  let c = -1;
  let i = start;
  // Slicing-by-16: 16 bytes per step, one table lookup per byte, no dependency between lookups.
  for (; i + 16 <= end; i += 16) {
    const a =
      c ^
      ((buf[i] as number) |
        ((buf[i + 1] as number) << 8) |
        ((buf[i + 2] as number) << 16) |
        ((buf[i + 3] as number) << 24));
    c =
      (t[3840 + (a & 0xff)] as number) ^
      (t[3584 + ((a >>> 8) & 0xff)] as number) ^
      (t[3328 + ((a >>> 16) & 0xff)] as number) ^
      (t[3072 + (a >>> 24)] as number) ^
      (t[2816 + (buf[i + 4] as number)] as number) ^
      (t[2560 + (buf[i + 5] as number)] as number) ^
      (t[2304 + (buf[i + 6] as number)] as number) ^
      (t[2048 + (buf[i + 7] as number)] as number) ^
      (t[1792 + (buf[i + 8] as number)] as number) ^
      (t[1536 + (buf[i + 9] as number)] as number) ^
      (t[1280 + (buf[i + 10] as number)] as number) ^
      (t[1024 + (buf[i + 11] as number)] as number) ^
      (t[768 + (buf[i + 12] as number)] as number) ^
      (t[512 + (buf[i + 13] as number)] as number) ^
      (t[256 + (buf[i + 14] as number)] as number) ^
      (t[buf[i + 15] as number] as number);
  }
  for (; i < end; i++) c = (t[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
