/**
 * The envelope of a record in an internal repartition topic: where it came from (the source
 * topic's partition and offset, and the time it arrived there) in a first line, then the source
 * record's value byte for byte. The consumer of the internal topic drops a record whose source
 * position it has already passed (a repartitioner's re-send after a crash), and judges event
 * time per SOURCE partition (docs/semantics.md "Repartitioned topics").
 *
 * A value envelope, not headers: flowmark's fetcher keeps only values (headers would cost a
 * decode per record for every topic), and one text line is as cheap to write as to read.
 *
 * @example
 * encodeEnvelope({ partition: 2, offset: 17, timestampMs: 1767225600000 }, '{"user_id":"u1"}')
 * // '2 17 1767225600000\n{"user_id":"u1"}'
 * decodeEnvelope('2 17 1767225600000\n{"user_id":"u1"}')
 * // { partition: 2, offset: 17, timestampMs: 1767225600000, value: '{"user_id":"u1"}' }
 */

export interface SourcePosition {
  partition: number;
  offset: number;
  /** When the record arrived in the source topic (ms): latency is measured from there. */
  timestampMs: number;
}

export function encodeEnvelope(from: SourcePosition, value: string): string {
  return `${from.partition} ${from.offset} ${from.timestampMs}\n${value}`;
}

/** The envelope's parts, or undefined for a value that flowmark did not write. */
export function decodeEnvelope(raw: string): (SourcePosition & { value: string }) | undefined {
  const nl = raw.indexOf('\n');
  if (nl < 0) return undefined;
  const [p, o, ts] = raw.slice(0, nl).split(' ');
  const partition = Number(p);
  const offset = Number(o);
  const timestampMs = Number(ts);
  if (!Number.isSafeInteger(partition) || partition < 0 || !Number.isSafeInteger(offset) || offset < 0)
    return undefined;
  return { partition, offset, timestampMs: Number.isFinite(timestampMs) ? timestampMs : 0, value: raw.slice(nl + 1) };
}
