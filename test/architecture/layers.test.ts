/**
 * The direction of dependencies between the layers of src/ (docs/decisions.md, "Layers"):
 *
 *   engine ← connectors ← (cli only)
 *   engine ← attribution ← server, generator
 *   engine ← observability ← server
 *   cli wires everything.
 *
 * Every .ts file under src/ is read and its imports (static, type-only, re-exports, dynamic) are
 * found with the TypeScript compiler's own pre-processor, then checked against one rule per test.
 * A failure names each offending file, line and import. To change a rule, change the design first
 * (docs/decisions.md), then the table below.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

/** One import of one file. `target` is the src/ folder it reaches, or a package/builtin name. */
interface ImportRef {
  file: string;
  line: number;
  specifier: string;
  kind: 'internal' | 'outside-src' | 'builtin' | 'package';
  /** For `internal`: the top folder of src/ (engine, connectors, …). For `package`: its name. */
  target: string;
}

/** The imports of a TypeScript source text, with the line of each (1-based). */
function findImports(text: string): Array<{ specifier: string; line: number }> {
  const info = ts.preProcessFile(text, true, true);
  const lineOf = (pos: number) => text.slice(0, pos).split('\n').length;
  return info.importedFiles.map((f) => ({ specifier: f.fileName, line: lineOf(f.pos) }));
}

const BUILTINS = new Set(builtinModules);

function classify(file: string, specifier: string, line: number): ImportRef {
  const rel = relative(ROOT, file).split(sep).join('/');
  if (specifier.startsWith('node:') || BUILTINS.has(specifier) || BUILTINS.has(specifier.split('/')[0] as string)) {
    return { file: rel, line, specifier, kind: 'builtin', target: specifier };
  }
  if (specifier.startsWith('.') || specifier.startsWith('/')) {
    const to = relative(SRC, resolve(dirname(file), specifier)).split(sep);
    if (to[0] === '..' || to.length < 2) return { file: rel, line, specifier, kind: 'outside-src', target: '' };
    return { file: rel, line, specifier, kind: 'internal', target: to[0] as string };
  }
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
  return { file: rel, line, specifier, kind: 'package', target: name };
}

function sourceFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f))
    .sort();
}

const FILES = sourceFiles(SRC);
const IMPORTS: ImportRef[] = FILES.flatMap((file) =>
  findImports(readFileSync(file, 'utf8')).map((i) => classify(file, i.specifier, i.line)),
);

/** The layer (top folder of src/) of a repo-relative path such as `src/engine/time.ts`. */
function layerOf(repoPath: string): string {
  return repoPath.split('/')[1] as string;
}

function importsOfLayer(layer: string): ImportRef[] {
  return IMPORTS.filter((i) => layerOf(i.file) === layer);
}

/** Fails with every violation, one per line: `file:line imports 'specifier' — why`. */
function assertNone(violations: ImportRef[], why: string): void {
  const lines = violations.map((v) => `  ${v.file}:${v.line} imports '${v.specifier}'`);
  assert.equal(violations.length, 0, `${why}\n${lines.join('\n')}`);
}

/** The folders of src/ that ARCHITECTURE §2 names; anything else needs a rule first. */
const LAYERS = ['engine', 'connectors', 'attribution', 'generator', 'observability', 'server', 'cli'];

test('the import finder sees static, type-only, re-export and dynamic imports', () => {
  const found = findImports(
    [
      "import { a } from './a.ts';",
      "import type { B } from '../b/b.ts';",
      "export { c } from './c.ts';",
      "export * from 'pkg';",
      '// import { commented } from "./not-an-import.ts";',
      "const d = await import('node:fs');",
      'const s = \'import x from "./in-a-string.ts"\';',
    ].join('\n'),
  );
  assert.deepEqual(found, [
    { specifier: './a.ts', line: 1 },
    { specifier: '../b/b.ts', line: 2 },
    { specifier: './c.ts', line: 3 },
    { specifier: 'pkg', line: 4 },
    { specifier: 'node:fs', line: 6 },
  ]);
});

test('the checks below see the code: src/engine has files, and they import each other', () => {
  assert.ok(
    FILES.some((f) => f.endsWith(join('src', 'engine', 'runtime', 'runtime.ts'))),
    'src/engine/runtime/runtime.ts not found',
  );
  assert.ok(importsOfLayer('engine').some((i) => i.kind === 'internal' && i.target === 'engine'));
});

test('every file under src/ is in a layer that ARCHITECTURE §2 names', () => {
  const strays = FILES.map((f) => relative(ROOT, f).split(sep).join('/')).filter((f) => !LAYERS.includes(layerOf(f)));
  assert.deepEqual(strays, [], `these files are outside the known layers (${LAYERS.join(', ')}); add a rule first`);
});

test('no import from src/ reaches outside src/ (into test/, bench/, scripts/ …)', () => {
  assertNone(
    IMPORTS.filter((i) => i.kind === 'outside-src'),
    'shipped code must not depend on tests, benchmarks or scripts:',
  );
});

test('src/engine imports only src/engine: no other layer, no package, no node: builtin (it does no I/O)', () => {
  assertNone(
    importsOfLayer('engine').filter((i) => !(i.kind === 'internal' && i.target === 'engine')),
    'the engine depends on nothing of ours and does no I/O (no node:fs, node:net, pg, kafka …); ' +
      'describe what it needs as an interface in src/engine and let a connector implement it:',
  );
});

/** The engine file an internal import reaches, relative to src/engine (`index.ts`, `time.ts` …). */
function engineFileOf(i: ImportRef): string {
  const abs = resolve(ROOT, dirname(i.file), i.specifier);
  return relative(join(SRC, 'engine'), abs).split(sep).join('/');
}

test('outside src/engine, the engine is reached only through src/engine/index.ts', () => {
  assertNone(
    IMPORTS.filter(
      (i) =>
        i.kind === 'internal' &&
        i.target === 'engine' &&
        layerOf(i.file) !== 'engine' &&
        engineFileOf(i) !== 'index.ts',
    ),
    'src/engine/index.ts is the public API of the engine; everything else in it is internal and may change ' +
      '(add what you need to index.ts, or import it from there):',
  );
});

test('src/connectors imports the engine only (plus packages and node: builtins)', () => {
  assertNone(
    importsOfLayer('connectors').filter(
      (i) => i.kind === 'internal' && i.target !== 'engine' && i.target !== 'connectors',
    ),
    'connectors implement the engine interfaces and must not know the application, server or cli:',
  );
});

test('src/attribution imports the engine only (plus zod): no connector, no I/O', () => {
  const allowedPackages = new Set(['zod']);
  assertNone(
    importsOfLayer('attribution').filter(
      (i) =>
        (i.kind === 'internal' && i.target !== 'engine' && i.target !== 'attribution') ||
        i.kind === 'builtin' ||
        (i.kind === 'package' && !allowedPackages.has(i.target)),
    ),
    'the application is pure logic over the engine: it reaches databases and queues only through ' +
      'interfaces that the cli fills with concrete connectors:',
  );
});

test('only src/cli imports concrete connectors', () => {
  assertNone(
    IMPORTS.filter(
      (i) => i.kind === 'internal' && i.target === 'connectors' && !['cli', 'connectors'].includes(layerOf(i.file)),
    ),
    'only the cli wires concrete connectors to the pipeline (tests may too):',
  );
});

test('src/observability imports the engine; src/server engine, attribution, observability; src/generator engine, attribution', () => {
  const allowed: Record<string, string[]> = {
    observability: ['engine', 'observability'],
    server: ['engine', 'attribution', 'observability', 'server'],
    generator: ['engine', 'attribution', 'generator'],
  };
  assertNone(
    IMPORTS.filter((i) => {
      const ok = allowed[layerOf(i.file)];
      return ok !== undefined && i.kind === 'internal' && !ok.includes(i.target);
    }),
    'observability, server and generator sit above the engine and beside each other as ARCHITECTURE §2 draws:',
  );
});

test('src/server imports no package: it serves HTTP with node:http and reaches the rest through interfaces', () => {
  assertNone(
    importsOfLayer('server').filter((i) => i.kind === 'package'),
    'the HTTP layer is node:http with no framework (docs/decisions.md, "The HTTP server"); metrics come ' +
      'as text from the JobMonitor and the database as the small SummaryDb interface:',
  );
  assert.ok(
    importsOfLayer('server').some((i) => i.specifier === 'node:http'),
    'src/server should exist and use node:http',
  );
});

/** A use of processing time in the engine: `Date.now()`, `new Date()`, `performance.now()`, timers. */
interface ClockRead {
  file: string;
  line: number;
  text: string;
}

function clockReads(file: string): ClockRead[] {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: ClockRead[] = [];
  const report = (node: ts.Node) => {
    // Allowed: inside `export const systemClock = { … }` in src/engine/time.ts, the one wall clock.
    for (let p: ts.Node | undefined = node; p !== undefined; p = p.parent) {
      if (ts.isVariableDeclaration(p) && p.name.getText(sf) === 'systemClock' && file.endsWith('time.ts')) return;
    }
    const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    out.push({ file: relative(ROOT, file).split(sep).join('/'), line: line + 1, text: node.getText(sf) });
  };
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression.getText(sf);
      if (['Date.now', 'performance.now', 'process.hrtime', 'process.hrtime.bigint'].includes(callee)) report(node);
      if (['setTimeout', 'setInterval', 'globalThis.setTimeout', 'globalThis.setInterval'].includes(callee)) {
        report(node);
      }
    }
    if (ts.isNewExpression(node) && node.expression.getText(sf) === 'Date' && (node.arguments?.length ?? 0) === 0) {
      report(node);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

test('the engine reads processing time only through a Clock: Date.now() appears only in systemClock', () => {
  const engineFiles = FILES.filter((f) => f.includes(`${sep}src${sep}engine${sep}`));
  const reads = engineFiles.flatMap(clockReads);
  const lines = reads.map((r) => `  ${r.file}:${r.line} ${r.text.split('\n')[0]}`);
  assert.equal(
    reads.length,
    0,
    `the engine must take processing time from the Clock it is given (ctx.clock), so tests control time:\n${lines.join('\n')}`,
  );
});

test('the clock check itself finds Date.now(), new Date() and timers outside systemClock', () => {
  const dir = join(ROOT, 'test', 'architecture', 'fixtures');
  const found = clockReads(join(dir, 'clock-reads.fixture.ts')).map((r) => r.text);
  assert.deepEqual(found, ['Date.now()', 'new Date()', 'performance.now()', 'setTimeout(() => {}, 10)']);
});
