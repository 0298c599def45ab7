/**
 * Checkpoints of a growing attribution state, committed through the shipped SqlCommitter into a
 * database (a PostgreSQL server: the postgres suite; PGlite: the state suite): the real pipeline's
 * last checkpoint first, then synthetic click keys up to each size, then the fixed incremental
 * checkpoint ({@link DELTA}) timed several times at that size, with the WAL it wrote.
 */
import { SINK_TABLES } from '../../src/attribution/output-schema.ts';
import { type SqlClient, SqlCommitter } from '../../src/connectors/sql/index.ts';
import { encodeStateKey } from '../../src/connectors/sql/sql-committer.ts';
import {
  encodeSnapshot,
  SNAPSHOT_FORMAT_VERSION,
  type Snapshot,
  type SnapshotEntry,
  type SnapshotMeta,
} from '../../src/engine/index.ts';
import { SOURCES } from '../../src/generator/index.ts';
import { BENCH_ATTRIBUTION } from './data-sets.ts';
import { fmt } from './report.ts';
import { ClickState, checkoutRows, DELTA, deltaEntries, prng, realCheckpoint } from './state-data.ts';

/** The job whose checkpoints these are (the attribution job's name). */
export const STATE_JOB = 'attribution';

/** One size: the state, and the fixed checkpoint's timings there (the warm-up left out). */
export interface SizePoint {
  clicks: number;
  stateRows: number;
  stateBytes: number;
  ms: number[];
  /** WAL the server wrote during each checkpoint's transaction (any other session's too). */
  walBytes: number[];
  /** The last measured checkpoint, encoded. */
  deltaBytes: number;
}

export class SyntheticCheckpoints {
  readonly db: SqlClient;
  readonly schema: string;
  readonly gen: ClickState;
  /** The real run's checkpoint (its metadata is every checkpoint's). */
  readonly real: { meta: SnapshotMeta; entries: SnapshotEntry[] };
  /** Clicks in the state, and synthetic keys 0 … keys − 1. */
  clicks: number;
  keys = 0;
  readonly #committer: SqlCommitter;
  readonly #log: (line: string) => void;
  #id = 0;
  #newKey = 500_000_000; // keys inserted by the measured checkpoints (products from p02500)
  #sinkRow = 0;
  #salt = 0;

  private constructor(
    db: SqlClient,
    committer: SqlCommitter,
    schema: string,
    real: { meta: SnapshotMeta; entries: SnapshotEntry[] },
    log: (line: string) => void,
  ) {
    this.db = db;
    this.#committer = committer;
    this.schema = schema;
    this.real = real;
    this.#log = log;
    this.gen = new ClickState(real.meta.nodes.attribute?.watermarkMs as number);
    this.clicks = real.entries
      .filter((e) => e.table === 'clicks')
      .reduce((s, e) => s + (e.value as unknown[]).length, 0);
  }

  /**
   * Runs the real pipeline over 20 k generated events and commits its state as checkpoint 1.
   * `committerClient` is what the committer writes through (a timing wrapper of `db`, say).
   */
  static async start(
    db: SqlClient,
    schema: string,
    log: (line: string) => void,
    committerClient: SqlClient = db,
  ): Promise<SyntheticCheckpoints> {
    log('running the real pipeline over 20 k generated events for the checkpoint metadata and the state shape');
    const real = await realCheckpoint(20_000);
    const committer = new SqlCommitter(committerClient, { schema, job: STATE_JOB, sinks: SINK_TABLES });
    await committer.load();
    const s = new SyntheticCheckpoints(db, committer, schema, real, log);
    await s.commit(real.entries);
    return s;
  }

  /** Bytes per `clicks` entry as stored (key + JSON value): the real run's and the synthetic ones'. */
  shape(): { realBytes: number; realClicksPerKey: number; syntheticBytes: number } {
    const avgBytes = (es: SnapshotEntry[]) =>
      es.reduce((n, e) => n + encodeStateKey(e.key).length + JSON.stringify(e.value).length, 0) / es.length;
    const real = this.real.entries.filter((e) => e.table === 'clicks');
    const realClicks = real.reduce((n, e) => n + (e.value as unknown[]).length, 0);
    return {
      realBytes: avgBytes(real),
      realClicksPerKey: realClicks / Math.max(1, real.length),
      syntheticBytes: avgBytes(Array.from({ length: 1000 }, (_, i) => this.gen.entry(i))),
    };
  }

  /** Commits `entries` and sink `rows` as the next checkpoint (the first one full). */
  async commit(entries: SnapshotEntry[], rows: readonly unknown[] = []): Promise<Snapshot> {
    const id = ++this.#id;
    const snapshot: Snapshot = {
      version: SNAPSHOT_FORMAT_VERSION,
      checkpointId: id,
      kind: id === 1 ? 'full' : 'delta',
      meta: this.real.meta,
      entries,
    };
    await this.#committer.commit({ id, snapshot, outputs: new Map([['attributed_checkouts', rows]]) });
    return snapshot;
  }

  /** Grows the state to `target` clicks through SqlCommitter.commit, `keysPerCommit` keys a checkpoint. */
  async growByCommits(target: number, keysPerCommit = 200_000): Promise<void> {
    const t0 = performance.now();
    let lastLog = t0;
    const from = this.clicks;
    while (this.clicks < target) {
      const entries: SnapshotEntry[] = [];
      while (this.clicks < target && entries.length < keysPerCommit) {
        entries.push(this.gen.entry(this.keys));
        this.clicks += ClickState.clicksOf(this.keys++);
      }
      await this.commit(entries);
      const now = performance.now();
      if (now - lastLog > 10_000) {
        lastLog = now;
        const rate = (this.clicks - from) / ((now - t0) / 1000);
        this.#log(`building state: ${fmt(this.clicks)} / ${fmt(target)} clicks (${fmt(rate)} clicks/s)`);
      }
    }
  }

  /**
   * Grows the state to `target` clicks by SQL straight into `state` (far faster than commits for
   * 10 M clicks), in the committer's stored format: the same keys, values and expiries as
   * {@link ClickState} would give, but for the click ids and times.
   */
  async growBySql(target: number): Promise<void> {
    const t0 = performance.now();
    while (this.clicks < target) {
      const from = this.keys;
      while (this.clicks < target && this.keys - from < 500_000) this.clicks += ClickState.clicksOf(this.keys++);
      await this.db.exec(bulkLoadSql(this.schema, from, this.keys, this.gen.watermarkMs));
      this.#log(
        `${fmt(this.clicks)} / ${fmt(target)} clicks in state (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
    }
  }

  /**
   * What autovacuum does on its own after a bulk load (statistics), and a server checkpoint, so
   * that every size starts measuring from the same situation. Returns the seconds it took.
   */
  async settle(): Promise<number> {
    const t0 = performance.now();
    await this.db.exec(`ANALYZE "${this.schema}".state`);
    await this.db.exec('CHECKPOINT').catch(() => this.#log('CHECKPOINT not permitted (not a superuser): skipped'));
    return (performance.now() - t0) / 1000;
  }

  /**
   * The fixed incremental checkpoint at the current size, `reps` times after one warm-up
   * (`afterWarmup` is told): different keys every time (no cache advantage).
   */
  async measure(reps: number, afterWarmup?: () => void): Promise<SizePoint> {
    const { rows: sz } = await this.db.query<{ n: string; bytes: string }>(
      `SELECT count(*)::text AS n, pg_total_relation_size('"${this.schema}".state')::text AS bytes FROM "${this.schema}".state`,
    );
    const rnd = prng(this.clicks);
    const point: SizePoint = {
      clicks: this.clicks,
      stateRows: Number(sz[0]?.n),
      stateBytes: Number(sz[0]?.bytes),
      ms: [],
      walBytes: [],
      deltaBytes: 0,
    };
    for (let rep = 0; rep <= reps; rep++) {
      const entries = deltaEntries(this.gen, this.keys, this.#newKey, ++this.#salt, rnd);
      this.#newKey += DELTA.inserts;
      const rows = checkoutRows(DELTA.sinkRows, 10_000_000 + this.#sinkRow, this.#sinkRow + 1);
      this.#sinkRow += DELTA.sinkRows;
      const { rows: lsn } = await this.db.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l');
      const t = performance.now();
      const snapshot = await this.commit(entries, rows);
      const took = performance.now() - t;
      const { rows: wal } = await this.db.query<{ n: string }>(
        'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text AS n',
        [lsn[0]?.l],
      );
      if (rep === 0) {
        afterWarmup?.();
        continue;
      }
      point.ms.push(took);
      point.walBytes.push(Number(wal[0]?.n));
      point.deltaBytes = encodeSnapshot(snapshot).length;
    }
    return point;
  }
}

/** The INSERT of synthetic click keys [from, to) into `state`, as the committer stores them. */
function bulkLoadSql(schema: string, from: number, to: number, wm: number): string {
  const sources = SOURCES.map(([s]) => `'${s}'`).join(',');
  // Like ClickState.entry: key u<6 digits>\0p<5 digits> (products from p02000; the committer
  // stores U+0000 as \0), one key in 12 with two clicks, times within 50 min before the
  // watermark, expiring a lookback after the last.
  const click = (t: string, id: string, s: string) =>
    `'[' || ${t} || ',{"clickId":"' || ${id} || '","source":"' || ${s} || '","eventTimeMs":' || ${t} || '}]'`;
  return `
    INSERT INTO "${schema}".state (job, node, tbl, key, value, expires_at_ms)
    SELECT '${STATE_JOB}', 'attribute', 'clicks',
      'u' || lpad((i % 1000000)::text, 6, '0') || E'\\\\0p' || lpad((2000 + i / 1000000)::text, 5, '0'),
      (CASE WHEN i % 12 = 0
        THEN '[' || ${click('t1', 'c1', 's1')} || ',' || ${click('t2', 'c2', 's2')} || ']'
        ELSE '[' || ${click('t2', 'c2', 's2')} || ']' END)::json,
      t2 + ${BENCH_ATTRIBUTION.lookbackMs}
    FROM (
      SELECT i,
        ${wm} - 1000 - (i * 7919) % 3000000 AS t2,
        ${wm} - 1000 - (i * 7919) % 3000000 - 1 - (i * 104729) % 60000 AS t1,
        md5('a' || i)::uuid::text AS c1, md5('b' || i)::uuid::text AS c2,
        (ARRAY[${sources}])[1 + i % ${SOURCES.length}] AS s1,
        (ARRAY[${sources}])[1 + (i / 7) % ${SOURCES.length}] AS s2
      FROM generate_series(${from}::bigint, ${to - 1}::bigint) AS i
    ) AS g
    ON CONFLICT DO NOTHING`; // p02000 is also the catalog's last product: a few real keys collide
}
