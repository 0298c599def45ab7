/**
 * Observing a job's database client from the benchmark process, without changing what the job
 * does: {@link TimedClient} adds up the time of each kind of statement (the postgres suite's
 * checkpoint breakdown); {@link observeCommits} records when each checkpoint's transaction
 * committed and what it covered (the latency suite), read back with the shipped checkpoint reader.
 */
import { type CommittedCheckpoint, readLastCheckpoint, type SqlClient } from '../../src/connectors/sql/index.ts';

/** What a committer's statement does, for {@link TimedClient}'s breakdown. */
function statementKind(text: string): string {
  const t = text.trim();
  if (t.includes('."checkpoints"')) return 'fence';
  if (/^INSERT INTO \S+\."state_chunks"/.test(t)) return 'chunk insert';
  if (/^DELETE FROM \S+\."state_chunks"/.test(t)) return 'chunk expiry delete';
  if (/^INSERT INTO \S+\."state"/.test(t)) return 'state upsert';
  if (/^DELETE FROM \S+\."state"/.test(t)) return 'state delete';
  return 'sink';
}

/** A SqlClient that adds up the time of each kind of statement. */
export class TimedClient implements SqlClient {
  readonly times = new Map<string, number>();
  readonly #inner: SqlClient;
  constructor(inner: SqlClient) {
    this.#inner = inner;
  }
  #add(kind: string, ms: number): void {
    this.times.set(kind, (this.times.get(kind) ?? 0) + ms);
  }
  async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]) {
    const t0 = performance.now();
    try {
      return await this.#inner.query<R>(text, params);
    } finally {
      const kind = statementKind(text);
      this.#add(kind, performance.now() - t0);
    }
  }
  exec(script: string): Promise<void> {
    return this.#inner.exec(script);
  }
  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const t0 = performance.now();
    let inner = 0;
    try {
      return await this.#inner.transaction(async (tx) => {
        const timed = new TimedClient(tx);
        try {
          return await fn(timed);
        } finally {
          for (const [k, ms] of timed.times) {
            this.#add(k, ms);
            inner += ms;
          }
        }
      });
    } finally {
      this.#add('BEGIN/COMMIT', performance.now() - t0 - inner);
    }
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** A committed checkpoint as the latency suite sees it. */
export interface ObservedCommit {
  /** Wall-clock ms when its transaction began and when its COMMIT resolved. */
  startedMs: number;
  atMs: number;
  checkpoint: CommittedCheckpoint;
}

/**
 * The job's database client, recording every checkpoint it commits: after each transaction
 * resolves, the job's last checkpoint is read back (one primary-key read, before the job goes
 * on); a new checkpoint id means that transaction committed it.
 */
export function observeCommits(db: SqlClient, schema: string, job: string, commits: ObservedCommit[]): SqlClient {
  let lastId = 0;
  return {
    query: <R>(text: string, params?: readonly unknown[]) => db.query<R>(text, params),
    exec: (script) => db.exec(script),
    close: () => db.close(),
    transaction: async <T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> => {
      const startedMs = Date.now();
      const out = await db.transaction(fn);
      const atMs = Date.now();
      const checkpoint = await readLastCheckpoint(db, job, { schema });
      if (checkpoint !== undefined && checkpoint.checkpointId > lastId) {
        lastId = checkpoint.checkpointId;
        commits.push({ startedMs, atMs, checkpoint });
      }
      return out;
    },
  };
}
