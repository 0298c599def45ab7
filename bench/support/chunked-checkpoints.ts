/**
 * Attribution state of any size in the layout the live pipeline writes since issue 15: the
 * `attribute` step's `clicks` time-bucketed table, checkpointed as binary chunks into
 * `<schema>.state_chunks` through the shipped SqlCommitter (a PostgreSQL server: the postgres
 * suite; PGlite: the state suite).
 *
 * - The table is a real `TimeBucketedTable` made from the attribution function's own declaration
 *   (captured from its `state()`, not restated: {@link clicksDeclaration}), filled with the
 *   website simulator's clicks (users × products of the bench shop, UUID click ids, its sources),
 *   in event-time order, over the 50 minutes before the checkpoint's watermark.
 * - Every {@link ChunkLayout.chunkMs} of event time, `takeChunk()` and one checkpoint through
 *   `SqlCommitter.commit` with that chunk (one chunk per checkpoint, as the runtime commits them).
 * - Every checkpoint carries the metadata of a real run of the pipeline (source positions, step
 *   watermarks): a restore of the attribution pipeline accepts it, and the `attribute` step's
 *   watermark lies within the lookback after every synthetic click, so nothing has expired (nor is
 *   deleted by the commits). The other tables (pending checkouts, the de-duplication set, timers)
 *   are empty: a restore gives back exactly the clicks committed.
 * - The measured checkpoint ({@link DELTA}): a chunk of a fixed number of the simulator's next
 *   clicks and the sink rows of the interval, timed with the WAL it wrote.
 */
import { attributionFunction, attributionKey } from '../../src/attribution/attribution-function.ts';
import { SINK_TABLES } from '../../src/attribution/output-schema.ts';
import { qualified, type SqlClient, SqlCommitter } from '../../src/connectors/sql/index.ts';
import {
  type ColumnSpecs,
  SNAPSHOT_FORMAT_VERSION,
  type Snapshot,
  type SnapshotMeta,
  type StateDeclarer,
  type TableChunk,
  TimeBucketedTable,
  type TimeTableDeclaration,
} from '../../src/engine/index.ts';
import { type GeneratedClick, TrafficSimulator } from '../../src/generator/index.ts';
import { BENCH_ATTRIBUTION, benchCatalog } from './data-sets.ts';
import { fmt, fmtCount } from './report.ts';
import { checkoutRows, realCheckpointMeta } from './state-data.ts';

/** The job whose checkpoints these are (the attribution job's name). */
export const STATE_JOB = 'attribution';
/** The step that holds the clicks table. */
export const CLICKS_NODE = 'attribute';

/** The fixed incremental checkpoint: a chunk of new clicks, and sink rows. */
export const DELTA = { clicks: 10_000, sinkRows: 1000 };

/** Event time the synthetic clicks span, ending at the watermark (less than the 1 h lookback). */
const SPAN_MS = 50 * 60_000;

/**
 * How the clicks are cut into checkpoints: one chunk per `chunkMs` of event time. 250 ms is a
 * live run checkpointing 4 times a second (~12 k chunks over the 50 minutes); 300 000 ms the few
 * large chunks of a catch-up run with rare checkpoints, or of a compaction (10 chunks).
 */
export interface ChunkLayout {
  chunkMs: number;
}

/** The default layouts: many small chunks (the checkpoint figures), few large ones. */
export const DEFAULT_CHUNK_MS = [250, 300_000];

/** A layout for the report: "one chunk per 250 ms of event time". */
export function layoutName(l: ChunkLayout): string {
  return l.chunkMs >= 60_000 && l.chunkMs % 60_000 === 0
    ? `one chunk per ${l.chunkMs / 60_000} min of event time`
    : l.chunkMs >= 1000 && l.chunkMs % 1000 === 0
      ? `one chunk per ${l.chunkMs / 1000} s of event time`
      : `one chunk per ${l.chunkMs} ms of event time`;
}

type ClickDeclaration = TimeTableDeclaration<ColumnSpecs>;

/**
 * The `clicks` table as the attribution function declares it (name, retention = lookback, id
 * column, columns), captured by running its `state()` against a declarer that records the
 * declarations.
 */
export function clicksDeclaration(o = BENCH_ATTRIBUTION): ClickDeclaration {
  const declared: ClickDeclaration[] = [];
  const unused = (kind: string) => () => {
    throw new Error(`the attribution function declared a ${kind} state; the bench expects only time tables`);
  };
  const declarer: StateDeclarer = {
    value: unused('value'),
    sortedList: unused('sortedList'),
    map: unused('map'),
    timeTable: <S extends ColumnSpecs>(d: TimeTableDeclaration<S>) => {
      declared.push(d as unknown as ClickDeclaration);
      return {} as never; // never read: only the declaration is wanted
    },
  };
  attributionFunction(o).state?.(declarer);
  const clicks = declared.find((d) => d.name === 'clicks');
  if (clicks === undefined) throw new Error('the attribution function declares no time table "clicks"');
  return clicks;
}

/** One size: the stored state, and the fixed checkpoint's timings there (the warm-up left out). */
export interface SizePoint {
  clicks: number;
  /** Rows of `state_chunks` (one per chunk), their bytes, and the table's size with its indexes. */
  chunks: number;
  chunkBytes: number;
  tableBytes: number;
  ms: number[];
  /** WAL the database wrote during each checkpoint's transaction (any other session's too). */
  walBytes: number[];
  /** The bytes of each measured checkpoint's chunk. */
  deltaBytes: number[];
}

/** The stored chunks of the job: rows, bytes, and the table's size with its indexes. */
export async function storedChunks(
  db: Pick<SqlClient, 'query'>,
  schema: string,
): Promise<{ chunks: number; chunkBytes: number; tableBytes: number }> {
  const t = qualified(schema, 'state_chunks');
  const { rows } = await db.query<{ n: string; bytes: string; total: string }>(
    `SELECT count(*)::text AS n, coalesce(sum(octet_length(bytes)), 0)::text AS bytes,
            pg_total_relation_size('${t.replaceAll("'", "''")}')::text AS total
       FROM ${t} WHERE job = $1`,
    [STATE_JOB],
  );
  return { chunks: Number(rows[0]?.n), chunkBytes: Number(rows[0]?.bytes), tableBytes: Number(rows[0]?.total) };
}

export class ChunkedCheckpoints {
  readonly db: SqlClient;
  readonly schema: string;
  readonly layout: ChunkLayout;
  /** The real run's checkpoint metadata, every checkpoint's. */
  readonly meta: SnapshotMeta;
  /** The `attribute` step's watermark in {@link meta}: every click lies in the 50 min before it. */
  readonly watermarkMs: number;
  /** Clicks in the table (and so in the committed chunks). */
  clicks = 0;
  /** Checkpoints committed. */
  checkpoints = 0;
  /** Seconds spent generating clicks and inserting them, and committing. */
  generateS = 0;
  commitS = 0;
  readonly #table: TimeBucketedTable<ColumnSpecs>;
  readonly #committer: SqlCommitter;
  readonly #sim: TrafficSimulator;
  readonly #log: (line: string) => void;
  #chunkEndMs: number;
  /** A click the simulator gave that belongs to the next chunk. */
  #held: GeneratedClick | undefined;
  #sinkRow = 0;

  private constructor(
    db: SqlClient,
    committer: SqlCommitter,
    schema: string,
    meta: SnapshotMeta,
    layout: ChunkLayout,
    maxClicks: number,
    log: (line: string) => void,
  ) {
    this.db = db;
    this.schema = schema;
    this.meta = meta;
    this.layout = layout;
    this.#committer = committer;
    this.#log = log;
    const wm = meta.nodes[CLICKS_NODE]?.watermarkMs;
    if (wm === undefined || !Number.isFinite(wm)) {
      throw new Error(`the real run's checkpoint has no watermark for step ${CLICKS_NODE}`);
    }
    this.watermarkMs = wm;
    const decl = clicksDeclaration();
    if (decl.retentionMs <= SPAN_MS) {
      throw new Error(`the clicks' retention (${decl.retentionMs} ms) must exceed the ${SPAN_MS} ms they span`);
    }
    this.#table = new TimeBucketedTable(decl);
    const catalog = benchCatalog();
    const startMs = wm - SPAN_MS;
    // Events per second so that `maxClicks` clicks span SPAN_MS (about 1 % of events are checkouts).
    this.#sim = new TrafficSimulator({
      users: catalog.users,
      products: catalog.products,
      seed: 2,
      startMs,
      ratePerSecond: (maxClicks / 0.99 / SPAN_MS) * 1000,
    });
    this.#chunkEndMs = startMs + layout.chunkMs;
  }

  /**
   * Runs the real pipeline over 20 k generated events for the checkpoint metadata. `maxClicks` is
   * the largest state this will grow to (it sets the clicks' rate, so that they span 50 minutes).
   * `committerClient` is what the committer writes through (a timing wrapper of `db`, say).
   */
  static async start(
    db: SqlClient,
    schema: string,
    layout: ChunkLayout,
    maxClicks: number,
    log: (line: string) => void,
    committerClient: SqlClient = db,
  ): Promise<ChunkedCheckpoints> {
    log('running the real pipeline over 20 k generated events for the checkpoint metadata');
    const meta = await realCheckpointMeta(20_000);
    const committer = new SqlCommitter(committerClient, { schema, job: STATE_JOB, sinks: SINK_TABLES });
    await committer.load();
    return new ChunkedCheckpoints(db, committer, schema, meta, layout, maxClicks, log);
  }

  /** The simulator's next click, inserted into the table as the attribution function does. */
  #nextClick(): GeneratedClick {
    for (;;) {
      const e = this.#sim.next();
      if (e.type === 'click') return e;
    }
  }

  #insert(c: GeneratedClick): void {
    const key = attributionKey(c.userId, c.productId, BENCH_ATTRIBUTION.scope);
    if (c.eventTimeMs < this.watermarkMs - this.#table.retentionMs) {
      throw new Error(`synthetic click at ${c.eventTimeMs} would have expired by the watermark ${this.watermarkMs}`);
    }
    this.#table.insert(key, c.eventTimeMs, { clickId: c.clickId, source: c.source });
    this.clicks++;
  }

  /** Commits `chunk` (if any) and sink `rows` as the next checkpoint (the first one full). */
  async commit(chunk: TableChunk | undefined, rows: readonly unknown[] = []): Promise<void> {
    const id = ++this.checkpoints;
    const snapshot: Snapshot = {
      version: SNAPSHOT_FORMAT_VERSION,
      checkpointId: id,
      kind: id === 1 ? 'full' : 'delta',
      meta: this.meta,
      entries: [],
    };
    await this.#committer.commit({
      id,
      snapshot,
      outputs: new Map([['attributed_checkouts', rows]]),
      chunks: chunk === undefined ? [] : [{ node: CLICKS_NODE, chunk }],
    });
  }

  /** Grows the state to `target` clicks: a checkpoint with one chunk per `chunkMs` of event time. */
  async growTo(target: number): Promise<void> {
    const t0 = performance.now();
    let lastLog = t0;
    const from = this.clicks;
    let gen = 0;
    while (this.clicks < target) {
      const g = performance.now();
      while (this.clicks < target) {
        const c = this.#held ?? this.#nextClick();
        this.#held = undefined;
        if (c.eventTimeMs >= this.#chunkEndMs) {
          this.#held = c;
          while (this.#chunkEndMs <= c.eventTimeMs) this.#chunkEndMs += this.layout.chunkMs;
          break;
        }
        this.#insert(c);
      }
      gen += performance.now() - g;
      // No clicks in this stretch of event time (a small state's sparse clicks): no checkpoint.
      const chunk = this.#table.takeChunk();
      if (chunk === undefined) continue;
      const c0 = performance.now();
      await this.commit(chunk);
      this.commitS += (performance.now() - c0) / 1000;
      const now = performance.now();
      if (now - lastLog > 10_000) {
        lastLog = now;
        const rate = (this.clicks - from) / ((now - t0) / 1000);
        this.#log(
          `building state: ${fmt(this.clicks)} / ${fmt(target)} clicks in ${fmtCount(this.checkpoints)} checkpoints (${fmt(rate)} clicks/s)`,
        );
      }
    }
    this.generateS += gen / 1000;
  }

  /**
   * What autovacuum does on its own after a bulk load (statistics), and a server checkpoint, so
   * that every size starts measuring from the same situation. Returns the seconds it took.
   */
  async settle(): Promise<number> {
    const t0 = performance.now();
    await this.db.exec(`ANALYZE ${qualified(this.schema, 'state_chunks')}`);
    await this.db.exec('CHECKPOINT').catch(() => this.#log('CHECKPOINT not permitted (not a superuser): skipped'));
    return (performance.now() - t0) / 1000;
  }

  /**
   * The fixed incremental checkpoint at the current size, `reps` times after one warm-up
   * (`afterWarmup` is told): each a chunk of the simulator's next {@link DELTA} clicks and
   * {@link DELTA} sink rows, through `SqlCommitter.commit`. The clicks stay in the state.
   */
  async measure(reps: number, afterWarmup?: () => void): Promise<SizePoint> {
    const stored = await storedChunks(this.db, this.schema);
    const point: SizePoint = { clicks: this.clicks, ...stored, ms: [], walBytes: [], deltaBytes: [] };
    for (let rep = 0; rep <= reps; rep++) {
      for (let i = 0; i < DELTA.clicks; i++) {
        const c = this.#held ?? this.#nextClick();
        this.#held = undefined;
        this.#insert(c);
        while (this.#chunkEndMs <= c.eventTimeMs) this.#chunkEndMs += this.layout.chunkMs;
      }
      const chunk = this.#table.takeChunk();
      if (chunk?.inserts !== DELTA.clicks) {
        throw new Error(`the measured chunk holds ${chunk?.inserts ?? 0} clicks, expected ${DELTA.clicks}`);
      }
      const rows = checkoutRows(DELTA.sinkRows, 10_000_000 + this.#sinkRow, this.#sinkRow + 1);
      this.#sinkRow += DELTA.sinkRows;
      const { rows: lsn } = await this.db.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l');
      const t = performance.now();
      await this.commit(chunk, rows);
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
      point.deltaBytes.push(chunk.bytes.length);
    }
    return point;
  }
}
