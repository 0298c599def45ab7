import assert from 'node:assert/strict';
import { test } from 'node:test';
import { murmur2 as libraryMurmur2 } from '@platformatic/kafka';
import fc from 'fast-check';
import { murmur2, partitionForKey } from '../../../src/connectors/kafka/kafka-partitioner.ts';

test("murmur2 gives the values of Kafka's own UtilsTest.testMurmur2 (the Java client)", () => {
  const cases: Array<[Uint8Array, number]> = [
    [Buffer.from('21'), -973932308],
    [Buffer.from('foobar'), -790332482],
    [Buffer.from('a-little-bit-long-string'), -985981536],
    [Buffer.from('a-little-bit-longer-string'), -1486304829],
    [Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'), -58897971],
    [new Uint8Array([0x61, 0x62, 0x63]), 479470107],
  ];
  for (const [bytes, expected] of cases) assert.equal(murmur2(bytes), expected, Buffer.from(bytes).toString());
});

test('murmur2 of every tail length (0–3 trailing bytes) matches values computed by the Java client', () => {
  // Computed with org.apache.kafka.common.utils.Utils.murmur2 (as quoted by Akka's Murmur2Spec).
  const cases: Array<[string, number]> = [
    ['1', -1993445489],
    ['12', 126087238],
    ['123', -267702483],
    ['1234', -1614185708],
    ['12345', -1188365604],
  ];
  for (const [s, expected] of cases) assert.equal(murmur2(Buffer.from(s)), expected, s);
});

test('murmur2 agrees with the BigInt port in @platformatic/kafka on any bytes (UTF-8 keys included)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      assert.equal(murmur2(bytes), libraryMurmur2(Buffer.from(bytes)));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), (s) => {
      assert.equal(murmur2(Buffer.from(s, 'utf8')), libraryMurmur2(s));
    }),
  );
});

test('partitionForKey is toPositive(murmur2(utf8 key)) % partitions, always in range', () => {
  // toPositive masks the sign bit (it is not Math.abs): -973932308 & 0x7fffffff = 1173551340.
  assert.equal(partitionForKey('21', 7), 1173551340 % 7);
  assert.equal(partitionForKey(Buffer.from('21'), 7), 1173551340 % 7);
  fc.assert(
    fc.property(fc.string(), fc.integer({ min: 1, max: 1000 }), (key, n) => {
      const p = partitionForKey(key, n);
      assert.ok(Number.isInteger(p) && p >= 0 && p < n);
      assert.equal(p, (libraryMurmur2(key) & 0x7fffffff) % n);
    }),
  );
});
