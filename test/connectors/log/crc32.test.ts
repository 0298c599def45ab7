/** crc32: the table loop and zlib agree on every length, at every offset of a buffer. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32, NATIVE_THRESHOLD_BYTES } from '../../../src/connectors/log/crc32.ts';

test('the CRC-32 check value of "123456789" is 0xCBF43926', () => {
  const b = Buffer.from('123456789');
  assert.equal(crc32(b, 0, b.length), 0xcbf43926);
  assert.equal(crc32(b, 0, 0), 0);
});

test('crc32(buf, start, end) equals zlib.crc32 of the same bytes, for lengths on both sides of the threshold', () => {
  const buf = Buffer.alloc(NATIVE_THRESHOLD_BYTES * 3);
  let x = 12345;
  for (let i = 0; i < buf.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  for (let len = 0; len <= NATIVE_THRESHOLD_BYTES + 20; len++) {
    for (const start of [0, 1, 7, 13]) {
      assert.equal(
        crc32(buf, start, start + len),
        zlibCrc32(buf.subarray(start, start + len)),
        `len ${len} at ${start}`,
      );
    }
  }
  assert.equal(crc32(buf, 5, buf.length), zlibCrc32(buf.subarray(5)));
});
