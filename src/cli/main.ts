/**
 * The `flowmark` command (bin/flowmark.js loads this file). It wires the pieces per mode:
 * embedded (own log + PGlite), production (Kafka + PostgreSQL) and scale-out.
 *
 * demo, generate, replay, import, run, produce, config and flink (sql, deploy, status) work; run and demo with Kafka
 * (`kafka.bootstrap`, --kafka) exit with code 2, naming the issue that builds them. demo, import,
 * run, produce and config read the configuration (src/cli/config: flags > FLOWMARK_* variables >
 * --config file > defaults) before anything else, and hand the resolved {@link FlowmarkConfig} to
 * the command.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ATTRIBUTION_MODELS } from '../attribution/attribution-options.ts';
import { FlowmarkError } from '../engine/index.ts';
import { configOptions } from './cli-flags.ts';
import { checkWritableDirectory, dataDirPath } from './cli-paths.ts';
import { type DemoFlags, runDemo } from './commands/demo.ts';
import {
  type FlinkDeployFlags,
  type FlinkSqlFlags,
  runFlinkDeploy,
  runFlinkSql,
  runFlinkStatus,
} from './commands/flink.ts';
import { GENERATE_DEFAULTS, generateAction } from './commands/generate.ts';
import { type ImportFlags, runImport } from './commands/import.ts';
import { runKafkaCleanup } from './commands/kafka.ts';
import { runLogCheck, runLogRepair } from './commands/log.ts';
import { type ProduceFlags, runProduce } from './commands/produce.ts';
import { type ReplayFlags, runReplay } from './commands/replay.ts';
import { type RunFlags, runRun } from './commands/run.ts';
import { type ConfigFlags, declaredDefault, describeConfig, type FlowmarkConfig, loadConfig } from './config/index.ts';
import { describeFailure, type FailureContext } from './error-messages.ts';
import { chooseMode } from './modes/mode.ts';
import { cliSecrets, scrubSecrets } from './secret-scrubbing.ts';

/** The version in package.json. */
export function flowmarkVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

// One line per paragraph: commander wraps them to the terminal's width.
const DESCRIPTION = [
  'Real-time click attribution and e-commerce analytics.',
  '',
  "flowmark joins every checkout of a shop to the ad click that led to it (first-click attribution by default), enriches it with the user and product rows of the shop's database, writes the result to Postgres, and keeps live analytics: revenue, profit, best ad sources, top categories, failed-payment reasons. It runs on its own event-time dataflow engine, with no cluster: embedded (its own log + PGlite) by default, or on Kafka + PostgreSQL in production.",
].join('\n');

const STATUS = `
Modes: embedded (flowmark's own log + PGlite in --data-dir, the default), a PostgreSQL server
(--database-url), Apache Kafka (--kafka HOST:PORT: import, produce, run, demo). demo and run serve
the dashboard, /metrics and /health (--port). Several \`run --kafka\` workers with the same --group
split the partitions between them (scale-out); a worker that dies is replaced by the others.

Examples:
  npx flowmark generate --out data/      # users.csv, products.csv, events.jsonl
  npx flowmark replay --events data/events.jsonl --users data/users.csv \\
                      --products data/products.csv --out attributed.jsonl
  npx flowmark import --data-dir .flowmark --users data/users.csv --products data/products.csv \\
                      --events data/events.jsonl
  npx flowmark run --data-dir .flowmark --drain
  npx flowmark run --database-url postgres://flowmark@db:5432/shop --port 3000   # live, with the dashboard
  npx flowmark import --kafka 127.0.0.1:9092 --events data/events.jsonl   # into topics clicks, checkouts
  npx flowmark produce --kafka 127.0.0.1:9092 --rate 500   # the live website simulator into Kafka
  npx flowmark run --kafka 127.0.0.1:9092 --group shop --database-url postgres://…   # one worker; start more
  npx flowmark config --config flowmark.yaml   # the resolved configuration and where each value came from
  npx flowmark flink sql --config flowmark.yaml > job.sql   # the same job as Flink SQL, for a shop's Flink`;

/** What the command running now writes to, for the message of a failure nobody caught. */
let running: { command: string; context: FailureContext } | undefined;

/** Prints a failure of `command` as `flowmark <command>: <one line>` (and a bug's stack) on stderr. */
function report(command: string, err: unknown, context: FailureContext): void {
  const failure = describeFailure(err, context);
  process.stderr.write(`flowmark ${command}: ${failure.message}\n`);
  if (failure.stack !== undefined) process.stderr.write(`${failure.stack}\n`);
}

/**
 * Reports an error that escaped every command's handling (an 'error' event nobody listened to,
 * a rejected promise nobody awaited) as a failure of the running command. bin/flowmark.js calls
 * it, then exits with code 1.
 */
export function reportUncaught(err: unknown): void {
  report(running?.command ?? 'error', err, running?.context ?? {});
}

/**
 * The action of a built command: any failure (a bad flag, a missing file, a full disk, an
 * outage) is printed as one line naming the command (src/cli/error-messages.ts), with exit code
 * 1. `writesTo` names what the command writes, so that a full disk can be named.
 */
function action<F extends object>(
  command: string,
  run: (flags: F, context: FailureContext) => Promise<void>,
  writesTo: (flags: F) => string[] = () => [],
): (flags: F) => Promise<void> {
  return async (flags) => {
    const context: FailureContext = { writesTo: writesTo(flags) };
    running = { command, context };
    try {
      await run(flags, context);
    } catch (err) {
      report(command, err, context);
      const code = err instanceof FlowmarkError ? err.code : 'flowmark.failed';
      throw new CommanderError(1, code, describeFailure(err, context).message);
    } finally {
      running = undefined;
    }
  };
}

/**
 * The action of a command that reads the configuration: flags (only those given: the
 * configuration flags have no commander defaults), the FLOWMARK_* variables and the --config
 * file are resolved and checked first, before the command opens or writes anything.
 */
function configured<F extends ConfigFlags>(
  command: string,
  run: (flags: F, config: FlowmarkConfig) => Promise<void>,
  { createDataDir = false }: { createDataDir?: boolean } = {},
): (flags: F) => Promise<void> {
  return action<F>(command, (flags, context) => {
    const config = loadConfig({ flags, env: process.env }).config;
    const mode = chooseMode(config);
    const usesDataDir = mode.usesDataDir;
    if (usesDataDir) context.writesTo = [config.dataDir];
    if (!mode.database.inDataDir) context.server = mode.database.where;
    // A data dir that is a file or cannot be written is one line now, not a stack trace later.
    if (usesDataDir && createDataDir) checkWritableDirectory(dataDirPath(config), { create: true });
    return run(flags, config);
  });
}

/** Adds the flags of the configuration keys and --config to a command. */
function withConfig(c: Command): Command {
  for (const o of configOptions()) c.addOption(o);
  return c;
}

/**
 * replay's attribution flags: it reads no configuration file, so its defaults are commander's,
 * taken from where the configuration schema declares them.
 */
const attributionFlags = (c: Command): Command =>
  c
    .addOption(
      new Option('--model <model>', 'attribution model')
        .choices(ATTRIBUTION_MODELS)
        .default(declaredDefault('attribution.model')),
    )
    .addOption(
      new Option('--scope <scope>', 'which clicks can match: same user and product, or any of the user')
        .choices(['product', 'user'])
        .default(declaredDefault('attribution.scope')),
    )
    .option(
      '--lookback <duration>',
      'how far before a checkout a click may be (e.g. 30m, 1h, 7d; at most 90d)',
      declaredDefault('attribution.lookback'),
    )
    .option(
      '--lookback-by-source <pairs>',
      "a source's own lookback, at most 90d each (e.g. email=30d,direct=1d); other sources use --lookback",
    )
    .option(
      '--max-out-of-orderness <duration>',
      'the bound of disorder of the watermark',
      declaredDefault('attribution.max_out_of_orderness'),
    )
    .option(
      '--half-life <duration>',
      'time_decay: credit halves every half-life before the checkout',
      declaredDefault('attribution.half_life'),
    )
    .option(
      '--max-future-skew <duration|off>',
      'events dated further ahead of the clock than this are dead letters (future_event_time); off: data dated in the future, replayed on purpose',
      declaredDefault('attribution.max_future_skew'),
    )
    .option('--excluded-sources <list>', 'comma-separated sources never credited (e.g. direct)');

/** The files replay writes: where a full disk is looked for. */
function replayOutputs(flags: ReplayFlags): string[] {
  return [flags.out, flags.deadLetter, flags.credits, flags.analytics].filter((p): p is string => p !== undefined);
}

/** Builds the command-line program. */
export function buildProgram(): Command {
  // exitOverride first, so that the commands inherit it: errors throw instead of exiting.
  const program = new Command('flowmark')
    .exitOverride()
    .description(DESCRIPTION)
    .version(flowmarkVersion(), '-V, --version', 'print the version')
    .addHelpText('after', STATUS)
    .showHelpAfterError('(run flowmark --help for the commands and their flags)')
    // commander quotes what it did not understand (`--databse-url=postgres://u:pw@h`): scrubbed.
    .configureOutput({
      writeOut: (text) => process.stdout.write(scrubSecrets(text)),
      writeErr: (text) => process.stderr.write(scrubSecrets(text)),
    });

  const demo = program
    .command('demo')
    .description('run the embedded demo: website simulator → log → pipeline → PGlite, with the live dashboard')
    .option('--rate <events_per_s>', 'events per second the simulated website produces (default: 200)')
    .option('--users <n>', 'users of the simulated shop (default: 1000)')
    .option('--products <n>', 'products of the simulated shop (default: 200)');
  withConfig(demo).action(configured<DemoFlags>('demo', runDemo, { createDataDir: true }));

  program
    .command('generate')
    .description('write a generated data set: users.csv, products.csv and events.jsonl (arrival order)')
    .option('--out <dir>', 'directory to write into (required)')
    .option('--users <n>', `number of users (default: ${GENERATE_DEFAULTS.users})`)
    .option('--products <n>', `number of products (default: ${GENERATE_DEFAULTS.products})`)
    .option('--events <n>', `number of lines of click and checkout events (default: ${GENERATE_DEFAULTS.events})`)
    .option('--seed <s>', `random seed: the same seed writes the same files (default: ${GENERATE_DEFAULTS.seed})`)
    .option('--rate <events_per_s>', `events per second of event time (default: ${GENERATE_DEFAULTS.rate})`)
    .option('--start <time>', `event time of the first event, UTC (default: ${GENERATE_DEFAULTS.start})`)
    .option('--disorder <f>', 'fraction of events delivered out of order, within --max-disorder (default: 0)')
    .option('--max-disorder <duration>', `the bound of that disorder (default: ${GENERATE_DEFAULTS.maxDisorder})`)
    .option('--late <f>', 'fraction of events delivered after more than the bound: 1–5 min late (default: 0)')
    .option('--duplicates <f>', 'fraction of checkouts delivered twice (default: 0)')
    .option('--malformed <f>', 'fraction of lines that are broken: bad JSON, types, times or type (default: 0)')
    .action(generateAction);

  const replay = program
    .command('replay')
    .description('a bounded, deterministic run over files: one JSON line per checkout (final rows only)')
    .option('--events <file>', 'clicks and checkouts in one JSON-lines file, in arrival order ("type" says which)')
    .option('--clicks <file>', 'clicks (JSON lines), with --checkouts instead of --events')
    .option('--checkouts <file>', 'checkouts (JSON lines), with --clicks instead of --events')
    .option('--users <file>', 'users: CSV with a header, or JSON lines')
    .option('--products <file>', 'products: CSV with a header, or JSON lines')
    .option('--out <file>', 'where to write the attributed checkouts (JSON lines)')
    .option(
      '--dead-letter <file>',
      'where to write bad or late input, with reason and raw line (default: next to --out)',
    )
    .option('--credits <file>', 'also write attribution_credits rows (multi-touch models), as JSON lines')
    .option('--analytics <file>', 'also write analytics_minute rows (1-minute windows), as JSON lines');
  attributionFlags(replay).action(action<ReplayFlags>('replay', runReplay, replayOutputs));

  const imp = program
    .command('import')
    .description(
      'load users and products into the database and append events to the log (or, with --kafka, to the topics clicks and checkouts, created if missing)',
    )
    .option('--users <file>', 'users: CSV with a header, or JSON lines')
    .option('--products <file>', 'products: CSV with a header, or JSON lines')
    .option('--events <file>', 'clicks and checkouts in one JSON-lines file, routed by "type"')
    .option('--clicks <file>', 'clicks (JSON lines), with --checkouts instead of --events')
    .option('--checkouts <file>', 'checkouts (JSON lines), with --clicks instead of --events')
    .option('--force', 'append the events of a file again although it was imported already (or changed since)');
  withConfig(imp).action(configured<ImportFlags>('import', runImport, { createDataDir: true }));

  const run = program
    .command('run')
    .description(
      'run the pipeline alone, from the log into the database, with the dashboard; with --kafka, one worker of a consumer group (--group): start more to share the partitions',
    )
    .option('--drain', 'treat the current end of the input as its end: finalize, commit, exit 0 (serves no dashboard)');
  withConfig(run).action(configured<RunFlags>('run', runRun));

  const logCommand = program
    .command('log')
    .description('the embedded log in --data-dir: find damaged records (check) and quarantine them (repair)');
  withConfig(
    logCommand
      .command('check')
      .description('read every record of the log, verify its checksum, and list damaged ones (exit 1 if any)'),
  ).action(configured<ConfigFlags>('log check', runLogCheck));
  withConfig(
    logCommand
      .command('repair')
      .description(
        'quarantine damaged records (a copy of their bytes, and a dead letter for those not processed yet); every later record is kept',
      ),
  ).action(configured<ConfigFlags>('log repair', runLogRepair));

  const kafkaCommand = program
    .command('kafka')
    .description('the Kafka topics of a consumer group: remove the internal topics it created (cleanup)');
  withConfig(
    kafkaCommand
      .command('cleanup')
      .description(
        'delete the internal topics <group>-repartition-clicks and -checkouts that the workers of --group created to repartition unkeyed topics (run it with no worker of the group running)',
      ),
  ).action(configured<ConfigFlags>('kafka cleanup', runKafkaCleanup));

  const config = program
    .command('config')
    .description('print the resolved configuration as YAML (password hidden) and where each value came from');
  withConfig(config).action(
    action<ConfigFlags>('config', async (flags) => {
      const { config, origins, file } = loadConfig({ flags, env: process.env });
      const header = [
        '# flowmark configuration: flag > FLOWMARK_* variable > --config file > default',
        `# file: ${file ?? 'none (no --config and no FLOWMARK_CONFIG)'}`,
      ];
      process.stdout.write(scrubSecrets(`${[...header, ...describeConfig(config, origins)].join('\n')}\n`));
    }),
  );

  const produce = program
    .command('produce')
    .description(
      'the live website simulator (as in the demo) writing clicks and checkouts into Kafka, keyed by user_id, until Ctrl-C; the shop is written into the database for enrichment',
    )
    .option('--rate <events_per_s>', 'events per second the simulated website produces (default: 200)')
    .option('--users <n>', 'users of the simulated shop (default: 1000)')
    .option('--products <n>', 'products of the simulated shop (default: 200)')
    .option('--seed <s>', 'random seed of the traffic: the same seed produces the same ids (default: the start time)')
    .option('--events <n>', 'stop after this many events')
    .option('--duration <duration>', 'stop after this long (e.g. 30s, 10m)');
  withConfig(produce).action(
    configured<ProduceFlags>('produce', async (flags, config) => {
      await runProduce(flags, config);
    }),
  );

  const flink = program
    .command('flink')
    .description(
      'run the same job on Apache Flink 1.20: the Flink SQL script of the configured pipeline (docs/flink.md)',
    );
  withConfig(
    flink
      .command('sql')
      .description(
        "print the Flink SQL script of the configured pipeline: Kafka sources, lookups of the shop's tables, first-click attribution and the minute analytics into flowmark's tables (needs kafka.bootstrap and database.url; the password is a placeholder)",
      )
      .option('--bounded', 'read the topics to their end offsets at submission, then finish (a backfill, a test)'),
  ).action(configured<FlinkSqlFlags>('flink sql', runFlinkSql));
  withConfig(
    flink
      .command('deploy')
      .description(
        'submit that script through a Flink SQL Gateway (its REST API) and print the job id; the password goes to the gateway, never to the output',
      )
      .option('--gateway <url>', 'the REST endpoint of the Flink SQL Gateway (e.g. http://127.0.0.1:8083)')
      .option('--bounded', 'read the topics to their end offsets at submission, then finish'),
  ).action(
    configured<FlinkDeployFlags>('flink deploy', async (flags, config) => {
      await runFlinkDeploy(flags, config);
    }),
  );
  flink
    .command('status')
    .description(
      "list flowmark's jobs on the Flink cluster behind a SQL Gateway: id, status (RUNNING, FINISHED, FAILED, …), start time",
    )
    .option('--gateway <url>', 'the REST endpoint of the Flink SQL Gateway (e.g. http://127.0.0.1:8083)')
    .action(
      action<{ gateway?: string }>('flink status', async (flags) => {
        await runFlinkStatus(flags);
      }),
    );

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
  // A password given on the command line or in a variable is hidden from every later message,
  // even one printed before the configuration is read (commander's, say).
  for (const arg of argv) cliSecrets.rememberFrom(arg);
  for (const [name, value] of Object.entries(process.env))
    if (name.startsWith('FLOWMARK_') && value !== undefined) cliSecrets.rememberFrom(value);
  try {
    await buildProgram().parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
}
