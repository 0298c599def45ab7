/**
 * The attribution pipeline as one Apache Flink SQL 1.20 script (`flowmark flink sql`): Kafka
 * sources for the clicks and checkouts in any of the three layouts flowmark reads, JDBC lookups
 * of the shop's users and products, first-click (or last-click) attribution and the one-minute
 * analytics, written by JDBC upserts into flowmark's own tables. The rules are flowmark's
 * (docs/attribution.md); where Flink SQL cannot follow one, the script says so in a comment and
 * docs/flink.md lists it.
 *
 * How the attribution is expressed, and why not as the reference pipelines do:
 * - clicks and checkouts are one stream (UNION ALL), partitioned by the attribution key (user and
 *   product, or user), and each checkout takes `MIN(click_key) OVER (… ORDER BY ts RANGE BETWEEN
 *   lookback PRECEDING AND CURRENT ROW)`: the clicks with t_c − lookback ≤ t_k ≤ t_c, both ends
 *   inclusive (RANGE includes the rows at exactly t_c). `click_key` is the click's time
 *   (`yyyy-MM-dd HH:mm:ss.SSS`, fixed width), its id, U+0000 and its source, so that the smallest
 *   key is the smallest (t_k, click_id): U+0000 sorts before every character an id can hold (ids
 *   never hold it), so an id that is a prefix of another still sorts first.
 * - A row-time OVER aggregate emits each row once, when the watermark passes its time: every
 *   checkout is output exactly once and final — with no click when there is none — and a click
 *   that arrives after its checkout, on time, still counts. The reference query's ROW_NUMBER by
 *   user/product (a second checkout replaces the first; unattributed checkouts share one row) and
 *   its inner lookup join (checkouts of unknown users vanish) are not repeated: lookups are LEFT
 *   JOINs and the output key is checkout_id.
 * - Per-source windows (`lookback_by_source`): one OVER aggregate per distinct window, chained (Flink
 *   computes every aggregate of one SELECT over the same frame), each taking the key of only the
 *   clicks of its sources (a CASE on the source); the checkout's click is the smallest (largest)
 *   of their results. A click thus counts only within its own source's window, both ends
 *   inclusive, as in flowmark. Each stage holds its own window of rows in Flink's state.
 * - Duplicate deliveries of a checkout id: the first arrival wins (deduplication on processing
 *   time, kept for `table.exec.state.ttl`), as flowmark's dedupe step.
 */
import { FlowmarkError } from '../../engine/index.ts';
import type { AttributionModel } from '../attribution-options.ts';
import type { LookbackBySource } from '../lookback-windows.ts';

/** Where a dimension table is and which of its columns hold the fields flowmark reads. */
export interface FlinkDimensionSpec<F extends string> {
  schema: string;
  table: string;
  keyColumn: string;
  /** Field → column; null: the table has none (the field is null). */
  columns: Readonly<Record<F, string | null>>;
}

/** Everything the script is made from (the CLI builds it from the resolved configuration). */
export interface FlinkJobSpec {
  kafka: { bootstrap: readonly string[]; group: string; topics: { clicks: string; checkouts: string } };
  jdbc: {
    /** `jdbc:postgresql://host:port/db`, with no user or password in it. */
    url: string;
    username?: string;
    /**
     * Written as the value of the `password` option when set, e.g. `${FLOWMARK_PG_PASSWORD}`: a
     * placeholder to substitute when the script is submitted. The password itself never is.
     */
    passwordPlaceholder?: string;
    /** The schema of flowmark's own tables (attributed_checkouts, analytics_minute). */
    schema: string;
  };
  users: FlinkDimensionSpec<'name' | 'gender'>;
  products: FlinkDimensionSpec<'name' | 'category' | 'price' | 'commissionRate'>;
  lookupCache: { entries: number; ttlMs: number };
  attribution: {
    model: AttributionModel;
    scope: 'product' | 'user';
    lookbackMs: number;
    /** Sources with their own lookback (lower-cased); the others use `lookbackMs`. */
    lookbackBySource: LookbackBySource;
    maxOutOfOrdernessMs: number;
    idleTimeoutMs: number;
    excludedSources: readonly string[];
  };
  checkpointIntervalMs: number;
  /** How long Flink keeps the state of a checkout id (duplicates) and of an analytics group. */
  stateTtlMs: number;
  /**
   * Read the topics from the start to their end offsets at submission, then finish (tests, a
   * backfill); otherwise read from the group's offsets (earliest when it has none), forever.
   */
  bounded: boolean;
}

/** The models a row-time OVER aggregate can express: one click per checkout. */
export const FLINK_MODELS: readonly AttributionModel[] = ['first_click', 'last_click'];

/** A Flink SQL string literal. */
export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** A Flink SQL identifier. */
function ident(s: string): string {
  return `\`${s.replaceAll('`', '``')}\``;
}

/** `INTERVAL 'D HH:MM:SS.fff' DAY(n) TO SECOND(3)`: any duration, without SECOND's 2-digit limit. */
export function sqlInterval(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  const part = (size: number, width: number) => {
    const v = Math.floor(rest / size);
    rest -= v * size;
    return String(v).padStart(width, '0');
  };
  const hms = `${part(3_600_000, 2)}:${part(60_000, 2)}:${part(1000, 2)}.${String(rest).padStart(3, '0')}`;
  return `INTERVAL '${days} ${hms}' DAY(${Math.max(2, String(days).length)}) TO SECOND(3)`;
}

/** A duration as Flink's configuration writes it (`250 ms`). */
function flinkDuration(ms: number): string {
  return `${ms} ms`;
}

/**
 * The event time of a row: the first present field of `fields`, in one of flowmark's three forms
 * (ISO-8601 with Z or an offset, `YYYY-MM-DD HH:MM:SS[.fff]` read as UTC, epoch milliseconds).
 * Anything else is 1970-01-01, which every watermark has passed: such a row is late and dropped
 * (Flink has no dead-letter output; flowmark writes `invalid_event_time`).
 */
export function eventTimeExpression(fields: readonly string[]): string {
  const r = `COALESCE(${fields.map(ident).join(', ')})`;
  const iso = String.raw`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?$`;
  const offset = '([+-])([0-9]{2}):?([0-9]{2})?$';
  const fraction = `RPAD(SUBSTRING(COALESCE(REGEXP_EXTRACT(${r}, '\\.([0-9]+)', 1), '') FROM 1 FOR 3), 3, '0')`;
  const local = `TO_TIMESTAMP(CONCAT(SUBSTRING(${r} FROM 1 FOR 10), ' ', SUBSTRING(${r} FROM 12 FOR 8), '.', ${fraction}), 'yyyy-MM-dd HH:mm:ss.SSS')`;
  const offsetMinutes =
    `CASE WHEN REGEXP(${r}, '${offset}') THEN ` +
    `(CASE WHEN REGEXP_EXTRACT(${r}, '${offset}', 1) = '-' THEN -1 ELSE 1 END) * ` +
    `(CAST(REGEXP_EXTRACT(${r}, '${offset}', 2) AS INT) * 60 + CAST(COALESCE(REGEXP_EXTRACT(${r}, '${offset}', 3), '0') AS INT)) ` +
    'ELSE 0 END';
  return (
    'COALESCE(CASE ' +
    `WHEN REGEXP(${r}, '^[0-9]{1,15}$') THEN TO_TIMESTAMP_LTZ(CAST(${r} AS BIGINT), 3) ` +
    `WHEN REGEXP(${r}, '${iso}') THEN CAST(TIMESTAMPADD(MINUTE, -(${offsetMinutes}), ${local}) AS TIMESTAMP_LTZ(3)) ` +
    'END, TO_TIMESTAMP_LTZ(0, 3))'
  );
}

function kafkaOptions(spec: FlinkJobSpec, topic: string): string {
  const start: [string, string][] = spec.bounded
    ? [
        ['scan.startup.mode', 'earliest-offset'],
        ['scan.bounded.mode', 'latest-offset'],
      ]
    : [
        ['scan.startup.mode', 'group-offsets'],
        ['properties.auto.offset.reset', 'earliest'],
      ];
  return withOptions([
    ['connector', 'kafka'],
    ['topic', topic],
    ['properties.bootstrap.servers', spec.kafka.bootstrap.join(',')],
    ['properties.group.id', `${spec.kafka.group}-flink`],
    ...start,
    ['format', 'json'],
    // A line that is not JSON is skipped, and a field of the wrong type is null (flowmark: dead letters).
    ['json.ignore-parse-errors', 'true'],
    ['json.fail-on-missing-field', 'false'],
  ]);
}

function withOptions(options: ReadonlyArray<readonly [string, string]>): string {
  return `WITH (\n${options.map(([k, v]) => `  ${sqlString(k)} = ${sqlString(v)}`).join(',\n')}\n)`;
}

function jdbcOptions(spec: FlinkJobSpec, table: string, extra: ReadonlyArray<readonly [string, string]> = []) {
  const credentials: [string, string][] = [];
  if (spec.jdbc.username !== undefined) credentials.push(['username', spec.jdbc.username]);
  if (spec.jdbc.passwordPlaceholder !== undefined) credentials.push(['password', spec.jdbc.passwordPlaceholder]);
  return withOptions([['connector', 'jdbc'], ['url', spec.jdbc.url], ['table-name', table], ...credentials, ...extra]);
}

/** One OVER stage: a window, and the condition on `click_source` of the clicks it reads (none: all). */
interface WindowStage {
  lookbackMs: number;
  condition?: string;
}

/**
 * The OVER stages of the attribution: one per distinct window. Sources whose own window equals
 * the default join the default stage, which takes every other source and clicks with none.
 */
export function windowStages(lookbackMs: number, bySource: LookbackBySource): WindowStage[] {
  const own = new Map<number, string[]>();
  // Lower-cased as the clicks' sources are (the configuration has done so already).
  const sources = Object.entries(bySource).map(([source, ms]) => [source.toLowerCase(), ms] as const);
  for (const [source, ms] of sources.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (ms !== lookbackMs) own.set(ms, [...(own.get(ms) ?? []), source]);
  }
  if (own.size === 0) return [{ lookbackMs }];
  const listed = [...own.values()].flat().map(sqlString);
  const stages: WindowStage[] = [
    { lookbackMs, condition: `\`click_source\` IS NULL OR \`click_source\` NOT IN (${listed.join(', ')})` },
  ];
  for (const [ms, sources] of [...own].sort(([a], [b]) => a - b)) {
    stages.push({ lookbackMs: ms, condition: `\`click_source\` IN (${sources.map(sqlString).join(', ')})` });
  }
  return stages;
}

function checkSpec(spec: FlinkJobSpec): void {
  if (!FLINK_MODELS.includes(spec.attribution.model)) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `attribution.model is ${spec.attribution.model}, which the Flink SQL job cannot compute: it does ` +
        `${FLINK_MODELS.join(' and ')} (one click per checkout); set attribution.model (--model) to one of them`,
    );
  }
}

/** A `CREATE TEMPORARY TABLE` of a dimension for lookups: the key and the configured columns only. */
function dimensionTable<F extends string>(
  spec: FlinkJobSpec,
  name: string,
  dim: FlinkDimensionSpec<F>,
  types: Readonly<Record<F, string>>,
): string {
  const cols = [`  ${ident(dim.keyColumn)} STRING`];
  for (const [field, column] of Object.entries(dim.columns) as [F, string | null][]) {
    if (column !== null) cols.push(`  ${ident(column)} ${types[field]}`);
  }
  return [
    `CREATE TEMPORARY TABLE ${name} (\n${cols.join(',\n')},\n  PRIMARY KEY (${ident(dim.keyColumn)}) NOT ENFORCED\n)`,
    jdbcOptions(spec, `${dim.schema}.${dim.table}`, [
      ['lookup.cache', 'PARTIAL'],
      ['lookup.partial-cache.max-rows', String(Math.max(1, spec.lookupCache.entries))],
      ['lookup.partial-cache.expire-after-write', flinkDuration(Math.max(1, spec.lookupCache.ttlMs))],
      ['lookup.partial-cache.cache-missing-key', 'false'],
    ]),
  ].join('\n');
}

/** A dimension column in a SELECT: `alias.column`, or a typed NULL when the table has none. */
function dimColumn<F extends string>(alias: string, dim: FlinkDimensionSpec<F>, field: F, type: string): string {
  const column = dim.columns[field];
  return column === null ? `CAST(NULL AS ${type})` : `${alias}.${ident(column)}`;
}

/** `text` trimmed, with blank as NULL (flowmark's rule for optional labels). */
function blankAsNull(expr: string): string {
  return `NULLIF(TRIM(${expr}), '')`;
}

/**
 * The Flink SQL script of the attribution job.
 *
 * @example
 * flinkSql(spec).startsWith('-- flowmark attribution job for Apache Flink SQL 1.20') // true
 */
export function flinkSql(spec: FlinkJobSpec): string {
  return renderFlinkJob(spec).script;
}

/**
 * The statements of the script, each without its `;` and comments, in order: what a client that
 * submits one statement at a time (the SQL Gateway's REST API) sends. The statement set that
 * starts the job is the last one.
 */
export function flinkStatements(spec: FlinkJobSpec): string[] {
  return renderFlinkJob(spec).statements;
}

function renderFlinkJob(spec: FlinkJobSpec): { script: string; statements: string[] } {
  checkSpec(spec);
  const a = spec.attribution;
  const byProduct = a.scope === 'product';
  const partition = byProduct ? '`user_id`, `product_id`' : '`user_id`';
  const pick = a.model === 'first_click' ? 'MIN' : 'MAX';
  const excluded = a.excludedSources.map((s) => sqlString(s.toLowerCase()));
  const S = `${spec.jdbc.schema}`;
  const out: string[] = [];
  const statements: string[] = [];
  const stmt = (s: string) => {
    statements.push(s);
    out.push(`${s};\n\n`);
  };
  const note = (...lines: string[]) => out.push(`${lines.map((l) => `-- ${l}`).join('\n')}\n`);

  note(
    'flowmark attribution job for Apache Flink SQL 1.20 (generated by `flowmark flink sql`).',
    `Model ${a.model}, scope ${a.scope}, lookback ${sqlInterval(a.lookbackMs)}, watermark bound ${sqlInterval(a.maxOutOfOrdernessMs)}.`,
    ...Object.entries(a.lookbackBySource).map(([source, ms]) => `Lookback of source ${source}: ${sqlInterval(ms)}.`),
    'Run it with bin/sql-client.sh -f, or `flowmark flink deploy`. It needs flink-connector-kafka 3.4.0-1.20,',
    'flink-connector-jdbc 3.3.0-1.20 and the PostgreSQL driver in lib/ (docs/flink.md), and JVMs in UTC',
    '(-Duser.timezone=UTC): the JDBC driver writes timestamps in the JVM zone.',
    ...(spec.jdbc.passwordPlaceholder !== undefined
      ? [
          `The database password is the placeholder ${spec.jdbc.passwordPlaceholder}: substitute it when you submit`,
          `(e.g. envsubst '${spec.jdbc.passwordPlaceholder.replace(/^\$\{(.*)\}$/, '$$$1')}' < job.sql); this script never holds it.`,
        ]
      : []),
    'Differences from flowmark itself (docs/flink.md): bad and late events are skipped, not written to',
    'dead_letters; rows are written once, final, never provisional; lookups and watermarks are Flink’s.',
  );
  out.push('\n');
  stmt("SET 'table.local-time-zone' = 'UTC'");
  stmt("SET 'pipeline.name' = 'flowmark-attribution'");
  if (spec.bounded) {
    note(
      'Bounded: no checkpoints (the job reads the topics to their end and its sinks flush when it',
      'finishes). A continuous job checkpoints every checkpoint.interval, below: its cluster needs a',
      'durable state.checkpoints.dir (the JobManager keeps only 5 MB of state in memory).',
    );
  } else {
    note(
      'Checkpoints every checkpoint.interval: the cluster needs a durable state.checkpoints.dir',
      '(the JobManager keeps only 5 MB of state in memory; a larger state fails every checkpoint).',
    );
    stmt(`SET 'execution.checkpointing.interval' = ${sqlString(flinkDuration(spec.checkpointIntervalMs))}`);
  }
  note(
    'A partition that has nothing to read for this long stops holding the watermark back (flowmark:',
    'the same idle timeout, but only for a partition that is caught up; Flink cannot tell).',
  );
  stmt(`SET 'table.exec.source.idle-timeout' = ${sqlString(flinkDuration(a.idleTimeoutMs))}`);
  note(
    'Checkout ids (duplicates) and analytics groups are kept this long, in processing time',
    '(flowmark: checkout ids for 24 h of event time).',
  );
  stmt(`SET 'table.exec.state.ttl' = ${sqlString(flinkDuration(spec.stateTtlMs))}`);
  if (spec.bounded) {
    note('Bounded: the client waits until the job has read the topics to their end and finished.');
    stmt("SET 'table.dml-sync' = 'true'");
  }

  const watermark = (col: string) => `  WATERMARK FOR ${col} AS ${col} - ${sqlInterval(a.maxOutOfOrdernessMs)}`;
  note('The clicks, in any of the three layouts (canonical, tutorial, insights): absent fields are NULL.');
  stmt(
    [
      'CREATE TEMPORARY TABLE clicks_topic (',
      '  `type` STRING,',
      '  `click_id` STRING,',
      '  `user_id` STRING,',
      '  `product_id` STRING,',
      '  `source` STRING,',
      '  `event_time` STRING,',
      '  `click_timestamp` STRING,',
      '  `datetime_occured` STRING,',
      `  \`ts\` AS ${eventTimeExpression(['event_time', 'click_timestamp', 'datetime_occured'])},`,
      watermark('`ts`'),
      `) ${kafkaOptions(spec, spec.kafka.topics.clicks)}`,
    ].join('\n'),
  );
  stmt(
    [
      'CREATE TEMPORARY TABLE checkouts_topic (',
      '  `type` STRING,',
      '  `checkout_id` STRING,',
      '  `user_id` STRING,',
      '  `product_id` STRING,',
      '  `quantity` INT,',
      '  `discount` DECIMAL(20, 10),',
      '  `shipping_cost` DECIMAL(24, 6),',
      '  `total_amount` DECIMAL(24, 6),',
      '  `payment_method` STRING,',
      '  `payment_status` STRING,',
      '  `payment_description` STRING,',
      '  `event_time` STRING,',
      '  `checkout_timestamp` STRING,',
      '  `datetime_occured` STRING,',
      '  `proc` AS PROCTIME(),',
      `  \`ts\` AS ${eventTimeExpression(['event_time', 'checkout_timestamp', 'datetime_occured'])},`,
      watermark('`ts`'),
      `) ${kafkaOptions(spec, spec.kafka.topics.checkouts)}`,
    ].join('\n'),
  );

  note('The shop’s users and products: the key and the configured columns only (never a password).');
  stmt(dimensionTable(spec, 'users_table', spec.users, { name: 'STRING', gender: 'STRING' }));
  stmt(
    dimensionTable(spec, 'products_table', spec.products, {
      name: 'STRING',
      category: 'STRING',
      price: 'DECIMAL(24, 10)',
      commissionRate: 'DECIMAL(24, 10)',
    }),
  );

  note('flowmark’s own tables (docs/connectors.md), written by upsert on their primary keys.');
  stmt(
    [
      'CREATE TEMPORARY TABLE attributed_checkouts_table (',
      '  `checkout_id` STRING, `user_id` STRING, `product_id` STRING, `quantity` INT,',
      '  `discount` DECIMAL(20, 10), `shipping_cost` DECIMAL(24, 6), `payment_method` STRING,',
      '  `payment_status` STRING, `payment_description` STRING, `user_name` STRING, `user_gender` STRING,',
      '  `product_name` STRING, `product_category` STRING, `product_price` DECIMAL(24, 10),',
      '  `commission_rate` DECIMAL(24, 10), `click_id` STRING, `click_source` STRING,',
      '  `click_time` TIMESTAMP(3), `checkout_time` TIMESTAMP(3), `order_value` DECIMAL(14, 2),',
      '  `revenue` DECIMAL(14, 2), `profit` DECIMAL(14, 2), `attribution_model` STRING, `is_final` BOOLEAN,',
      '  PRIMARY KEY (`checkout_id`) NOT ENFORCED',
      `) ${jdbcOptions(spec, `${S}.attributed_checkouts`)}`,
    ].join('\n'),
  );
  stmt(
    [
      'CREATE TEMPORARY TABLE analytics_minute_table (',
      '  `window_start` TIMESTAMP(3), `shard` STRING, `dimension` STRING, `value` STRING,',
      '  `checkouts` BIGINT, `revenue` DECIMAL(14, 2), `profit` DECIMAL(14, 2),',
      '  PRIMARY KEY (`window_start`, `dimension`, `value`, `shard`) NOT ENFORCED',
      `) ${jdbcOptions(spec, `${S}.analytics_minute`)}`,
    ].join('\n'),
  );

  note(
    'Clicks as flowmark reads them: ids as text (42 and "42" are one user), source trimmed and',
    'lower-cased, blank as NULL. A click without an id or user is skipped (flowmark: a dead letter).',
  );
  const excludedFilter =
    excluded.length === 0 ? '' : `\n  AND (\`source\` IS NULL OR \`source\` NOT IN (${excluded.join(', ')}))`;
  stmt(
    [
      'CREATE TEMPORARY VIEW clicks AS',
      'SELECT * FROM (',
      "  SELECT `click_id`, `user_id`, `product_id`, LOWER(NULLIF(TRIM(`source`), '')) AS `source`, `ts`",
      '  FROM clicks_topic',
      "  WHERE (`type` IS NULL OR LOWER(TRIM(`type`)) = 'click')",
      "    AND NULLIF(`click_id`, '') IS NOT NULL AND NULLIF(`user_id`, '') IS NOT NULL",
      byProduct ? "    AND NULLIF(`product_id`, '') IS NOT NULL" : '',
      `)${excludedFilter.length > 0 ? `\nWHERE TRUE${excludedFilter}` : ''}`,
    ]
      .filter((l) => l !== '')
      .join('\n'),
  );
  note(
    'Checkouts with flowmark’s defaults (quantity 1, discount 0, shipping 0, payment success) and',
    'labels (payment_status lower-cased; payment_description "None" or blank is NULL). A checkout',
    'without an id, user or product, or with a payment status other than success/failed, is skipped.',
  );
  stmt(
    [
      'CREATE TEMPORARY VIEW checkouts_parsed AS',
      'SELECT * FROM (',
      '  SELECT `checkout_id`, `user_id`, `product_id`, COALESCE(`quantity`, 1) AS `quantity`,',
      '    COALESCE(`discount`, 0) AS `discount`, COALESCE(`shipping_cost`, 0) AS `shipping_cost`, `total_amount`,',
      `    ${blankAsNull('`payment_method`')} AS \`payment_method\`,`,
      "    COALESCE(LOWER(TRIM(`payment_status`)), 'success') AS `payment_status`,",
      `    CASE WHEN LOWER(TRIM(\`payment_description\`)) IN ('none', '') THEN CAST(NULL AS STRING) ELSE \`payment_description\` END AS \`payment_description\`,`,
      '    `proc`, `ts`',
      '  FROM checkouts_topic',
      "  WHERE (`type` IS NULL OR LOWER(TRIM(`type`)) = 'checkout')",
      "    AND NULLIF(`checkout_id`, '') IS NOT NULL AND NULLIF(`user_id`, '') IS NOT NULL",
      "    AND NULLIF(`product_id`, '') IS NOT NULL",
      ')',
      "WHERE `payment_status` IN ('success', 'failed')",
    ].join('\n'),
  );
  note('A checkout id seen again is a duplicate: the first arrival wins.');
  stmt(
    [
      'CREATE TEMPORARY VIEW checkouts AS',
      'SELECT `checkout_id`, `user_id`, `product_id`, `quantity`, `discount`, `shipping_cost`, `total_amount`,',
      '  `payment_method`, `payment_status`, `payment_description`, `proc`, `ts`',
      'FROM (',
      '  SELECT *, ROW_NUMBER() OVER (PARTITION BY `checkout_id` ORDER BY `proc` ASC) AS `row_num`',
      '  FROM checkouts_parsed',
      ')',
      'WHERE `row_num` = 1',
    ].join('\n'),
  );

  const clickKey = "CONCAT(DATE_FORMAT(`ts`, 'yyyy-MM-dd HH:mm:ss.SSS'), `click_id`, CHR(0), COALESCE(`source`, ''))";
  note(
    'Clicks and checkouts in one stream; a click carries its key: time (fixed width), id, U+0000, source.',
    `The ${a.model === 'first_click' ? 'smallest' : 'largest'} key of the window is the ${a.model === 'first_click' ? 'smallest' : 'largest'} (click time, click id).`,
  );
  stmt(
    [
      'CREATE TEMPORARY VIEW attribution_events AS',
      "SELECT 'checkout' AS `kind`, `checkout_id`, `user_id`, `product_id`, `quantity`, `discount`, `shipping_cost`,",
      '  `total_amount`, `payment_method`, `payment_status`, `payment_description`, CAST(NULL AS STRING) AS `click_key`,',
      '  CAST(NULL AS STRING) AS `click_source`, `ts`',
      'FROM checkouts',
      'UNION ALL',
      "SELECT 'click', CAST(NULL AS STRING), `user_id`, `product_id`, CAST(NULL AS INT), CAST(NULL AS DECIMAL(20, 10)),",
      '  CAST(NULL AS DECIMAL(24, 6)), CAST(NULL AS DECIMAL(24, 6)), CAST(NULL AS STRING), CAST(NULL AS STRING),',
      `  CAST(NULL AS STRING), ${clickKey}, \`source\`, \`ts\``,
      'FROM clicks',
    ].join('\n'),
  );
  const stages = windowStages(a.lookbackMs, a.lookbackBySource);
  const overOf = (stage: WindowStage, i: number) => [
    `SELECT *, ${pick}(${stage.condition === undefined ? '`click_key`' : `CASE WHEN ${stage.condition} THEN \`click_key\` END`}) OVER (`,
    `  PARTITION BY ${partition} ORDER BY \`ts\``,
    `  RANGE BETWEEN ${sqlInterval(stage.lookbackMs)} PRECEDING AND CURRENT ROW`,
    `) AS \`best_${i}\``,
  ];
  const indent = (lines: string[]) => lines.map((l) => `  ${l}`);
  // Stage i reads stage i − 1: FROM ( SELECT *, … AS best_1 FROM ( SELECT *, … AS best_0 FROM attribution_events ) ).
  let windowed = ['attribution_events'];
  stages.forEach((stage, i) => {
    const [first, ...rest] = windowed;
    windowed = ['(', ...indent([...overOf(stage, i), `FROM ${first}`, ...rest]), ')'];
  });
  // The smallest (largest) of the stages' keys; NULL ones stand aside as a key no click has: '~'
  // sorts after every key (they start with a digit), '' before every key.
  const none = a.model === 'first_click' ? "'~'" : "''";
  const best =
    stages.length === 1
      ? '`best_0`'
      : `NULLIF(${pick === 'MIN' ? 'LEAST' : 'GREATEST'}(${stages.map((_, i) => `COALESCE(\`best_${i}\`, ${none})`).join(', ')}), ${none})`;
  note(
    stages.length === 1
      ? `Each checkout takes ${pick}(click_key) over the clicks of its key with t_c - lookback <= t_k <= t_c.`
      : `Each checkout takes ${pick}(click_key) over the clicks of its key with t_c - lookback(source) <= t_k <= t_c: one OVER per window.`,
    'A row-time OVER aggregate emits a row once the watermark has passed its time: final, exactly once.',
    'Late rows (behind the watermark) are dropped by Flink here; flowmark writes them to dead_letters.',
  );
  stmt(
    [
      'CREATE TEMPORARY VIEW attributed AS',
      'SELECT `checkout_id`, `user_id`, `product_id`, `quantity`, `discount`, `shipping_cost`, `total_amount`,',
      '  `payment_method`, `payment_status`, `payment_description`, `ts`,',
      "  TO_TIMESTAMP(SUBSTRING(`best` FROM 1 FOR 23), 'yyyy-MM-dd HH:mm:ss.SSS') AS `click_time`,",
      '  SUBSTRING(`best` FROM 24 FOR POSITION(CHR(0) IN `best`) - 24) AS `click_id`,',
      "  NULLIF(SUBSTRING(`best` FROM POSITION(CHR(0) IN `best`) + 1), '') AS `click_source`",
      'FROM (',
      `  SELECT *, ${best} AS \`best\``,
      ...indent([`FROM ${windowed[0]}`, ...windowed.slice(1)]),
      ')',
      "WHERE `kind` = 'checkout'",
    ].join('\n'),
  );

  const round2 = (e: string) => `CAST(ROUND(${e}, 2) AS DECIMAL(14, 2))`;
  const price = dimColumn('p', spec.products, 'price', 'DECIMAL(24, 10)');
  const rate = dimColumn('p', spec.products, 'commissionRate', 'DECIMAL(24, 10)');
  const orderValue = `CASE WHEN c.\`total_amount\` IS NOT NULL THEN ${round2('c.`total_amount`')} ELSE ${round2(`${price} * c.\`quantity\` * (1 - c.\`discount\`)`)} END`;
  note(
    'Enriched with the user and the product as of processing time (LEFT JOIN: an unknown user or',
    'product gives NULLs, the checkout stays), with flowmark’s money: order_value = total_amount, or',
    'round2(price × quantity × (1 − discount)); revenue = order_value if the payment succeeded, else 0;',
    'profit = round2(revenue × commission_rate).',
  );
  stmt(
    [
      'CREATE TEMPORARY VIEW enriched AS',
      'SELECT c.`checkout_id`, c.`user_id`, c.`product_id`, c.`quantity`, c.`discount`, c.`shipping_cost`,',
      '  c.`payment_method`, c.`payment_status`, c.`payment_description`,',
      `  ${dimColumn('u', spec.users, 'name', 'STRING')} AS \`user_name\`,`,
      `  ${dimColumn('u', spec.users, 'gender', 'STRING')} AS \`user_gender\`,`,
      `  ${dimColumn('p', spec.products, 'name', 'STRING')} AS \`product_name\`,`,
      `  ${dimColumn('p', spec.products, 'category', 'STRING')} AS \`product_category\`,`,
      `  ${price} AS \`product_price\`, ${rate} AS \`commission_rate\`,`,
      '  c.`click_id`, c.`click_source`, c.`click_time`, c.`ts`,',
      `  ${orderValue} AS \`order_value\``,
      'FROM (SELECT *, PROCTIME() AS `proc` FROM attributed) AS c',
      `LEFT JOIN users_table FOR SYSTEM_TIME AS OF c.\`proc\` AS u ON c.\`user_id\` = u.${ident(spec.users.keyColumn)}`,
      `LEFT JOIN products_table FOR SYSTEM_TIME AS OF c.\`proc\` AS p ON c.\`product_id\` = p.${ident(spec.products.keyColumn)}`,
    ].join('\n'),
  );
  stmt(
    [
      'CREATE TEMPORARY VIEW attributed_rows AS',
      'SELECT *, CAST(ROUND(`revenue` * `commission_rate`, 2) AS DECIMAL(14, 2)) AS `profit` FROM (',
      "  SELECT *, CASE WHEN `order_value` IS NULL OR `payment_status` = 'success' THEN `order_value` ELSE CAST(0 AS DECIMAL(14, 2)) END AS `revenue`",
      '  FROM enriched',
      ')',
    ].join('\n'),
  );
  note(
    'The one-minute analytics of checkout time, from the final rows: one fact per breakdown (a',
    "checkout without a click counts under source 'none'; unknown category and gender under 'unknown';",
    "failed payments by description, 'unspecified' when none). One job over all partitions: shard 'all'.",
  );
  const fact = (dimension: string, value: string, where = '') =>
    `  SELECT \`ts\`, '${dimension}' AS \`dimension\`, ${value} AS \`value\`, COALESCE(\`revenue\`, 0) AS \`revenue\`, COALESCE(\`profit\`, 0) AS \`profit\` FROM attributed_rows${where}`;
  stmt(
    [
      'CREATE TEMPORARY VIEW analytics_facts AS',
      fact('total', "'all'"),
      '  UNION ALL',
      fact('source', "COALESCE(`click_source`, 'none')"),
      '  UNION ALL',
      fact('category', "COALESCE(`product_category`, 'unknown')"),
      '  UNION ALL',
      fact('gender', "COALESCE(`user_gender`, 'unknown')"),
      '  UNION ALL',
      fact('failed_reason', "COALESCE(`payment_description`, 'unspecified')", " WHERE `payment_status` = 'failed'"),
    ].join('\n'),
  );

  note('One job writes both tables.');
  const insertCheckouts = [
    'INSERT INTO attributed_checkouts_table',
    'SELECT `checkout_id`, `user_id`, `product_id`, `quantity`, `discount`, `shipping_cost`, `payment_method`,',
    '  `payment_status`, `payment_description`, `user_name`, `user_gender`, `product_name`, `product_category`,',
    '  `product_price`, `commission_rate`, `click_id`, `click_source`, `click_time`, CAST(`ts` AS TIMESTAMP(3)),',
    `  \`order_value\`, \`revenue\`, \`profit\`, ${sqlString(a.model)}, TRUE`,
    'FROM attributed_rows',
  ].join('\n');
  const insertMinutes = [
    'INSERT INTO analytics_minute_table',
    "SELECT `window_start`, 'all', `dimension`, `value`, COUNT(*), CAST(SUM(`revenue`) AS DECIMAL(14, 2)),",
    '  CAST(SUM(`profit`) AS DECIMAL(14, 2))',
    "FROM TABLE(TUMBLE(TABLE analytics_facts, DESCRIPTOR(`ts`), INTERVAL '1' MINUTE))",
    'GROUP BY `window_start`, `window_end`, `dimension`, `value`',
  ].join('\n');
  stmt(`EXECUTE STATEMENT SET\nBEGIN\n${insertCheckouts};\n\n${insertMinutes};\nEND`);
  return { script: out.join(''), statements };
}
