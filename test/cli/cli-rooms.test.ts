/**
 * The rooms of src/cli (docs/cli.md): a command never imports another command (the demo and
 * produce share the shop through src/cli/demo-shop.ts), and only `chooseMode` reads which queue
 * and which database the configuration asks for.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const CLI = new URL('../../src/cli/', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The lines of code, without comments (what a rule about code is about). */
function codeLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => !/^\s*(\/\/|\*|\/\*\*)/.test(l));
}

test('a command imports no other command', () => {
  const bad: string[] = [];
  for (const file of sources(join(CLI, 'commands'))) {
    for (const line of codeLines(file)) if (/from '\.\/[^']+'/.test(line)) bad.push(`${relative(CLI, file)}: ${line}`);
  }
  assert.deepEqual(bad, []);
});

test('only modes/mode.ts reads config.kafka and config.database', () => {
  const bad: string[] = [];
  for (const file of sources(CLI)) {
    const name = relative(CLI, file);
    if (name === 'modes/mode.ts' || name.startsWith('config/')) continue;
    for (const line of codeLines(file))
      if (/\bconfig\.(kafka|database)\b/.test(line)) bad.push(`${name}: ${line.trim()}`);
  }
  assert.deepEqual(bad, []);
});
