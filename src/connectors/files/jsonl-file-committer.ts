import { createWriteStream, type WriteStream } from 'node:fs';
import type { Checkpoint, CheckpointCommitter, RestorePoint } from '../../engine/index.ts';

/**
 * Writes chosen sinks' rows as JSON lines, one file per sink, at every checkpoint; other sinks'
 * rows are discarded on purpose (`flowmark replay` keeps only final rows and dead letters).
 * A replay is bounded and deterministic, so it does not resume: `load` returns nothing and a run
 * starts over, truncating its files.
 */
export class JsonlFileCommitter implements CheckpointCommitter {
  /** A replay never resumes: its state is not written anywhere, so the runtime need not serialize it. */
  readonly discardsState = true;
  readonly #files = new Map<string, WriteStream>();
  readonly #filter: (sink: string, row: unknown) => boolean;
  readonly counts = new Map<string, number>();
  /** The first write error (a full disk): the next commit or close fails with it. */
  #failure: Error | undefined;

  /** `files`: sink id → path. `keep`: which rows of a sink to write (default all). */
  constructor(files: Readonly<Record<string, string>>, keep: (sink: string, row: unknown) => boolean = () => true) {
    for (const [sink, path] of Object.entries(files)) {
      const stream = createWriteStream(path, { flags: 'w' });
      // Without a listener, a failed write (ENOSPC) would end the process from an 'error' event.
      stream.on('error', (err) => {
        this.#failure ??= err;
      });
      this.#files.set(sink, stream);
    }
    this.#filter = keep;
  }

  async load(): Promise<RestorePoint | undefined> {
    return undefined;
  }

  async commit(checkpoint: Checkpoint): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    for (const [sink, rows] of checkpoint.outputs) {
      const out = this.#files.get(sink);
      if (out === undefined || rows.length === 0) continue;
      let text = '';
      let n = 0;
      for (const row of rows) {
        if (!this.#filter(sink, row)) continue;
        text += `${JSON.stringify(row)}\n`;
        n++;
      }
      this.counts.set(sink, (this.counts.get(sink) ?? 0) + n);
      // Wait for the stream to drain, so that a slow disk slows the pipeline (back-pressure).
      if (!out.write(text) && this.#failure === undefined) {
        // Each wait removes both of its listeners, whichever fires: waits must not pile up on the stream.
        await new Promise<void>((resolve, reject) => {
          const drained = () => {
            out.off('error', failed);
            resolve();
          };
          const failed = (err: Error) => {
            out.off('drain', drained);
            reject(err);
          };
          out.once('drain', drained);
          out.once('error', failed);
        });
      }
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  async close(): Promise<void> {
    if (this.#failure !== undefined) {
      for (const f of this.#files.values()) f.destroy();
      throw this.#failure;
    }
    await Promise.all(
      [...this.#files.values()].map(
        (f) => new Promise<void>((resolve, reject) => f.end((err?: Error | null) => (err ? reject(err) : resolve()))),
      ),
    );
  }
}
