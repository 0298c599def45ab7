/**
 * Throughput of the embedded log on this machine: append + flush (fsync on), and poll with a
 * LogSource in drain mode. Prints figures; never passes or fails on time.
 *
 *   node test/connectors/log/log-throughput.bench.ts [records=2000000] [payloadBytes=100,300]
 *
 * Payloads are JSON-looking ASCII lines of the given size. Appends go through
 * `LogProducer.append` one record at a time, with a `flush()` (write + fdatasync) every 10 000
 * records, one flush in flight at a time, so every record counted is acknowledged by the end.
 * Polls ask for 1 024 records, as the runtime does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogDirectory } from '../../../src/connectors/log/log-directory.ts';
import { LogProducer } from '../../../src/connectors/log/log-producer.ts';
import { LogSource } from '../../../src/connectors/log/log-source.ts';

const records = Number(process.argv[2] ?? 2_000_000);
const sizes = (process.argv[3] ?? '100,300').split(',').map(Number);
const FLUSH_EVERY = 10_000;

function payloads(size: number, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const head = `{"click_id":"c${i}","user_id":${i % 5000},"source":"google_ads","pad":"`;
    out.push(`${head}${'x'.repeat(Math.max(0, size - head.length - 2))}"}`);
  }
  return out;
}

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString('en-US')} records/s`;
}

for (const size of sizes) {
  const lines = payloads(size, 1000);
  for (const partitions of [1, 4]) {
    const dir = mkdtempSync(join(tmpdir(), 'flowmark-log-bench-'));
    try {
      const log = LogDirectory.open(dir);
      log.createTopic('bench', { partitions });
      const producer = new LogProducer(log);
      // Every FLUSH_EVERY records: wait for the previous flush, then start the next one, so the
      // fdatasync of one batch overlaps the appends of the next (a record counts as acknowledged
      // only once its flush resolved; all have when the last flush resolves).
      let inFlight: Promise<void> = Promise.resolve();
      let t = performance.now();
      for (let i = 0; i < records; i++) {
        producer.append('bench', lines[i % 1000] as string);
        if ((i + 1) % FLUSH_EVERY === 0) {
          await inFlight;
          inFlight = producer.flush();
        }
      }
      await inFlight;
      await producer.flush();
      const appendMs = performance.now() - t;

      const results: string[] = [];
      for (const verifyChecksums of [true, false]) {
        const reader = new LogSource(log, 'bench', { endAtOpen: true, verifyChecksums, consumer: 'bench' });
        let read = 0;
        let bytes = 0;
        t = performance.now();
        for (;;) {
          const res = reader.poll(1024);
          read += res.records.length;
          for (const r of res.records) bytes += r.value.length;
          if (res.ended) break;
        }
        const pollMs = performance.now() - t;
        reader.close();
        if (read !== records || bytes !== size * records) throw new Error(`read ${read} records, ${bytes} chars`);
        results.push(`poll ${verifyChecksums ? 'with CRC check' : 'without CRC check'}: ${rate(read, pollMs)}`);
      }
      await log.close();
      console.log(
        `${records.toLocaleString('en-US')} records of ${size} bytes, ${partitions} partition(s): ` +
          `append+flush ${rate(records, appendMs)}; ${results.join('; ')}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
