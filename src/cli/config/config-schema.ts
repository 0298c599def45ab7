/**
 * The keys of flowmark's configuration: one table, from which the loader, the command-line flags,
 * the help texts and docs/configuration.md are made. A key is a snake_case path in flowmark.yaml
 * (`attribution.lookback`); its environment variable is `FLOWMARK_` + the path upper-cased with
 * `.` → `_` (`FLOWMARK_ATTRIBUTION_LOOKBACK`); most have a flag (`--lookback`).
 *
 * Each key's zod schema takes a raw value (a YAML value, or the text of a flag or variable) and
 * returns its resolved value; its issues are whole sentences naming the key, so that the loader
 * only adds where the value came from.
 */
import * as z from 'zod';
import { ATTRIBUTION_MODELS, DEFAULT_ATTRIBUTION_OPTIONS } from '../../attribution/attribution-options.ts';
import { lookbackProblem, parseLookbackBySource } from '../../attribution/lookback-windows.ts';
import { DEFAULT_SCHEMA } from '../../attribution/output-schema.ts';
import { parseBootstrap } from '../../connectors/kafka/kafka-options.ts';
import { checkDatabaseUrl } from '../../connectors/postgres/index.ts';
import { DEFAULT_CHECKPOINT_INTERVAL_MS, isFlowmarkError, parseDurationMs } from '../../engine/index.ts';

export interface ConfigKey {
  /** The snake_case path in flowmark.yaml, e.g. `attribution.lookback`. */
  readonly path: string;
  /** The flag without its dashes (`lookback`); absent: the file and the environment only. */
  readonly flag?: string;
  /** The placeholder of the flag's value in --help (`duration`). */
  readonly arg: string;
  /** The default as written in flowmark.yaml; `null`: unset. */
  readonly default: string | number | null | readonly string[] | Readonly<Record<string, string>>;
  /** Instead of a fixed default: the resolved value of this other key. */
  readonly defaultFrom?: string;
  /** One line for --help, the docs and flowmark.example.yaml. */
  readonly doc: string;
  /** For --help: the values a flag accepts. */
  readonly choices?: readonly string[];
  /** The value is never shown (the password of a URL): errors name the key and the source only. */
  readonly secret?: boolean;
  /** `null` is a value (a dimension column the table does not have); in a variable: `null` or `~`. */
  readonly nullable?: boolean;
  readonly schema: z.ZodType;
}

const UNITS: ReadonlyArray<[string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/**
 * A duration in ms as flowmark.yaml writes it: the largest unit that divides it.
 *
 * @example formatDurationMs(90_000) // '90s'
 */
export function formatDurationMs(ms: number): string {
  for (const [unit, size] of UNITS) if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

const DURATION_FORMS = 'such as 250ms, 15s, 30m, 1h or 7d';

/** A duration (`15s`, `1h`, or a number of ms) → ms. */
function duration(path: string, { positive = false } = {}): z.ZodType<number> {
  const message = `${path} must be a duration ${positive ? '> 0 ' : ''}${DURATION_FORMS}`;
  return z.union([z.string(), z.number()], { error: message }).transform((v, ctx) => {
    const ms = parseDurationMs(v);
    if (ms === undefined || (positive && ms === 0)) {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    return ms;
  });
}

/** A lookback: a duration > 0 and at most 90 days (lookback-windows.ts). */
function lookback(path: string): z.ZodType<number> {
  return duration(path).transform((ms, ctx) => {
    const why = lookbackProblem(ms);
    if (why !== undefined) {
      ctx.addIssue({ code: 'custom', message: `${path} ${why}` });
      return z.NEVER;
    }
    return ms;
  });
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** A size in bytes (`512MiB`, `1GiB`, or a number of bytes) → bytes. */
function byteSize(path: string): z.ZodType<number> {
  const message = `${path} must be a size such as 256MiB, 1GiB or a number of bytes`;
  return z.union([z.string(), z.number()], { error: message }).transform((v, ctx) => {
    const m = typeof v === 'number' ? undefined : /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
    const unit = m === undefined ? 1 : m === null ? undefined : SIZE_UNITS[(m[2] as string).toLowerCase()];
    const n =
      typeof v === 'number' ? v : m === null || m === undefined ? Number.NaN : Number(m[1]) * (unit ?? Number.NaN);
    if (!Number.isFinite(n) || n < 0) {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    return Math.floor(n);
  });
}

/**
 * Per-source lookbacks: a YAML map (`email: 30d`), or `source=duration` pairs separated by commas
 * in a flag or variable (`email=30d,direct=1d`) → source → ms. The message names the bad entry.
 */
function lookbackMap(path: string): z.ZodType<Record<string, number>> {
  return z.unknown().transform((v, ctx) => {
    try {
      return parseLookbackBySource(v, path);
    } catch (err) {
      if (!isFlowmarkError(err)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
      return z.NEVER;
    }
  });
}

/**
 * A size in bytes as flowmark.yaml writes it: the largest binary unit that divides it.
 *
 * @example formatBytes(1024 ** 3) // '1GiB'
 */
export function formatBytes(n: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const size = SIZE_UNITS[unit.toLowerCase()] as number;
    if (n > 0 && n % size === 0) return `${n / size}${unit}`;
  }
  return String(n);
}

/** Text of digits → number; anything else is left for the schema to refuse. */
const numericText = (v: unknown): unknown => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v);

function integer(path: string, min: number, max = Number.MAX_SAFE_INTEGER, what = `an integer ≥ ${min}`) {
  const error = `${path} must be ${what}`;
  return z.preprocess(numericText, z.number({ error }).int({ error }).min(min, { error }).max(max, { error }));
}

function oneOf<const T extends readonly [string, ...string[]]>(path: string, values: T) {
  return z.enum(values, { error: `${path} must be one of ${values.join(', ')}` });
}

/** A non-empty name or path. */
function text(path: string, what = 'a name') {
  return z
    .string({ error: `${path} must be ${what} (a string)` })
    .trim()
    .min(1, { error: `${path} must not be empty` });
}

/** A YAML list of strings, or one comma-separated string. */
function list(path: string) {
  const error = `${path} must be a list of names: a YAML list, or comma-separated (direct,email)`;
  return z
    .union([z.array(z.string({ error }), { error }), z.string({ error })], { error })
    .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((x) => x.trim()).filter(Boolean));
}

/** A `postgres://` URL → `{ url, displayUrl }`; errors never repeat the password. */
function databaseUrl(path: string) {
  return z
    .string({ error: `${path} must be a PostgreSQL URL such as postgres://user:password@host:5432/database` })
    .transform((url, ctx) => {
      try {
        return { url, displayUrl: checkDatabaseUrl(url, path) };
      } catch (err) {
        if (!isFlowmarkError(err)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
        return z.NEVER;
      }
    })
    .nullable();
}

/** `host:port[,host:port…]` → the list of brokers; the message names the bad entry and the form. */
function bootstrapList(path: string) {
  return z
    .string({ error: `${path} must be host:port[,host:port…] such as 127.0.0.1:9092` })
    .transform((text, ctx) => {
      try {
        return parseBootstrap(text, path);
      } catch (err) {
        if (!isFlowmarkError(err)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
        return z.NEVER;
      }
    })
    .nullable();
}

function dimensionKeys(
  dim: 'users' | 'products',
  table: string,
  keyColumn: string,
  columns: Readonly<Record<string, string>>,
): ConfigKey[] {
  const p = `dimensions.${dim}`;
  return [
    {
      path: `${p}.schema`,
      flag: `${dim}-schema`,
      arg: 'schema',
      default: null,
      defaultFrom: 'database.schema',
      doc: `the schema of the ${dim} table`,
      schema: text(`${p}.schema`),
    },
    {
      path: `${p}.table`,
      flag: `${dim}-table`,
      arg: 'table',
      default: table,
      doc: `the table ${dim} are looked up in`,
      schema: text(`${p}.table`),
    },
    {
      path: `${p}.key_column`,
      flag: `${dim}-key-column`,
      arg: 'column',
      default: keyColumn,
      doc: `its key column (compared with the events' ${keyColumn})`,
      schema: text(`${p}.key_column`),
    },
    ...Object.entries(columns).map(
      ([field, column]): ConfigKey => ({
        path: `${p}.columns.${field}`,
        arg: 'column',
        default: column,
        nullable: true,
        doc: `the column of the ${field.replaceAll('_', ' ')}; null: the table has none (the field is null)`,
        schema: text(`${p}.columns.${field}`, 'a column name or null').nullable(),
      }),
    ),
  ];
}

/** `schema.table` of a reference table → its location; null: not written. */
function tableName(path: string) {
  const error = `${path} must be schema.table (plain lower-case SQL identifiers, such as commerce.attributed_checkouts) or null`;
  return z
    .string({ error })
    .trim()
    .transform((v, ctx) => {
      const m = /^([a-z_][a-z0-9_]{0,62})\.([a-z_][a-z0-9_]{0,62})$/.exec(v);
      if (m === null) {
        ctx.addIssue({ code: 'custom', message: error });
        return z.NEVER;
      }
      return { schema: m[1] as string, table: m[2] as string };
    })
    .nullable();
}

/** Every key, in the order of flowmark.example.yaml. */
export const CONFIG_KEYS: readonly ConfigKey[] = [
  {
    path: 'data_dir',
    flag: 'data-dir',
    arg: 'dir',
    default: '.flowmark',
    doc: 'where the embedded log, checkpoints and PGlite live',
    schema: text('data_dir', 'a directory'),
  },
  {
    path: 'log.retention',
    flag: 'log-retention',
    arg: 'policy',
    default: 'consumed',
    choices: ['consumed', 'keep'],
    doc: 'consumed: delete a 64 MiB segment of the log once every consumer (run) has processed it; keep: keep every event',
    schema: oneOf('log.retention', ['consumed', 'keep']),
  },
  {
    path: 'database.url',
    flag: 'database-url',
    arg: 'url',
    default: null,
    secret: true,
    doc: 'a PostgreSQL server (postgres://user:password@host:5432/db) instead of PGlite',
    schema: databaseUrl('database.url'),
  },
  {
    path: 'database.schema',
    flag: 'database-schema',
    arg: 'schema',
    default: DEFAULT_SCHEMA,
    doc: "the schema of flowmark's own tables on the server (PGlite always uses flowmark)",
    schema: text('database.schema'),
  },
  {
    path: 'database.pool_size',
    flag: 'database-pool-size',
    arg: 'n',
    default: 4,
    doc: 'most connections to the server held at once',
    schema: integer('database.pool_size', 1),
  },
  {
    path: 'kafka.bootstrap',
    flag: 'kafka',
    arg: 'host:port',
    default: null,
    doc: 'Apache Kafka brokers (host:port[,host:port…]) instead of the log in the data dir',
    schema: bootstrapList('kafka.bootstrap'),
  },
  {
    path: 'kafka.group',
    flag: 'group',
    arg: 'group',
    default: 'flowmark',
    doc: 'the consumer group of the workers (run --kafka)',
    schema: text('kafka.group'),
  },
  {
    path: 'kafka.partitions',
    flag: 'partitions',
    arg: 'n',
    default: 4,
    doc: 'partitions of the topics that import, produce and demo create when missing (existing topics are kept as they are)',
    schema: integer('kafka.partitions', 1, 100_000),
  },
  {
    path: 'kafka.topics.clicks',
    arg: 'topic',
    default: 'clicks',
    doc: 'the topic of the clicks',
    schema: text('kafka.topics.clicks', 'a topic name'),
  },
  {
    path: 'kafka.topics.checkouts',
    arg: 'topic',
    default: 'checkouts',
    doc: 'the topic of the checkouts',
    schema: text('kafka.topics.checkouts', 'a topic name'),
  },
  ...dimensionKeys('users', 'users', 'user_id', { name: 'name', gender: 'gender' }),
  ...dimensionKeys('products', 'products', 'product_id', {
    name: 'product_name',
    category: 'category',
    price: 'price',
    commission_rate: 'commission_rate',
  }),
  {
    path: 'dimensions.cache_entries',
    flag: 'lookup-cache-entries',
    arg: 'n',
    default: 100_000,
    doc: 'users and products kept in memory per look-up (0: no cache)',
    schema: integer('dimensions.cache_entries', 0),
  },
  {
    path: 'dimensions.cache_ttl',
    flag: 'lookup-cache-ttl',
    arg: 'duration',
    default: '5m',
    doc: 'how long a looked-up row is used before it is read again',
    schema: duration('dimensions.cache_ttl'),
  },
  {
    path: 'attribution.model',
    flag: 'model',
    arg: 'model',
    default: DEFAULT_ATTRIBUTION_OPTIONS.model,
    choices: ATTRIBUTION_MODELS,
    doc: 'attribution model',
    schema: oneOf('attribution.model', ATTRIBUTION_MODELS),
  },
  {
    path: 'attribution.scope',
    flag: 'scope',
    arg: 'scope',
    default: DEFAULT_ATTRIBUTION_OPTIONS.scope,
    choices: ['product', 'user'],
    doc: 'which clicks can match: same user and product, or any of the user',
    schema: oneOf('attribution.scope', ['product', 'user']),
  },
  {
    path: 'attribution.lookback',
    flag: 'lookback',
    arg: 'duration',
    default: formatDurationMs(DEFAULT_ATTRIBUTION_OPTIONS.lookbackMs),
    doc: 'how far before a checkout a click may be',
    schema: lookback('attribution.lookback'),
  },
  {
    path: 'attribution.lookback_by_source',
    flag: 'lookback-by-source',
    arg: 'pairs',
    default: {},
    doc: "sources with their own lookback (a flag or variable: email=30d,direct=1d); a click counts only within its source's; every lookback is at most 90d",
    schema: lookbackMap('attribution.lookback_by_source'),
  },
  {
    path: 'attribution.max_out_of_orderness',
    flag: 'max-out-of-orderness',
    arg: 'duration',
    default: formatDurationMs(DEFAULT_ATTRIBUTION_OPTIONS.maxOutOfOrdernessMs),
    doc: 'the bound of disorder of the watermark',
    schema: duration('attribution.max_out_of_orderness'),
  },
  {
    path: 'attribution.max_future_skew',
    flag: 'max-future-skew',
    arg: 'duration',
    default: formatDurationMs(DEFAULT_ATTRIBUTION_OPTIONS.maxFutureSkewMs),
    doc: 'events dated further ahead of the clock than this are dead letters (future_event_time) and never move the watermark',
    schema: duration('attribution.max_future_skew', { positive: true }),
  },
  {
    path: 'attribution.half_life',
    flag: 'half-life',
    arg: 'duration',
    default: formatDurationMs(DEFAULT_ATTRIBUTION_OPTIONS.halfLifeMs),
    doc: 'time_decay: credit halves every half-life before the checkout',
    schema: duration('attribution.half_life', { positive: true }),
  },
  {
    path: 'attribution.excluded_sources',
    flag: 'excluded-sources',
    arg: 'list',
    default: [],
    doc: 'sources never credited (e.g. direct); a flag or variable is comma-separated',
    schema: list('attribution.excluded_sources'),
  },
  {
    path: 'output.tutorial_table',
    flag: 'tutorial-table',
    arg: 'schema.table',
    default: null,
    nullable: true,
    doc: "also write the tutorial's attributed_checkouts (its exact columns, e.g. commerce.attributed_checkouts, created by the shop's schema file) in the same checkpoints",
    schema: tableName('output.tutorial_table'),
  },
  {
    path: 'output.insights_table',
    flag: 'insights-table',
    arg: 'schema.table',
    default: null,
    nullable: true,
    doc: "also write the insights variant's checkout_attribution (its exact columns, e.g. shop.checkout_attribution) in the same checkpoints",
    schema: tableName('output.insights_table'),
  },
  {
    path: 'checkpoint.interval',
    flag: 'checkpoint-interval',
    arg: 'duration',
    default: formatDurationMs(DEFAULT_CHECKPOINT_INTERVAL_MS),
    doc: 'the least time between two checkpoints (one database transaction each): the next is committed as soon as the previous one is durable and this has passed, when anything changed (an idle job commits only a heartbeat every 2 s)',
    schema: duration('checkpoint.interval'),
  },
  {
    path: 'state.memory_budget',
    flag: 'state-memory-budget',
    arg: 'size',
    default: '1GiB',
    doc: "memory the attribution's time-bucketed state (clicks, pending checkouts) may hold; past it, the oldest sealed buckets move to files in state.local_dir, read by key when a checkout needs them",
    schema: byteSize('state.memory_budget'),
  },
  {
    path: 'state.local_dir',
    flag: 'state-local-dir',
    arg: 'dir',
    default: null,
    nullable: true,
    doc: "where state beyond the memory budget is kept on local disk: a cache of the checkpoint's state chunks, rebuilt from them at every start",
    schema: text('state.local_dir', 'a directory').nullable(),
  },
  {
    path: 'server.host',
    flag: 'host',
    arg: 'host',
    default: '127.0.0.1',
    doc: 'the address the dashboard, /metrics and /health listen on',
    schema: text('server.host', 'a host name or address'),
  },
  {
    path: 'server.port',
    flag: 'port',
    arg: 'port',
    default: 3000,
    doc: 'the HTTP port of the dashboard, /metrics and /health (0: any free port)',
    schema: integer('server.port', 0, 65_535, 'a port number from 0 to 65535 (0: any free port)'),
  },
];

/** The key of each path. */
export const CONFIG_KEY_BY_PATH: ReadonlyMap<string, ConfigKey> = new Map(CONFIG_KEYS.map((k) => [k.path, k]));

/**
 * The default of a key as this schema declares it, as text (`attribution.lookback` → `1h`): the
 * one statement of a default, which replay's flags and the job kit read too.
 */
export function declaredDefault(path: string): string {
  const key = CONFIG_KEY_BY_PATH.get(path);
  if (key === undefined || key.default === null || typeof key.default === 'object') {
    throw new Error(`no declared scalar default for configuration key ${path}`);
  }
  return String(key.default);
}

/** The default of a key parsed as its value is (`checkpoint.interval` → 20). */
export function parsedDefault<T>(path: string): T {
  const key = CONFIG_KEY_BY_PATH.get(path) as ConfigKey;
  return key.schema.parse(declaredDefault(path)) as T;
}

/** The environment variable of a key: `attribution.lookback` → `FLOWMARK_ATTRIBUTION_LOOKBACK`. */
export function envName(path: string): string {
  return `FLOWMARK_${path.toUpperCase().replaceAll('.', '_')}`;
}

/** The variable that names the configuration file, like `--config`. */
export const CONFIG_FILE_ENV = 'FLOWMARK_CONFIG';

/** The property of a flag in commander's options: `max-out-of-orderness` → `maxOutOfOrderness`. */
export function flagAttribute(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The default as it is shown in --help and the docs (`1h`, `[]`, `unset`). */
export function defaultText(key: ConfigKey): string {
  if (key.defaultFrom !== undefined) return key.defaultFrom;
  if (key.default === null && key.path === 'database.url') return 'unset: PGlite in the data dir';
  if (key.default === null && key.path === 'kafka.bootstrap') return 'unset: the log in the data dir';
  if (key.default === null && key.path === 'state.local_dir') return 'unset: state/ in the data dir';
  if (key.default === null) return 'null';
  if (Array.isArray(key.default)) return key.default.length === 0 ? 'none' : key.default.join(',');
  if (typeof key.default === 'object') {
    const pairs = Object.entries(key.default).map(([k, v]) => `${k}=${v}`);
    return pairs.length === 0 ? 'none' : pairs.join(',');
  }
  return String(key.default);
}

/**
 * The keys' flags as commander gives them to an action: only the flags that were given are
 * present (the flags have no commander defaults, so that a given flag can be told from a default).
 */
export interface ConfigFlags {
  config?: string;
  dataDir?: string;
  logRetention?: string;
  databaseUrl?: string;
  databaseSchema?: string;
  databasePoolSize?: string;
  kafka?: string;
  group?: string;
  partitions?: string;
  usersSchema?: string;
  usersTable?: string;
  usersKeyColumn?: string;
  productsSchema?: string;
  productsTable?: string;
  productsKeyColumn?: string;
  lookupCacheEntries?: string;
  lookupCacheTtl?: string;
  model?: string;
  scope?: string;
  lookback?: string;
  lookbackBySource?: string;
  maxOutOfOrderness?: string;
  maxFutureSkew?: string;
  halfLife?: string;
  excludedSources?: string;
  tutorialTable?: string;
  insightsTable?: string;
  checkpointInterval?: string;
  stateMemoryBudget?: string;
  stateLocalDir?: string;
  host?: string;
  port?: string;
}
