/** Helpers for the embedded log's tests: temporary log directories removed after each test. */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogDirectory } from '../../../src/connectors/log/log-directory.ts';
import type { LogOptions } from '../../../src/connectors/log/log-options.ts';
import type { LogSource } from '../../../src/connectors/log/log-source.ts';
import type { SourceRecord } from '../../../src/engine/source.ts';

export interface TestContext {
  after(fn: () => unknown): void;
}

/** A fresh directory under the OS temp dir, removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'flowmark-log-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Opens a log in `dir` and closes it when the test ends (if the test did not). Without
 * `fsync: true` it does not wait for the disk: the tests do not cut the machine's power, and a
 * killed process loses nothing either way (log-crash-safety.test.ts writes with fsync on).
 */
export function openLog(t: TestContext, dir: string, options: LogOptions = {}): LogDirectory {
  const log = LogDirectory.open(dir, { fsync: false, ...options });
  t.after(() => log.close());
  return log;
}

/** A clock for append times and retention by age that moves only when told to. */
export class TestClock {
  nowMs = 1_700_000_000_000;
  readonly read = (): number => this.nowMs;
}

/** Every record a reader has now (polls until a poll returns nothing or the source ended). */
export function readAll(reader: LogSource, maxRecords = 1000): SourceRecord<string>[] {
  const out: SourceRecord<string>[] = [];
  for (;;) {
    const res = reader.poll(maxRecords);
    out.push(...res.records);
    if (res.records.length === 0 || res.ended === true) return out;
  }
}

/** Inverts one byte of a file in place (a bit rot, a bad sector). */
export function flipByte(file: string, position: number): void {
  const fd = openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, position);
    b[0] = (b[0] as number) ^ 0xff;
    writeSync(fd, b, 0, 1, position);
  } finally {
    closeSync(fd);
  }
}
