/**
 * The configuration loader: precedence (flag > variable > file > default), the resolved shape,
 * and one message per problem that names the key and where its value came from.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configOptions } from '../../src/cli/cli-flags.ts';
import {
  CONFIG_KEYS,
  type ConfigFlags,
  describeConfig,
  envName,
  type FlowmarkConfig,
  flagAttribute,
  formatDurationMs,
  loadConfig,
} from '../../src/cli/config/index.ts';
import { type ErrorCode, FlowmarkError } from '../../src/engine/index.ts';

/** A temp dir with `flowmark.yaml` holding `yaml`; returns the file's path. */
function yamlFile(t: { after(fn: () => void): void }, yaml: string, name = 'flowmark.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

/** The error loadConfig throws, checked to be a FlowmarkError with `code`. */
function failure(input: Parameters<typeof loadConfig>[0], code: ErrorCode = 'FM_CONFIG_INVALID'): string {
  try {
    loadConfig(input);
  } catch (err) {
    assert.ok(err instanceof FlowmarkError, String(err));
    assert.equal(err.code, code, err.message);
    return err.message;
  }
  assert.fail('loadConfig did not throw');
}

const DEFAULTS: FlowmarkConfig = {
  dataDir: '.flowmark',
  log: { retention: 'consumed' },
  dimensions: {
    users: { schema: 'flowmark', table: 'users', keyColumn: 'user_id', columns: { name: 'name', gender: 'gender' } },
    products: {
      schema: 'flowmark',
      table: 'products',
      keyColumn: 'product_id',
      columns: { name: 'product_name', category: 'category', price: 'price', commissionRate: 'commission_rate' },
    },
    cacheEntries: 100_000,
    cacheTtlMs: 300_000,
  },
  attribution: {
    model: 'first_click',
    scope: 'product',
    lookbackMs: 3_600_000,
    lookbackBySource: {},
    maxOutOfOrdernessMs: 15_000,
    maxFutureSkewMs: 3_600_000,
    halfLifeMs: 900_000,
    excludedSources: [],
  },
  output: {},
  checkpoint: { intervalMs: 20 },
  state: { memoryBudgetBytes: 1024 ** 3, localDir: null },
  server: { host: '127.0.0.1', port: 3000 },
};

test('without file, variables or flags, every key has its default and no file is read', () => {
  const { config, origins, file } = loadConfig();
  assert.deepEqual(config, DEFAULTS);
  assert.equal(file, undefined);
  for (const key of CONFIG_KEYS) assert.match(origins.get(key.path) ?? '', /^default/, key.path);
});

test('precedence is default < file < variable < flag, for a duration, a string, a list and a nested key', (t) => {
  const file = yamlFile(
    t,
    [
      'attribution:',
      '  lookback: 30m',
      '  excluded_sources: [direct, email]',
      'dimensions:',
      '  users:',
      '    table: shop_users',
      '    key_column: id',
      '    columns:',
      '      gender: null',
      '  products:',
      '    columns: { category: kind }',
      '',
    ].join('\n'),
  );
  const key = (path: string) => path;
  // The file alone.
  let r = loadConfig({ flags: { config: file } });
  assert.equal(r.config.attribution.lookbackMs, 1_800_000);
  assert.deepEqual(r.config.attribution.excludedSources, ['direct', 'email']);
  assert.equal(r.config.dimensions.users.table, 'shop_users');
  assert.equal(r.config.dimensions.users.keyColumn, 'id');
  assert.equal(r.config.dimensions.users.columns.gender, null);
  assert.equal(r.config.dimensions.products.columns.category, 'kind');
  assert.equal(r.origins.get(key('attribution.lookback')), `${file}:2`);
  assert.equal(r.origins.get(key('dimensions.users.key_column')), `${file}:7`);
  assert.equal(r.origins.get(key('attribution.max_out_of_orderness')), 'default');
  assert.equal(r.file, file);

  // Variables over the file.
  const env = {
    FLOWMARK_ATTRIBUTION_LOOKBACK: '2h',
    FLOWMARK_ATTRIBUTION_EXCLUDED_SOURCES: 'direct',
    FLOWMARK_DIMENSIONS_USERS_TABLE: 'env_users',
    FLOWMARK_DIMENSIONS_USERS_KEY_COLUMN: 'uid',
    FLOWMARK_DIMENSIONS_USERS_COLUMNS_GENDER: 'sex',
    FLOWMARK_DIMENSIONS_PRODUCTS_COLUMNS_CATEGORY: 'null',
  };
  r = loadConfig({ flags: { config: file }, env });
  assert.equal(r.config.attribution.lookbackMs, 7_200_000);
  assert.deepEqual(r.config.attribution.excludedSources, ['direct']);
  assert.equal(r.config.dimensions.users.table, 'env_users');
  assert.equal(r.config.dimensions.users.keyColumn, 'uid');
  assert.equal(r.config.dimensions.users.columns.gender, 'sex');
  assert.equal(r.config.dimensions.products.columns.category, null);
  assert.equal(r.origins.get('attribution.lookback'), 'FLOWMARK_ATTRIBUTION_LOOKBACK');

  // Flags over the variables.
  const flags: ConfigFlags = {
    config: file,
    lookback: '45s',
    excludedSources: 'email, paid ,',
    usersTable: 'flag_users',
    usersKeyColumn: 'user_key',
  };
  r = loadConfig({ flags, env });
  assert.equal(r.config.attribution.lookbackMs, 45_000);
  assert.deepEqual(r.config.attribution.excludedSources, ['email', 'paid']);
  assert.equal(r.config.dimensions.users.table, 'flag_users');
  assert.equal(r.config.dimensions.users.keyColumn, 'user_key');
  assert.equal(r.origins.get('attribution.lookback'), '--lookback');
  assert.equal(r.origins.get('dimensions.users.table'), '--users-table');
  // What nobody set keeps its default.
  assert.equal(r.config.server.port, 3000);
  assert.equal(r.config.checkpoint.intervalMs, 20);
});

test('every key has a variable, and those with a flag a flag; both resolve to the same value', () => {
  const samples: Record<string, [string, unknown]> = {
    data_dir: ['/tmp/x', '/tmp/x'],
    'database.schema': ['fm', 'fm'],
    'database.pool_size': ['9', 9],
    'dimensions.cache_entries': ['0', 0],
    'dimensions.cache_ttl': ['90s', 90_000],
    'attribution.model': ['linear', 'linear'],
    'attribution.scope': ['user', 'user'],
    'attribution.half_life': ['1m', 60_000],
    'checkpoint.interval': ['250ms', 250],
    'server.host': ['0.0.0.0', '0.0.0.0'],
    'server.port': ['0', 0],
  };
  const pick = (c: FlowmarkConfig, path: string): unknown =>
    ({
      data_dir: c.dataDir,
      'database.schema': c.database?.schema,
      'database.pool_size': c.database?.poolSize,
      'dimensions.cache_entries': c.dimensions.cacheEntries,
      'dimensions.cache_ttl': c.dimensions.cacheTtlMs,
      'attribution.model': c.attribution.model,
      'attribution.scope': c.attribution.scope,
      'attribution.half_life': c.attribution.halfLifeMs,
      'checkpoint.interval': c.checkpoint.intervalMs,
      'server.host': c.server.host,
      'server.port': c.server.port,
    })[path];
  const url = 'postgres://flowmark@127.0.0.1:5432/shop';
  for (const [path, [text, expected]] of Object.entries(samples)) {
    const key = CONFIG_KEYS.find((k) => k.path === path);
    assert.ok(key?.flag, path);
    const viaEnv = loadConfig({ env: { [envName(path)]: text, FLOWMARK_DATABASE_URL: url } }).config;
    const viaFlag = loadConfig({ flags: { [flagAttribute(key.flag)]: text, databaseUrl: url } }).config;
    assert.equal(pick(viaEnv, path), expected, `${envName(path)}=${text}`);
    assert.equal(pick(viaFlag, path), expected, `--${key.flag} ${text}`);
  }
});

test('unknown FLOWMARK_* variables are ignored; FLOWMARK_DATABASE_URL is read; an empty variable is unset', () => {
  const env = {
    FLOWMARK_TEST_PG_URL: 'postgres://x@127.0.0.1/test',
    FLOWMARK_SERVICES_DIR: '/tmp/services',
    FLOWMARK_PROPERTY_RUNS: '1000',
    FLOWMARK_NO_SUCH_KEY: 'whatever',
    FLOWMARK_DATA_DIR: '',
    FLOWMARK_DATABASE_URL: 'postgres://shop:s3cret@db.example:5432/shop',
  };
  const { config, origins } = loadConfig({ env });
  assert.deepEqual(config.database, {
    url: 'postgres://shop:s3cret@db.example:5432/shop',
    displayUrl: 'postgres://shop:***@db.example:5432/shop',
    schema: 'flowmark',
    poolSize: 4,
  });
  assert.equal(origins.get('database.url'), 'FLOWMARK_DATABASE_URL');
  assert.equal(config.dataDir, '.flowmark');
  // With a server, the dimension tables default to its schema of flowmark's tables.
  const other = loadConfig({ env: { ...env, FLOWMARK_DATABASE_SCHEMA: 'fm2' } }).config;
  assert.equal(other.dimensions.users.schema, 'fm2');
  assert.equal(other.dimensions.products.schema, 'fm2');
});

test('FLOWMARK_CONFIG names the file like --config; --config wins', (t) => {
  const a = yamlFile(t, 'server: { port: 4001 }\n', 'a.yaml');
  const b = yamlFile(t, 'server: { port: 4002 }\n', 'b.yaml');
  assert.equal(loadConfig({ env: { FLOWMARK_CONFIG: a } }).config.server.port, 4001);
  assert.equal(loadConfig({ flags: { config: b }, env: { FLOWMARK_CONFIG: a } }).config.server.port, 4002);
});

test('an empty file, comments only, and empty sections are all defaults', (t) => {
  for (const yaml of ['', '# nothing yet\n', 'attribution:\ndimensions:\n  users:\n']) {
    assert.deepEqual(loadConfig({ flags: { config: yamlFile(t, yaml) } }).config, DEFAULTS, JSON.stringify(yaml));
  }
});

test('an unknown key in the file: its line, the full key, and the closest known key', (t) => {
  const file = yamlFile(t, 'data_dir: d\nattribution:\n  model: linear\n  lookbak: 1h\n');
  assert.equal(
    failure({ flags: { config: file } }, 'FM_CONFIG_UNKNOWN_KEY'),
    `${file}:4: unknown key "attribution.lookbak" (did you mean "attribution.lookback"?)`,
  );
  // A key in the wrong section is found by its name; kebab-case and camelCase by distance.
  const moved = yamlFile(t, 'lookback: 1h\n');
  assert.match(failure({ flags: { config: moved } }, 'FM_CONFIG_UNKNOWN_KEY'), /did you mean "attribution\.lookback"/);
  const kebab = yamlFile(t, 'database:\n  pool-size: 3\n');
  assert.match(
    failure({ flags: { config: kebab } }, 'FM_CONFIG_UNKNOWN_KEY'),
    /:2: .*did you mean "database\.pool_size"/,
  );
  // Nothing close: the known keys of that section are listed.
  const far = yamlFile(t, 'server:\n  tls_certificate: x.pem\n');
  assert.equal(
    failure({ flags: { config: far } }, 'FM_CONFIG_UNKNOWN_KEY'),
    `${far}:2: unknown key "server.tls_certificate" (the keys of server are host, port; see docs/configuration.md)`,
  );
});

test('unknown keys nested under dimensions are found at any depth', (t) => {
  const file = yamlFile(
    t,
    ['dimensions:', '  users:', '    colums:', '      name: username', '  product:', '    table: items', ''].join('\n'),
  );
  const message = failure({ flags: { config: file } }, 'FM_CONFIG_UNKNOWN_KEY');
  assert.equal(
    message,
    [
      '2 problems in the configuration:',
      `  ${file}:3: unknown key "dimensions.users.colums" (did you mean "dimensions.users.columns"?)`,
      `  ${file}:5: unknown key "dimensions.product" (did you mean "dimensions.products"?)`,
    ].join('\n'),
  );
  const column = yamlFile(t, 'dimensions:\n  products:\n    columns:\n      commision_rate: rate\n');
  assert.match(
    failure({ flags: { config: column } }, 'FM_CONFIG_UNKNOWN_KEY'),
    /:4: unknown key "dimensions\.products\.columns\.commision_rate" \(did you mean "dimensions\.products\.columns\.commission_rate"\?\)/,
  );
});

test('a value of the wrong type names the key, the line and the value', (t) => {
  const cases: Array<[string, RegExp]> = [
    [
      'server:\n  port: abc\n',
      /:2: server\.port must be a port number from 0 to 65535 \(0: any free port\), got "abc"$/,
    ],
    ['server:\n  port: 70000\n', /:2: server\.port must be a port number .*, got 70000$/],
    ['database:\n  pool_size: [1]\n', /:2: database\.pool_size must be an integer ≥ 1, got \[1\]$/],
    ['database:\n  pool_size: 2.5\n', /:2: database\.pool_size must be an integer ≥ 1, got 2\.5$/],
    [
      'attribution: first_click\n',
      /:1: attribution must be a mapping of the keys model, scope, .*, got "first_click"$/,
    ],
    ['attribution:\n  model: u_shaped\n', /:2: attribution\.model must be one of first_click, last_click, linear, /],
    ['attribution:\n  excluded_sources: [1, 2]\n', /:2: attribution\.excluded_sources must be a list of names/],
    ['dimensions:\n  users:\n    table: ""\n', /:3: dimensions\.users\.table must not be empty, got ""$/],
    ['dimensions:\n  users:\n    table: 42\n', /:3: dimensions\.users\.table must be a name \(a string\), got 42$/],
    ['- data_dir\n', /:1: the file must be a mapping of keys \(data_dir, log, database, kafka, dimensions, /],
  ];
  for (const [yaml, expected] of cases) {
    const file = yamlFile(t, yaml);
    const message = failure({ flags: { config: file } });
    assert.ok(message.startsWith(file), message);
    assert.match(message, expected, yaml);
  }
});

test('a bad duration, from the file, a variable or a flag, names its source and the accepted forms', (t) => {
  const file = yamlFile(t, 'attribution:\n  lookback: abc\n');
  assert.equal(
    failure({ flags: { config: file } }),
    `${file}:2: attribution.lookback must be a duration such as 250ms, 15s, 30m, 1h or 7d, got "abc"`,
  );
  assert.equal(
    failure({ env: { FLOWMARK_ATTRIBUTION_LOOKBACK: 'abc' } }),
    'FLOWMARK_ATTRIBUTION_LOOKBACK="abc": attribution.lookback must be a duration such as 250ms, 15s, 30m, 1h or 7d',
  );
  assert.equal(
    failure({ flags: { checkpointInterval: '-1s' } }),
    '--checkpoint-interval="-1s": checkpoint.interval must be a duration such as 250ms, 15s, 30m, 1h or 7d',
  );
  assert.match(failure({ flags: { halfLife: '0' } }), /attribution\.half_life must be a duration > 0/);
});

test('a bad database URL: a wrong scheme, a URL that does not parse, no host', (t) => {
  assert.equal(
    failure({ flags: { databaseUrl: 'mysql://db/shop' } }),
    '--database-url: database.url must start with postgres:// or postgresql:// (got mysql://…)',
  );
  assert.equal(
    failure({ env: { FLOWMARK_DATABASE_URL: 'not a url' } }),
    'FLOWMARK_DATABASE_URL: database.url is not a URL (expected postgres://user:password@host:5432/database)',
  );
  const file = yamlFile(t, 'database:\n  url: postgresql:///shop\n');
  assert.match(failure({ flags: { config: file } }), /:2: database\.url names no host/);
  // null in the file: no server (PGlite).
  assert.equal(loadConfig({ flags: { config: yamlFile(t, 'database:\n  url: null\n') } }).config.database, undefined);
});

test('a YAML syntax error: the file, the line and the YAML library’s message', (t) => {
  const file = yamlFile(t, 'attribution:\n  model: linear\n  lookback: [1h\nserver:\n  port: 1\n');
  assert.match(failure({ flags: { config: file } }), new RegExp(`^${file}:\\d+: not valid YAML: .*\\]`));
  const dup = yamlFile(t, 'server:\n  port: 1\n  port: 2\n');
  assert.equal(failure({ flags: { config: dup } }), `${dup}:3: not valid YAML: Map keys must be unique`);
});

test('a missing or unreadable --config file is an error naming its path', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, 'nope.yaml');
  assert.match(failure({ flags: { config: missing } }), new RegExp(`^--config ${missing}: no such file`));
  assert.match(failure({ env: { FLOWMARK_CONFIG: missing } }), new RegExp(`^FLOWMARK_CONFIG=${missing}: no such file`));
  assert.match(failure({ flags: { config: dir } }), /is a directory/);
});

test('every problem is reported at once, one line each, file first, then variables, then flags', (t) => {
  const file = yamlFile(t, 'attribution:\n  lookbak: 1h\n  scope: nobody\n');
  const message = failure({ flags: { config: file, port: 'http' }, env: { FLOWMARK_DIMENSIONS_CACHE_TTL: 'soon' } });
  const lines = message.split('\n');
  assert.equal(lines[0], '4 problems in the configuration:');
  assert.match(lines[1] ?? '', /:2: unknown key "attribution\.lookbak"/);
  assert.match(lines[2] ?? '', /:3: attribution\.scope must be one of product, user, got "nobody"/);
  assert.match(lines[3] ?? '', /^ {2}FLOWMARK_DIMENSIONS_CACHE_TTL="soon": dimensions\.cache_ttl must be a duration/);
  assert.match(lines[4] ?? '', /^ {2}--port="http": server\.port must be a port number/);
});

test('the database password never appears in an error, whatever the path that reports it', (t) => {
  const secret = 'Hunter2-xyzzy';
  const inFile = (yaml: string) => ({ flags: { config: yamlFile(t, yaml) } });
  const cases: Array<[string, Parameters<typeof loadConfig>[0]]> = [
    ['bad port in the file', inFile(`database:\n  url: postgres://shop:${secret}@db:99999/shop\n`)],
    ['bad scheme in the file', inFile(`database:\n  url: mysql://shop:${secret}@db/shop\n`)],
    ['no host in the file', inFile(`database:\n  url: postgres://shop:${secret}@/shop\n`)],
    ['not a string', inFile(`database:\n  url: [postgres://shop:${secret}@db/shop]\n`)],
    ['a YAML error on its line', inFile(`database:\n  url: postgres://shop:${secret}@db/shop: x\n`)],
    ['a YAML error quoting it', inFile(`- a\nurl: postgres://shop:${secret}@db/shop\n`)],
    ['an unclosed quote', inFile(`database:\n  url: "postgres://shop:${secret}@db/shop\n`)],
    ['another error in the same file', inFile(`database:\n  url: postgres://shop:${secret}@db/shop\nserver: x\n`)],
    ['under an unknown key', inFile(`database:\n  uri: postgres://shop:${secret}@db/shop\n`)],
    ['given to another key', inFile(`data_dir: [postgres://shop:${secret}@db/shop]\n`)],
    ['as a section', inFile(`database: postgres://shop:${secret}@db/shop\n`)],
    ['a password with @ and :', inFile(`database:\n  url: postgres://shop:${secret}@:x@db:99999/shop\n`)],
    ['percent-encoded', inFile(`database:\n  url: postgres://shop:${secret}%40x@db:bad/shop\n`)],
    ['variable, bad port', { env: { FLOWMARK_DATABASE_URL: `postgres://shop:${secret}@db:99999/shop` } }],
    ['variable, bad scheme', { env: { FLOWMARK_DATABASE_URL: `http://shop:${secret}@db/shop` } }],
    ['variable in another key', { env: { FLOWMARK_SERVER_PORT: `postgres://shop:${secret}@db/shop` } }],
    ['flag, bad port', { flags: { databaseUrl: `postgres://shop:${secret}@db:99999/shop` } }],
    ['flag, no host', { flags: { databaseUrl: `postgresql://shop:${secret}@/shop` } }],
    ['flag in another key', { flags: { port: `postgres://shop:${secret}@db/shop` } }],
  ];
  for (const [what, input] of cases) {
    let message: string | undefined;
    try {
      loadConfig(input);
    } catch (err) {
      assert.ok(err instanceof FlowmarkError, `${what}: ${String(err)}`);
      message = `${err.message} ${String(err.cause ?? '')}`;
    }
    assert.ok(message !== undefined, `${what}: no error`);
    assert.ok(!message.includes(secret), `${what}: the message shows the password: ${message}`);
    assert.ok(!message.includes('xyzzy'), `${what}: the message shows part of the password: ${message}`);
  }
  // And the printed configuration shows the URL without it.
  const { config, origins } = loadConfig({ flags: { databaseUrl: `postgres://shop:${secret}@db/shop` } });
  const printed = describeConfig(config, origins).join('\n');
  assert.ok(printed.includes('postgres://shop:***@db/shop'), printed);
  assert.ok(!printed.includes(secret), printed);
});

test('describeConfig prints a flowmark.yaml that loads back to the same configuration', (t) => {
  const flags: ConfigFlags = {
    dataDir: '/var/lib/flowmark',
    databaseUrl: 'postgres://flowmark@db:5432/shop',
    lookback: '90m',
    excludedSources: 'direct,email',
    checkpointInterval: '1500',
    port: '0',
  };
  const env = { FLOWMARK_DIMENSIONS_USERS_COLUMNS_GENDER: 'null', FLOWMARK_DIMENSIONS_USERS_TABLE: 'customers' };
  const { config, origins } = loadConfig({ flags, env });
  const lines = describeConfig(config, origins);
  assert.ok(lines.includes('attribution:'));
  assert.match(lines.find((l) => l.includes('lookback:')) ?? '', /^ {2}lookback: 90m +# --lookback$/);
  assert.match(
    lines.find((l) => l.includes('gender:')) ?? '',
    /gender: null +# FLOWMARK_DIMENSIONS_USERS_COLUMNS_GENDER/,
  );
  assert.match(lines.find((l) => l.includes('half_life:')) ?? '', /half_life: 15m +# default$/);
  const file = yamlFile(t, `${lines.join('\n')}\n`);
  assert.deepEqual(loadConfig({ flags: { config: file } }).config, config);
  // Without a server the URL line says where the data goes.
  assert.match(describeConfig(loadConfig().config).join('\n'), /url: null/);
  assert.deepEqual([1, 250, 1000, 90_000, 3_600_000, 86_400_000, 0].map(formatDurationMs), [
    '1ms',
    '250ms',
    '1s',
    '90s',
    '1h',
    '1d',
    '0ms',
  ]);
});

test('the flags of the keys: commander names them as the loader reads them, and sets no default', () => {
  const options = configOptions();
  const flagged = CONFIG_KEYS.filter((k) => k.flag !== undefined);
  assert.equal(options.length, flagged.length + 1);
  for (const key of flagged) {
    const o = options.find((x) => x.long === `--${key.flag}`);
    assert.ok(o, key.path);
    assert.equal(o.attributeName(), flagAttribute(key.flag as string));
    assert.equal(o.defaultValue, undefined, `--${key.flag} must not have a commander default`);
    assert.match(o.description, /\(default: [^)]+\)$/);
    assert.equal(o.envVar, undefined, `--${key.flag}: the loader reads the variables, not commander`);
  }
  // One variable per key, none of them clashing with the variables CI sets.
  const names = CONFIG_KEYS.map((k) => envName(k.path));
  assert.equal(new Set(names).size, names.length);
  for (const taken of ['FLOWMARK_TEST_PG_URL', 'FLOWMARK_SERVICES_DIR', 'FLOWMARK_PROPERTY_RUNS'])
    assert.ok(!names.includes(taken), taken);
});

test('flowmark.example.yaml holds every key at its default; docs/configuration.md lists every key', () => {
  const example = fileURLToPath(new URL('../../flowmark.example.yaml', import.meta.url));
  const { config, origins } = loadConfig({ flags: { config: example } });
  assert.deepEqual(config, DEFAULTS);
  for (const key of CONFIG_KEYS) {
    if (key.path === 'database.url') continue; // commented out: unset
    assert.match(origins.get(key.path) ?? '', /flowmark\.example\.yaml:\d+$/, `${key.path} is not in the example`);
  }
  const docs = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  for (const key of CONFIG_KEYS) {
    const row = docs.split('\n').find((l) => l.startsWith(`| \`${key.path}\` |`));
    assert.ok(row, `docs/configuration.md has no row for ${key.path}`);
    assert.ok(row.includes(`\`${envName(key.path)}\``), `${key.path}: variable`);
    assert.ok(row.includes(key.flag === undefined ? '| — |' : `\`--${key.flag}\``), `${key.path}: flag`);
  }
});
