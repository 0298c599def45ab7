/**
 * flowmark's tables, as data that the database connectors are given (the application owns its
 * schema; connectors know only how to run migrations and write rows):
 * - {@link outputMigrations}: the DDL, as ordered migrations for a schema (`flowmark` by default);
 * - {@link SINK_TABLES}: for each sink of the attribution pipeline, its table, columns, primary
 *   key and write mode. The sinks emit row objects whose keys are exactly the column names, and
 *   the column lists below are checked against the row types by the compiler.
 *
 * Released migrations never change; a schema change is a new migration appended to the list.
 */
import { FlowmarkError } from '../engine/index.ts';
import type { AnalyticsRow } from './analytics.ts';
import type { DeadLetterRow } from './event-types.ts';
import { type AttributedCheckoutRow, type CreditRow, deadLetter, rawEventOf } from './output-rows.ts';

export const DEFAULT_SCHEMA = 'flowmark';

/** The column types of sink tables (each also names the `unnest` array type). */
export type OutputColumnType =
  | 'text'
  | 'integer'
  | 'bigint'
  | 'numeric'
  | 'double precision'
  | 'boolean'
  | 'timestamptz'
  /** UTC wall-clock time, for a shop's own `TIMESTAMP` columns (the reference tables). */
  | 'timestamp';

export interface OutputColumn {
  name: string;
  type: OutputColumnType;
}

/** How one sink is written: `upsert` by primary key, or `append`. */
export interface OutputTable {
  /** The schema of a table that is not flowmark's own (a shop's reference table); default flowmark's. */
  schema?: string;
  table: string;
  columns: readonly OutputColumn[];
  primaryKey: readonly string[];
  mode: 'upsert' | 'append';
  /** Set to now() by the database on every write of the row. */
  updatedAtColumn?: string;
  /**
   * This table receives the rows the database refuses at a checkpoint: the row recording one
   * (the committer's `RefusedRow`).
   */
  fromRefusedRow?: (refused: RefusedOutputRow) => unknown;
}

/** A sink row the database refused at a checkpoint, as the SQL committer describes it. */
export interface RefusedOutputRow {
  sink: string;
  table: string;
  row: unknown;
  sqlstate: string;
  message: string;
  refusedAtMs: number;
}

/** The reason of the dead letter of a row the database refused. */
export const REJECTED_BY_DATABASE = 'rejected_by_database';

/**
 * The dead letter of a sink row the database refused (ARCHITECTURE §3.6, the last line of
 * defence): source is the sink, raw the line of the event the row was made from (or, for a row
 * made from no single line, the row as JSON), detail the database's message and SQLSTATE.
 */
export function refusedRowDeadLetter(r: RefusedOutputRow): DeadLetterRow {
  const raw = rawEventOf(r.row) ?? JSON.stringify(r.row, keepNonFinite);
  return deadLetter(
    r.sink,
    REJECTED_BY_DATABASE,
    raw,
    `the database refused this row of ${r.table}: ${r.message} [SQLSTATE ${r.sqlstate}]`,
    r.refusedAtMs,
  );
}

/** JSON keeps ±Infinity and NaN as text (not `null`): they are often why a row was refused. */
function keepNonFinite(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  return v;
}

export interface OutputMigration {
  version: number;
  name: string;
  sql: string;
}

/** The analytics breakdowns stored in `analytics_minute.dimension`. */
export const ANALYTICS_DIMENSIONS = ['total', 'source', 'category', 'failed_reason', 'gender'] as const;

function columns<Row>(types: { [K in keyof Required<Row>]: OutputColumnType }): OutputColumn[] {
  return Object.entries(types).map(([name, type]) => ({ name, type: type as OutputColumnType }));
}

/** The sinks of the attribution pipeline; each id is also its table's name (`SINK` in attribution-pipeline.ts). */
export type SinkId = 'attributed_checkouts' | 'attribution_credits' | 'dead_letters' | 'analytics_minute';

/** Sink id → table. */
export const SINK_TABLES: Readonly<Record<SinkId, OutputTable>> = {
  attributed_checkouts: {
    table: 'attributed_checkouts',
    columns: columns<AttributedCheckoutRow>({
      checkout_id: 'text',
      user_id: 'text',
      product_id: 'text',
      quantity: 'integer',
      discount: 'numeric',
      shipping_cost: 'numeric',
      payment_method: 'text',
      payment_status: 'text',
      payment_description: 'text',
      user_name: 'text',
      user_gender: 'text',
      product_name: 'text',
      product_category: 'text',
      product_price: 'numeric',
      commission_rate: 'numeric',
      click_id: 'text',
      click_source: 'text',
      click_time: 'timestamptz',
      checkout_time: 'timestamptz',
      order_value: 'numeric',
      revenue: 'numeric',
      profit: 'numeric',
      attribution_model: 'text',
      is_final: 'boolean',
    }),
    primaryKey: ['checkout_id'],
    mode: 'upsert',
    updatedAtColumn: 'updated_at',
  },
  attribution_credits: {
    table: 'attribution_credits',
    columns: columns<CreditRow>({ checkout_id: 'text', click_id: 'text', model: 'text', credit: 'double precision' }),
    primaryKey: ['checkout_id', 'click_id', 'model'],
    mode: 'upsert',
  },
  dead_letters: {
    table: 'dead_letters',
    columns: columns<DeadLetterRow>({
      source: 'text',
      reason: 'text',
      raw: 'text',
      detail: 'text',
      received_at: 'timestamptz',
      raw_bytes: 'bigint',
    }),
    primaryKey: [],
    mode: 'append',
    fromRefusedRow: refusedRowDeadLetter,
  },
  analytics_minute: {
    table: 'analytics_minute',
    columns: columns<AnalyticsRow>({
      window_start: 'timestamptz',
      shard: 'text',
      dimension: 'text',
      value: 'text',
      checkouts: 'bigint',
      revenue: 'numeric',
      profit: 'numeric',
    }),
    primaryKey: ['window_start', 'dimension', 'value', 'shard'],
    mode: 'upsert',
  },
};

/** A schema name flowmark accepts: a plain lower-case SQL identifier. */
export function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `schema name "${schema}" is not a plain SQL identifier: use lower-case letters, digits and _ (at most 63)`,
    );
  }
  return schema;
}

/**
 * The migrations that create and evolve flowmark's tables in `schema`.
 *
 * @example
 * outputMigrations('flowmark')[0].sql // 'CREATE TABLE flowmark.users (…); …'
 */
export function outputMigrations(schema: string = DEFAULT_SCHEMA): OutputMigration[] {
  const s = checkSchemaName(schema);
  return [
    {
      version: 1,
      name: 'dimension, output, analytics and checkpoint tables',
      sql: `
CREATE TABLE ${s}.users (
  user_id text PRIMARY KEY,
  name text,
  gender text
);
CREATE TABLE ${s}.products (
  product_id text PRIMARY KEY,
  product_name text,
  category text,
  price numeric,
  commission_rate numeric
);
CREATE TABLE ${s}.attributed_checkouts (
  checkout_id text PRIMARY KEY,
  user_id text NOT NULL,
  product_id text NOT NULL,
  quantity integer NOT NULL,
  discount numeric NOT NULL,
  shipping_cost numeric NOT NULL,
  payment_method text,
  payment_status text NOT NULL,
  payment_description text,
  user_name text,
  user_gender text,
  product_name text,
  product_category text,
  product_price numeric,
  commission_rate numeric,
  click_id text,
  click_source text,
  click_time timestamptz,
  checkout_time timestamptz NOT NULL,
  order_value numeric(14,2),
  revenue numeric(14,2),
  profit numeric(14,2),
  attribution_model text NOT NULL,
  is_final boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attributed_checkouts_checkout_time ON ${s}.attributed_checkouts (checkout_time);
CREATE TABLE ${s}.attribution_credits (
  checkout_id text NOT NULL,
  click_id text NOT NULL,
  model text NOT NULL,
  credit double precision NOT NULL,
  PRIMARY KEY (checkout_id, click_id, model)
);
CREATE TABLE ${s}.dead_letters (
  id bigserial PRIMARY KEY,
  source text NOT NULL,
  reason text NOT NULL,
  raw text,
  detail text,
  received_at timestamptz NOT NULL
);
CREATE INDEX dead_letters_received_at ON ${s}.dead_letters (received_at);
CREATE TABLE ${s}.analytics_minute (
  window_start timestamptz NOT NULL,
  dimension text NOT NULL CHECK (dimension IN ('total', 'source', 'category', 'failed_reason', 'gender')),
  value text NOT NULL,
  checkouts bigint NOT NULL,
  revenue numeric NOT NULL,
  profit numeric NOT NULL,
  PRIMARY KEY (window_start, dimension, value)
);
CREATE TABLE ${s}.checkpoints (
  job text PRIMARY KEY,
  checkpoint_id bigint NOT NULL DEFAULT 0,
  epoch bigint NOT NULL DEFAULT 0,
  meta jsonb,
  committed_at timestamptz
);
-- value is JSON text in a json column, not jsonb: jsonb refuses the escape \\u0000, which state
-- values hold (keys of the form user<U+0000>product); key escapes U+0000 as \\0 and \\ as \\\\.
CREATE TABLE ${s}.state (
  job text NOT NULL,
  node text NOT NULL,
  tbl text NOT NULL,
  key text NOT NULL,
  value json NOT NULL,
  expires_at_ms double precision,
  PRIMARY KEY (job, node, tbl, key)
);
`,
    },
    {
      version: 2,
      name: 'analytics_minute per shard (Kafka workers each aggregate their own partitions)',
      sql: `
ALTER TABLE ${s}.analytics_minute ADD COLUMN shard text NOT NULL DEFAULT 'all';
ALTER TABLE ${s}.analytics_minute DROP CONSTRAINT analytics_minute_pkey;
ALTER TABLE ${s}.analytics_minute ADD PRIMARY KEY (window_start, dimension, value, shard);
`,
    },
    {
      version: 3,
      name: 'dead_letters.raw_bytes: the size of the whole payload (raw keeps at most 1 MiB of it)',
      sql: `
ALTER TABLE ${s}.dead_letters ADD COLUMN raw_bytes bigint;
`,
    },
    {
      version: 4,
      name: 'state_chunks: the binary chunks of the time-bucketed state tables (issue 15)',
      // No shard column: a Kafka partition's job has a job name of its own (kafka:<group>:p<N>),
      // which already keys its checkpoint row and its state rows. Times are double precision, as
      // state.expires_at_ms: a chunk's times are the engine's f64 event times, and a checkpoint must
      // never fail on one. The index serves the expiry delete (a range per job and step).
      sql: `
CREATE TABLE ${s}.state_chunks (
  job text NOT NULL,
  node text NOT NULL,
  tbl text NOT NULL,
  seq bigint NOT NULL,
  min_time_ms double precision NOT NULL,
  max_time_ms double precision NOT NULL,
  expires_at_ms double precision NOT NULL,
  format smallint NOT NULL,
  -- 0 for a checkpoint's chunk; L + 1 for one that compaction merged from chunks of level L.
  level smallint NOT NULL DEFAULT 0,
  bytes bytea NOT NULL,
  PRIMARY KEY (job, node, tbl, seq)
);
CREATE INDEX state_chunks_expiry ON ${s}.state_chunks (job, node, expires_at_ms);
`,
    },
  ];
}
