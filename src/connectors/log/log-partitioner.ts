/**
 * Which partition a keyed record goes to.
 *
 * Guarantees: `partitionForKey(key, n)` depends only on the key's UTF-8 bytes and `n`: it is the
 * 32-bit FNV-1a hash of those bytes modulo `n`, the same in every process, on every machine and
 * in every version of flowmark (changing it would split a key's records across partitions).
 */

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a of the UTF-8 bytes of `key`, unsigned. */
export function fnv1a32(key: string): number {
  let h = FNV_OFFSET_BASIS;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) return fnv1a32Bytes(Buffer.from(key, 'utf8'));
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  return h >>> 0;
}

function fnv1a32Bytes(bytes: Uint8Array): number {
  let h = FNV_OFFSET_BASIS;
  for (const b of bytes) h = Math.imul(h ^ b, FNV_PRIME);
  return h >>> 0;
}

/** The partition of `key` among `partitionCount` partitions. */
export function partitionForKey(key: string, partitionCount: number): number {
  return fnv1a32(key) % partitionCount;
}
