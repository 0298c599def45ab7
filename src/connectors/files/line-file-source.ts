import { type FileHandle, open } from 'node:fs/promises';
import type { PollResult, SourceReader, SourceRecord } from '../../engine/index.ts';

const CHUNK_BYTES = 1 << 20;

/**
 * A bounded source over the lines of a file (JSON lines for `flowmark replay`): one partition,
 * the offset of a line is its 0-based line number, the line order is the arrival order. Reads in
 * 1 MiB chunks; empty lines are skipped (they still take an offset, so offsets are line numbers).
 * `bytesRead`/`sizeBytes` feed a progress bar.
 */
export class LineFileSource implements SourceReader<string> {
  readonly partitions = [0] as const;
  readonly path: string;
  #file: FileHandle | undefined;
  #position = 0;
  #nextLine = 0;
  #skipLines = 0;
  #pending: string[] = [];
  #pendingAt = 0;
  #rest = '';
  #eof = false;
  #decoder = new TextDecoder('utf-8');
  #buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  sizeBytes = 0;

  constructor(path: string) {
    this.path = path;
  }

  get bytesRead(): number {
    return this.#position;
  }

  async #open(): Promise<FileHandle> {
    if (this.#file === undefined) {
      this.#file = await open(this.path, 'r');
      this.sizeBytes = (await this.#file.stat()).size;
    }
    return this.#file;
  }

  seek(nextOffsets: ReadonlyMap<number, number>): void {
    // Lines are re-read from the start and skipped: a replay is not resumed in practice. From the
    // start even after polls: a seek back must deliver the lines again (the source contract).
    this.#skipLines = nextOffsets.get(0) ?? 0;
    this.#position = 0;
    this.#nextLine = 0;
    this.#pending = [];
    this.#pendingAt = 0;
    this.#rest = '';
    this.#eof = false;
    this.#decoder = new TextDecoder('utf-8');
  }

  async #fill(): Promise<void> {
    const file = await this.#open();
    const { bytesRead } = await file.read(this.#buffer, 0, CHUNK_BYTES, this.#position);
    this.#position += bytesRead;
    if (bytesRead === 0) {
      this.#eof = true;
      this.#pending = this.#rest === '' ? [] : [this.#rest];
      this.#rest = '';
    } else {
      const text = this.#rest + this.#decoder.decode(this.#buffer.subarray(0, bytesRead), { stream: true });
      const lines = text.split('\n');
      this.#rest = lines.pop() as string;
      this.#pending = lines;
    }
    this.#pendingAt = 0;
  }

  async poll(maxRecords: number): Promise<PollResult<string>> {
    const records: SourceRecord<string>[] = [];
    while (records.length < maxRecords) {
      if (this.#pendingAt >= this.#pending.length) {
        if (this.#eof) break;
        await this.#fill();
        continue;
      }
      let line = this.#pending[this.#pendingAt++] as string;
      const offset = this.#nextLine++;
      if (offset < this.#skipLines) continue;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.length === 0) continue;
      records.push({ partition: 0, offset, value: line });
    }
    const ended = this.#eof && this.#pendingAt >= this.#pending.length;
    return { records, caughtUp: ended ? [0] : [], ended };
  }

  async close(): Promise<void> {
    await this.#file?.close();
    this.#file = undefined;
  }
}
