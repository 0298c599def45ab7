/**
 * The `flowmark` command (bin/flowmark.js loads this file). It wires the pieces per mode:
 * embedded (own log + PGlite), production (Kafka + PostgreSQL) and scale-out.
 *
 * Today only `version` and `--help` do their work: the other commands declare the flags they
 * will take (from the project's issues) and exit with code 2 and a message saying they are not
 * built yet. What exists is the engine library (src/engine) and its tests.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';

/** Exit code of a command that is declared but not built yet. */
export const EXIT_NOT_BUILT = 2;

/** The version in package.json. */
export function flowmarkVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The attribution models of ARCHITECTURE §3.3. */
export const ATTRIBUTION_MODELS = ['first_click', 'last_click', 'linear', 'time_decay', 'position_based'] as const;

// One line per paragraph: commander wraps them to the terminal's width.
const DESCRIPTION = [
  'Real-time click attribution and e-commerce analytics.',
  '',
  "flowmark joins every checkout of a shop to the ad click that led to it (first-click attribution by default), enriches it with the user and product rows of the shop's database, writes the result to Postgres, and keeps live analytics: revenue, profit, best ad sources, top categories, failed-payment reasons. It runs on its own event-time dataflow engine, with no cluster: embedded (its own log + PGlite) by default, or on Kafka + PostgreSQL in production.",
].join('\n');

const STATUS = `
Status: today flowmark provides the event-time engine library (src/engine) and its tests.
The commands above are declared with their flags and exit with code ${EXIT_NOT_BUILT}, saying they are not
built yet: demo, generate, replay, import, run (issue #3; with --database-url: issue #4;
with --kafka, and produce: issue #7).

Examples (once built):
  npx flowmark demo                      # generator → log → pipeline → PGlite, dashboard on :3000
  npx flowmark generate --out data/      # users.csv, products.csv, events.jsonl
  npx flowmark replay --events data/events.jsonl --users data/users.csv \\
                      --products data/products.csv --out attributed.jsonl`;

/**
 * The action of a command that is not built yet: says so, naming the issue that builds it
 * (Kafka and PostgreSQL-server variants have their own), and ends with {@link EXIT_NOT_BUILT}.
 */
function notBuilt(command: string, defaultIssue: number): (options: Record<string, unknown>) => never {
  return (options) => {
    const issue = options.kafka !== undefined ? 7 : options.databaseUrl !== undefined ? 4 : defaultIssue;
    const message = `flowmark ${command} is not built yet (see issue #${issue}); today flowmark provides the engine library and its tests`;
    process.stderr.write(`${message}\n`);
    throw new CommanderError(EXIT_NOT_BUILT, 'flowmark.notBuilt', message);
  };
}

const dataDir = () =>
  new Option('--data-dir <dir>', 'where the embedded log, PGlite and checkpoints live').default('.flowmark');
const databaseUrl = () =>
  new Option('--database-url <url>', 'a PostgreSQL server (postgres://…) instead of PGlite in the data dir').env(
    'FLOWMARK_DATABASE_URL',
  );
const kafka = () => new Option('--kafka <host:port>', 'use Apache Kafka (topics clicks, checkouts) instead of the log');
const port = () =>
  new Option('--port <port>', 'HTTP port of the dashboard, /metrics and /health (0: any free port)').default('3000');
const config = () =>
  new Option('--config <file>', 'a flowmark.yaml; every key can also be given as a flag or FLOWMARK_* variable');

/** Builds the command-line program. */
export function buildProgram(): Command {
  // exitOverride first, so that the commands inherit it: errors throw instead of exiting.
  const program = new Command('flowmark')
    .exitOverride()
    .description(DESCRIPTION)
    .version(flowmarkVersion(), '-V, --version', 'print the version')
    .addHelpText('after', STATUS)
    .showHelpAfterError('(run flowmark --help for the commands and their flags)');

  program
    .command('demo')
    .description('run the embedded demo: website simulator → log → pipeline → PGlite, with the live dashboard')
    .addOption(dataDir())
    .addOption(port())
    .option('--rate <events_per_s>', 'events per second the simulated website produces')
    .addOption(kafka())
    .addOption(config())
    .action(notBuilt('demo', 3));

  program
    .command('generate')
    .description('write a generated data set: users.csv, products.csv and events.jsonl (arrival order)')
    .option('--out <dir>', 'directory to write into (required)')
    .option('--users <n>', 'number of users')
    .option('--products <n>', 'number of products')
    .option('--events <n>', 'number of click and checkout events')
    .option('--seed <s>', 'random seed: the same seed writes the same files')
    .action(notBuilt('generate', 3));

  program
    .command('replay')
    .description('a bounded, deterministic run over files: one JSON line per checkout (final rows only)')
    .option('--events <file>', 'clicks and checkouts in one JSON-lines file, in arrival order ("type" says which)')
    .option('--clicks <file>', 'clicks (JSON lines), with --checkouts instead of --events')
    .option('--checkouts <file>', 'checkouts (JSON lines), with --clicks instead of --events')
    .option('--users <file>', 'users: CSV with a header, or JSON lines')
    .option('--products <file>', 'products: CSV with a header, or JSON lines')
    .option('--out <file>', 'where to write the attributed checkouts (JSON lines)')
    .option('--dead-letter <file>', 'where to write bad or late input, with reason and raw line (JSON lines)')
    .addOption(new Option('--model <model>', 'attribution model').choices(ATTRIBUTION_MODELS).default('first_click'))
    .addOption(
      new Option('--scope <scope>', 'which clicks can match: same user and product, or any of the user')
        .choices(['product', 'user'])
        .default('product'),
    )
    .option('--lookback <duration>', 'how far before a checkout a click may be (e.g. 30m, 1h, 7d)', '1h')
    .option('--max-out-of-orderness <duration>', 'the bound of disorder of the watermark', '15s')
    .action(notBuilt('replay', 3));

  program
    .command('import')
    .description('load users and products into the database and append events to the log (or Kafka)')
    .addOption(dataDir())
    .addOption(databaseUrl())
    .option('--users <file>', 'users: CSV with a header, or JSON lines')
    .option('--products <file>', 'products: CSV with a header, or JSON lines')
    .option('--events <file>', 'clicks and checkouts in one JSON-lines file, routed by "type"')
    .option('--clicks <file>', 'clicks (JSON lines), with --checkouts instead of --events')
    .option('--checkouts <file>', 'checkouts (JSON lines), with --clicks instead of --events')
    .addOption(kafka())
    .option('--partitions <n>', 'with --kafka: partitions of topics it creates')
    .addOption(config())
    .action(notBuilt('import', 3));

  program
    .command('run')
    .description('run the pipeline alone: from the log (or Kafka) into the database, with the dashboard')
    .addOption(dataDir())
    .addOption(databaseUrl())
    .option('--drain', 'treat the current end of the input as its end: finalize, commit, exit 0')
    .addOption(kafka())
    .option('--group <group>', 'with --kafka: the consumer group of the workers')
    .addOption(port())
    .addOption(config())
    .action(notBuilt('run', 3));

  program
    .command('produce')
    .description('the live website simulator, writing clicks and checkouts into Kafka')
    .option('--kafka <host:port>', 'the Kafka broker to write into')
    .option('--rate <events_per_s>', 'events per second')
    .action(notBuilt('produce', 7));

  program
    .command('version')
    .description('print the version of flowmark and of Node')
    .action(() => {
      process.stdout.write(`flowmark ${flowmarkVersion()} (Node ${process.version})\n`);
    });

  return program;
}

/** Runs the command line (`argv` as in `process.argv`) and returns the exit code. */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
}
