/**
 * Mutation testing of the given source files or folders (StrykerJS with its command runner over
 * `node --test`): `npm run mutate -- src/attribution/money.ts [src/engine/state …]`.
 *
 * Each source file is mapped to the tests that can kill its mutants: its mirror under test/
 * (`src/a/b.ts` → `test/a/b.test.ts`) and every test file that imports it by path. Stryker then
 * runs those tests once per mutant, one at a time (concurrency 1: the machine is shared, and the
 * service tests use shared servers), and prints the mutation score; the HTML and JSON reports go
 * to reports/mutation/. `--tests <a.test.ts,…>` runs those tests instead of the mapped ones, and
 * `src/a/b.ts:120-180` mutates only those lines. See docs/testing.md.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { Stryker } from '@stryker-mutator/core';

const root = resolve(import.meta.dirname, '..');

function usage(message: string): never {
  process.stderr.write(
    `mutate: ${message}\nusage: npm run mutate -- <src file or folder, or file.ts:from-to> [...] [--tests a.test.ts,b.test.ts]\n`,
  );
  process.exit(2);
}

/** Every file under `dir` (recursively) whose name ends with `suffix`. */
function filesUnder(dir: string, suffix: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path, suffix));
    else if (entry.name.endsWith(suffix)) out.push(path);
  }
  return out;
}

/**
 * The source files named by `arg` (a .ts file, or a folder of them), relative to the root. A file
 * may name a line range to mutate, as Stryker takes it: `src/a/b.ts:120-180`.
 */
function sourcesOf(arg: string): string[] {
  const range = /^(.*\.ts)(:\d+-\d+)$/.exec(arg);
  if (range !== null) return sourcesOf(range[1] as string).map((f) => f + range[2]);
  const path = resolve(root, arg);
  if (!existsSync(path)) usage(`${arg}: no such file or folder`);
  if (!relative(root, path).startsWith(`src${'/'}`)) usage(`${arg}: not under src/`);
  const files = statSync(path).isDirectory() ? filesUnder(path, '.ts') : [path];
  return files.filter((f) => !f.endsWith('.d.ts')).map((f) => relative(root, f));
}

const allTests = filesUnder(join(root, 'test'), '.test.ts').map((f) => relative(root, f));
const testText = new Map(allTests.map((f) => [f, readFileSync(join(root, f), 'utf8')]));

/** The test files of one source file: its mirror, and the tests that import it. */
function testsOf(source: string): string[] {
  const inSrc = source.slice('src/'.length).replace(/:\d+-\d+$/, ''); // e.g. attribution/money.ts
  const mirror = `test/${inSrc.replace(/\.ts$/, '.test.ts')}`;
  const found = new Set<string>();
  if (testText.has(mirror)) found.add(mirror);
  for (const [file, text] of testText) {
    if (text.includes(`src/${inSrc}'`)) found.add(file);
  }
  return [...found].sort();
}

// `--tests a.test.ts,b.test.ts` replaces the mapping: for a module whose mapped tests are too slow to
// run once per mutant, or whose contract tests reach it through a helper (not by path). The score
// then means "killed by these tests": record the command with it.
const argv = process.argv.slice(2).filter((a) => a !== '--');
const testsFlag = argv.indexOf('--tests');
const chosenTests = testsFlag < 0 ? undefined : (argv[testsFlag + 1] ?? usage('--tests needs a list')).split(',');
const args = testsFlag < 0 ? argv : argv.filter((_, i) => i !== testsFlag && i !== testsFlag + 1);
if (args.length === 0) usage('name the source files or folders to mutate');
const sources = [...new Set(args.flatMap(sourcesOf))].sort();
const tests = new Set<string>();
if (chosenTests !== undefined) {
  for (const t of chosenTests) {
    if (!testText.has(t)) usage(`--tests: ${t} is not a test file under test/`);
    tests.add(t);
  }
  process.stderr.write(`mutate: ${sources.join(', ')} ← (--tests) ${[...tests].join(', ')}\n`);
} else {
  for (const source of sources) {
    const own = testsOf(source);
    process.stderr.write(`mutate: ${source} ← ${own.length === 0 ? 'NO TEST' : own.join(', ')}\n`);
    for (const t of own) tests.add(t);
  }
}
if (tests.size === 0) usage('no test imports these files: nothing could kill a mutant');

const command = `node --test --test-reporter=dot ${[...tests].join(' ')}`;
process.stderr.write(`mutate: each mutant runs: ${command}\n`);

const results = await new Stryker({
  mutate: sources,
  testRunner: 'command',
  commandRunner: { command },
  // The command runner cannot tell which tests cover a mutant: every mutant runs them all.
  coverageAnalysis: 'off',
  concurrency: 1,
  // A mutant can make a test loop: give up on it after this long beyond the unmutated run.
  timeoutMS: 60_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  // The sandbox needs only what the tests read. Without biome.json in it, `biome check .` run
  // during a mutation run does not stop at a second root configuration.
  ignorePatterns: ['bench/out', 'reports', '.flowmark', 'data', 'tmp', '*.log', 'biome.json'],
  disableTypeChecks: true,
}).runMutationTest();

const counts = new Map<string, number>();
for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
const killed = (counts.get('Killed') ?? 0) + (counts.get('Timeout') ?? 0);
const survived = (counts.get('Survived') ?? 0) + (counts.get('NoCoverage') ?? 0);
const score = killed + survived === 0 ? Number.NaN : (100 * killed) / (killed + survived);
process.stderr.write(
  `mutate: ${sources.map((s) => basename(s)).join(', ')}: ${results.length} mutants, ${killed} killed (incl. timeouts), ` +
    `${survived} survived, ${[...counts].map(([s, n]) => `${s} ${n}`).join(', ')}; score ${score.toFixed(1)} %\n`,
);
