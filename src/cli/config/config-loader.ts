/**
 * Resolves flowmark's configuration from, by precedence: the command-line flags, then the
 * `FLOWMARK_*` environment variables, then the `--config` file, then the defaults. Everything is
 * checked before a command opens or writes anything; every problem is reported at once, one line
 * each, naming the key, where its value came from and what is accepted. The password of a
 * database URL is never part of a message.
 *
 * No file is read unless `--config` (or `FLOWMARK_CONFIG`) names one, and only the variables of
 * known keys are read: the others (`FLOWMARK_TEST_PG_URL`, …) are ignored.
 */

import { readFileSync } from 'node:fs';
import { isAlias, isMap, isScalar, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml';
import type { AttributionModel } from '../../attribution/attribution-options.ts';
import { DEFAULT_SCHEMA } from '../../attribution/output-schema.ts';
import type { ReferenceTableLocation, ReferenceTables } from '../../attribution/reference-tables.ts';
import type { ProductsTableSpec, UsersTableSpec } from '../../connectors/sql/index.ts';
import { type ErrorCode, FlowmarkError } from '../../engine/index.ts';
import { cliSecrets, SecretSet, scrubSecrets } from '../secret-scrubbing.ts';
import {
  CONFIG_FILE_ENV,
  CONFIG_KEY_BY_PATH,
  CONFIG_KEYS,
  type ConfigFlags,
  type ConfigKey,
  envName,
  flagAttribute,
} from './config-schema.ts';

/** A dimension table with every field filled in (what the look-ups get). */
export type ResolvedTableSpec<S, F extends string> = S & {
  schema: string;
  table: string;
  keyColumn: string;
  columns: Record<F, string | null>;
};

export interface DatabaseConfig {
  /** The URL with its password: give it to the driver only, never print it. */
  url: string;
  /** The URL with every password (`user:…@`, `password=`, `sslpassword=`) replaced by `***`, for messages. */
  displayUrl: string;
  /** The schema of flowmark's own tables. */
  schema: string;
  poolSize: number;
}

export interface KafkaConfig {
  /** The bootstrap brokers, `host:port` each. */
  bootstrap: string[];
  /** The consumer group of the workers. */
  group: string;
  /** Partitions of the topics flowmark creates when they are missing. */
  partitions: number;
  topics: { clicks: string; checkouts: string };
}

/** The resolved configuration: camelCase, durations in ms. */
export interface FlowmarkConfig {
  dataDir: string;
  /** The embedded log: `consumed` deletes segments every consumer has processed; `keep` keeps all. */
  log: { retention: 'consumed' | 'keep' };
  /** A PostgreSQL server; absent: PGlite in the data dir. */
  database?: DatabaseConfig;
  /** Apache Kafka instead of the log in the data dir; absent: the log. */
  kafka?: KafkaConfig;
  dimensions: {
    users: ResolvedTableSpec<UsersTableSpec, 'name' | 'gender'>;
    products: ResolvedTableSpec<ProductsTableSpec, 'name' | 'category' | 'price' | 'commissionRate'>;
    cacheEntries: number;
    cacheTtlMs: number;
  };
  attribution: {
    model: AttributionModel;
    scope: 'product' | 'user';
    lookbackMs: number;
    /** Source → its own lookback in ms (lower-cased sources); empty: `lookbackMs` for all. */
    lookbackBySource: Record<string, number>;
    maxOutOfOrdernessMs: number;
    maxFutureSkewMs: number;
    halfLifeMs: number;
    excludedSources: string[];
  };
  /** The reference deployments' tables also written (drop-in); a kind absent: not written. */
  output: ReferenceTables;
  checkpoint: { intervalMs: number };
  /** The time-bucketed state's memory budget, and its directory on disk (null: `state/` in the data dir). */
  state: { memoryBudgetBytes: number; localDir: string | null };
  server: { host: string; port: number };
}

export interface ConfigInput {
  /** The options of a command (only the flags given are present); `config` names the file. */
  flags?: ConfigFlags;
  /** The environment (`process.env` for the CLI); nothing by default, so that tests are hermetic. */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface LoadedConfig {
  config: FlowmarkConfig;
  /** Where each key's value came from: `default`, `flowmark.yaml:7`, `FLOWMARK_…` or `--lookback`. */
  origins: ReadonlyMap<string, string>;
  /** The configuration file that was read, if any. */
  file?: string;
}

interface Problem {
  code: Extract<ErrorCode, 'FM_CONFIG_INVALID' | 'FM_CONFIG_UNKNOWN_KEY'>;
  message: string;
}

/** The paths that hold other keys (`database`, `dimensions.users.columns`, …). */
const BRANCHES: ReadonlySet<string> = new Set(
  CONFIG_KEYS.flatMap((k) => {
    const parts = k.path.split('.');
    return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('.'));
  }),
);

/** The names directly under a branch ('' for the top level). */
function childrenOf(branch: string): string[] {
  const prefix = branch === '' ? '' : `${branch}.`;
  const names = [...CONFIG_KEY_BY_PATH.keys(), ...BRANCHES]
    .filter((p) => p.startsWith(prefix))
    .map((p) => p.slice(prefix.length).split('.')[0] as string);
  return [...new Set(names)];
}

/**
 * Reads and checks the configuration: flags > environment > file > defaults.
 * Throws FM_CONFIG_UNKNOWN_KEY (every problem is an unknown key) or FM_CONFIG_INVALID, listing
 * every problem, one per line.
 *
 * @example
 * loadConfig({ flags: { lookback: '30m' }, env: { FLOWMARK_ATTRIBUTION_MODEL: 'linear' } }).config.attribution
 * // { model: 'linear', scope: 'product', lookbackMs: 1800000, … }
 */
export function loadConfig(input: ConfigInput = {}): LoadedConfig {
  const flags = (input.flags ?? {}) as Readonly<Record<string, unknown>>;
  const env = input.env ?? {};
  const problems: Problem[] = [];
  // The passwords anywhere in the configuration (file, variables, flags), so that no message
  // repeats one: the YAML library quotes pieces of a broken file, and a URL that does not parse
  // cannot be redacted by its structure. The CLI's later messages are scrubbed of them too.
  const secrets = new SecretSet();
  const remember = (text: string) => {
    secrets.rememberFrom(text);
    cliSecrets.rememberFrom(text);
  };
  const values = new Map<string, unknown>();
  const origins = new Map<string, string>();

  const accept = (key: ConfigKey, raw: unknown, origin: string, where: string, shown: string) => {
    const r = key.schema.safeParse(raw);
    if (r.success) {
      values.set(key.path, r.data);
      origins.set(key.path, origin);
    } else {
      const why = r.error.issues[0]?.message ?? `${key.path} is not valid`;
      problems.push({ code: 'FM_CONFIG_INVALID', message: `${where}: ${why}${key.secret ? '' : shown}` });
    }
  };

  // Lowest precedence first: a later source overwrites an earlier one. Every source is checked,
  // even where a higher one overrides it, so that a broken file is never left unnoticed.
  const fromFlag = flags.config;
  const fromEnv = env[CONFIG_FILE_ENV];
  const file = typeof fromFlag === 'string' ? fromFlag : fromEnv === '' ? undefined : fromEnv;
  if (file !== undefined) {
    const label = typeof fromFlag === 'string' ? `--config ${file}` : `${CONFIG_FILE_ENV}=${file}`;
    const text = readConfigFile(file, label, problems);
    if (text !== undefined) {
      remember(text);
      readFile(file, text, problems, (key, raw, line) =>
        accept(key, raw, `${file}:${line}`, `${file}:${line}`, `, got ${show(raw)}`),
      );
    }
  }
  for (const key of CONFIG_KEYS) {
    const name = envName(key.path);
    const text = env[name];
    if (text === undefined || text === '') continue;
    remember(text);
    const raw = key.nullable && (text === 'null' || text === '~') ? null : text;
    accept(key, raw, name, key.secret ? name : `${name}=${JSON.stringify(text)}`, '');
  }
  for (const key of CONFIG_KEYS) {
    if (key.flag === undefined) continue;
    const raw = flags[flagAttribute(key.flag)];
    if (raw === undefined) continue;
    if (typeof raw === 'string') remember(raw);
    const flag = `--${key.flag}`;
    accept(key, raw, flag, key.secret ? flag : `${flag}=${JSON.stringify(raw)}`, '');
  }

  if (problems.length > 0) {
    const lines = problems.map((p) => secrets.scrub(p.message));
    const message =
      lines.length === 1
        ? (lines[0] as string)
        : `${lines.length} problems in the configuration:\n  ${lines.join('\n  ')}`;
    const code = problems.every((p) => p.code === 'FM_CONFIG_UNKNOWN_KEY')
      ? 'FM_CONFIG_UNKNOWN_KEY'
      : 'FM_CONFIG_INVALID';
    throw new FlowmarkError(code, message);
  }

  for (const key of CONFIG_KEYS) {
    if (values.has(key.path) || key.defaultFrom !== undefined) continue;
    values.set(key.path, key.schema.parse(key.default));
    origins.set(key.path, 'default');
  }
  const server = values.get('database.url') as { url: string; displayUrl: string } | null;
  // Derived defaults: the dimension tables are flowmark's own unless configured.
  const ownSchema = server === null ? DEFAULT_SCHEMA : (values.get('database.schema') as string);
  for (const key of CONFIG_KEYS) {
    if (values.has(key.path) || key.defaultFrom === undefined) continue;
    values.set(key.path, ownSchema);
    origins.set(key.path, `default (the schema of flowmark's own tables)`);
  }
  return { config: build(values, server), origins, ...(file === undefined ? {} : { file }) };
}

/** The configured reference tables; an unset one is absent. */
function referenceTables(
  tutorial: ReferenceTableLocation | null,
  insights: ReferenceTableLocation | null,
): ReferenceTables {
  return { ...(tutorial === null ? {} : { tutorial }), ...(insights === null ? {} : { insights }) };
}

function build(values: ReadonlyMap<string, unknown>, server: { url: string; displayUrl: string } | null) {
  // Every value has been checked by its key's schema; this only gives the types back.
  const get = <T>(path: string) => values.get(path) as T;
  const table = (dim: 'users' | 'products') => ({
    schema: get<string>(`dimensions.${dim}.schema`),
    table: get<string>(`dimensions.${dim}.table`),
    keyColumn: get<string>(`dimensions.${dim}.key_column`),
  });
  const column = (dim: string, field: string) => get<string | null>(`dimensions.${dim}.columns.${field}`);
  const bootstrap = get<string[] | null>('kafka.bootstrap');
  const config: FlowmarkConfig = {
    dataDir: get('data_dir'),
    log: { retention: get<'consumed' | 'keep'>('log.retention') },
    ...(server === null
      ? {}
      : {
          database: {
            url: server.url,
            // Every form of password hidden (authority, ?password=, ?sslpassword=), the rest of
            // the URL exactly as written.
            displayUrl: scrubSecrets(server.url, []),
            schema: get<string>('database.schema'),
            poolSize: get<number>('database.pool_size'),
          },
        }),
    ...(bootstrap === null
      ? {}
      : {
          kafka: {
            bootstrap,
            group: get<string>('kafka.group'),
            partitions: get<number>('kafka.partitions'),
            topics: { clicks: get<string>('kafka.topics.clicks'), checkouts: get<string>('kafka.topics.checkouts') },
          },
        }),
    dimensions: {
      users: { ...table('users'), columns: { name: column('users', 'name'), gender: column('users', 'gender') } },
      products: {
        ...table('products'),
        columns: {
          name: column('products', 'name'),
          category: column('products', 'category'),
          price: column('products', 'price'),
          commissionRate: column('products', 'commission_rate'),
        },
      },
      cacheEntries: get('dimensions.cache_entries'),
      cacheTtlMs: get('dimensions.cache_ttl'),
    },
    attribution: {
      model: get('attribution.model'),
      scope: get('attribution.scope'),
      lookbackMs: get('attribution.lookback'),
      lookbackBySource: get('attribution.lookback_by_source'),
      maxOutOfOrdernessMs: get('attribution.max_out_of_orderness'),
      maxFutureSkewMs: get('attribution.max_future_skew'),
      halfLifeMs: get('attribution.half_life'),
      excludedSources: get('attribution.excluded_sources'),
    },
    output: referenceTables(get('output.tutorial_table'), get('output.insights_table')),
    checkpoint: { intervalMs: get('checkpoint.interval') },
    state: { memoryBudgetBytes: get('state.memory_budget'), localDir: get<string | null>('state.local_dir') },
    server: { host: get('server.host'), port: get('server.port') },
  };
  return config;
}

function readConfigFile(file: string, label: string, problems: Problem[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file (give the path of a flowmark.yaml; see flowmark.example.yaml)'
        : code === 'EISDIR'
          ? 'is a directory, not a flowmark.yaml'
          : `cannot be read (${code ?? (err as Error).message})`;
    problems.push({ code: 'FM_CONFIG_INVALID', message: `${label}: ${why}` });
    return undefined;
  }
}

/** Parses flowmark.yaml and hands each known key's value to `put`, with its line. */
function readFile(
  file: string,
  text: string,
  problems: Problem[],
  put: (key: ConfigKey, raw: unknown, line: number) => void,
): void {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (node: Node | null | undefined, fallback = 1) =>
    node?.range === undefined || node.range === null ? fallback : lines.linePos(node.range[0]).line;
  const invalid = (line: number, message: string) =>
    problems.push({ code: 'FM_CONFIG_INVALID', message: `${file}:${line}: ${message}` });
  if (doc.errors.length > 0) {
    // The library's own words, without its excerpt of the file (it could hold a password).
    for (const e of doc.errors) invalid(lines.linePos(e.pos[0]).line, `not valid YAML: ${e.message}`);
    return;
  }
  const resolve = (node: unknown): Node | null =>
    isAlias(node) ? (node.resolve(doc) ?? null) : ((node as Node | null | undefined) ?? null);

  const walk = (map: YAMLMap, branch: string) => {
    for (const pair of map.items) {
      const keyNode = pair.key as Node | null;
      const name = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      const path = branch === '' ? name : `${branch}.${name}`;
      const value = resolve(pair.value);
      const keyLine = lineOf(keyNode, lineOf(value));
      const key = CONFIG_KEY_BY_PATH.get(path);
      if (key !== undefined) {
        put(key, value === null ? null : value.toJS(doc), lineOf(value, keyLine));
      } else if (BRANCHES.has(path)) {
        if (isMap(value)) walk(value, path);
        else if (!(value === null || (isScalar(value) && value.value === null)))
          invalid(
            lineOf(value, keyLine),
            `${path} must be a mapping of the keys ${childrenOf(path).join(', ')}, got ${show(value.toJS(doc))}`,
          );
      } else {
        problems.push({ code: 'FM_CONFIG_UNKNOWN_KEY', message: `${file}:${keyLine}: ${unknownKey(path)}` });
      }
    }
  };
  const top = resolve(doc.contents);
  if (top === null || (isScalar(top) && top.value === null)) return; // an empty file: all defaults
  if (!isMap(top)) {
    invalid(
      lineOf(top),
      `the file must be a mapping of keys (${childrenOf('').join(', ')}), got ${show(top.toJS(doc))}`,
    );
    return;
  }
  walk(top, '');
}

/** `unknown key "attribution.lookbak" (did you mean "attribution.lookback"?)` */
export function unknownKey(path: string): string {
  const suggestion = suggestKey(path);
  if (suggestion !== undefined) return `unknown key "${path}" (did you mean "${suggestion}"?)`;
  const parent = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
  const known = BRANCHES.has(parent) || parent === '' ? parent : '';
  const where = known === '' ? 'the top-level keys are' : `the keys of ${known} are`;
  return `unknown key "${path}" (${where} ${childrenOf(known).join(', ')}; see docs/configuration.md)`;
}

/** The closest known key by edit distance, or the one key elsewhere with (nearly) the same name. */
export function suggestKey(path: string): string | undefined {
  const wanted = path.toLowerCase().replaceAll('-', '_');
  const known = [...CONFIG_KEY_BY_PATH.keys(), ...BRANCHES];
  const lastOf = (p: string) => p.slice(p.lastIndexOf('.') + 1);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = editDistance(wanted, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  if (bestDistance <= Math.max(2, Math.floor(lastOf(wanted).length / 3))) return best;
  const name = lastOf(wanted);
  const same = known.filter((k) => editDistance(lastOf(k), name) <= (name.length > 4 ? 1 : 0));
  return same.length === 1 ? same[0] : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min(sub, (prev[j] as number) + 1, (cur[j - 1] as number) + 1));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** A value for a message: JSON, cut short. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
