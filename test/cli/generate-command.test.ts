import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseEvent } from '../../src/attribution/events/index.ts';
import {
  GenerateFlagError,
  type GenerateFlags,
  type GenerateIo,
  parseGenerateFlags,
  runGenerate,
} from '../../src/cli/commands/generate.ts';
import { Rejected } from '../../src/engine/index.ts';

const BIN = fileURLToPath(new URL('../../bin/flowmark.js', import.meta.url));

function flowmark(args: string[]) {
  const res = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-generate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A minimal RFC 4180 reader for the checks below: rows of fields. */
function readCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  assert.equal(field + row.join(''), '', 'the file ends with a newline');
  return rows;
}

test('flowmark generate writes users.csv, products.csv and events.jsonl, and says what it wrote', (t) => {
  const out = join(tempDir(t), 'data');
  const r = flowmark([
    'generate',
    '--out',
    out,
    '--events',
    '2000',
    '--seed',
    '1',
    '--users',
    '300',
    '--products',
    '50',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['events.jsonl', 'products.csv', 'users.csv'], 'no .partial file is left');

  const users = readCsv(readFileSync(join(out, 'users.csv'), 'utf8'));
  assert.deepEqual(users[0], ['user_id', 'name', 'gender']);
  assert.equal(users.length, 301);
  for (const u of users.slice(1)) assert.equal(u.length, 3);

  const products = readCsv(readFileSync(join(out, 'products.csv'), 'utf8'));
  assert.deepEqual(products[0], ['product_id', 'product_name', 'category', 'price', 'commission_rate']);
  assert.equal(products.length, 51);
  for (const p of products.slice(1)) {
    assert.equal(p.length, 5, p.join('|'));
    assert.match(p[3]!, /^\d+\.\d\d$/);
    assert.ok(Number(p[4]) >= 0.05 && Number(p[4]) <= 0.3);
  }

  const lines = readFileSync(join(out, 'events.jsonl'), 'utf8').split('\n');
  assert.equal(lines.pop(), '', 'the file ends with a newline');
  assert.equal(lines.length, 2000);
  const userIds = new Set(users.slice(1).map((u) => u[0]));
  const productIds = new Set(products.slice(1).map((p) => p[0]));
  for (const line of lines) {
    const e = parseEvent(line);
    assert.ok(!(e instanceof Rejected), line);
    const { userId, productId } = e.type === 'click' ? e.click : e.checkout;
    assert.ok(
      userIds.has(userId) && productIds.has(productId as string),
      'events name users and products of the tables',
    );
  }

  assert.match(r.stdout, /300 users/);
  assert.match(r.stdout, /50 products/);
  assert.match(r.stdout, /2,000 lines: [\d,]+ clicks, [\d,]+ checkouts/);
  assert.match(r.stdout, /0 malformed lines/);
  assert.match(r.stdout, /total .* in [\d.]+ s/);
  // Not a terminal: the progress is one line per 10 %, ending at 100 %.
  assert.match(r.stderr, /generate: 100% {2}2,000\/2,000 events/);
});

test('the same seed writes the same bytes; another seed other bytes', (t) => {
  const dir = tempDir(t);
  const args = [
    '--events',
    '3000',
    '--disorder',
    '0.1',
    '--duplicates',
    '0.2',
    '--malformed',
    '0.05',
    '--late',
    '0.01',
  ];
  for (const [name, seed] of [
    ['a', '5'],
    ['b', '5'],
    ['c', '6'],
  ] as const) {
    const r = flowmark(['generate', '--out', join(dir, name), '--seed', seed, ...args]);
    assert.equal(r.status, 0, r.stderr);
  }
  for (const file of ['users.csv', 'products.csv', 'events.jsonl']) {
    const a = readFileSync(join(dir, 'a', file));
    assert.ok(a.equals(readFileSync(join(dir, 'b', file))), `${file}: same seed, same bytes`);
    assert.ok(!a.equals(readFileSync(join(dir, 'c', file))), `${file}: another seed, other bytes`);
  }
});

test('a bad flag is refused naming the flag, with exit code 1, before anything is written', (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'never');
  for (const [args, message] of [
    [['--events', 'x'], '--events must be a positive integer, got "x"'],
    [['--disorder', '1.5'], '--disorder must be a fraction between 0 and 1 (0.05 is 5 %), got "1.5"'],
  ] as const) {
    const r = flowmark(['generate', '--out', out, ...args]);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`error: ${message}`), `${args.join(' ')} printed: ${r.stderr}`);
  }
  const missing = flowmark(['generate', '--events', '10']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /--out is required/);
  assert.deepEqual(readdirSync(dir), [], 'nothing was written');
});

test('every flag is checked, and the message names it and shows the value', () => {
  const cases: Array<[GenerateFlags, string]> = [
    [{ events: '0' }, '--events must be a positive integer, got "0"'],
    [{ events: '1e3' }, '--events must be a positive integer, got "1e3"'],
    [{ users: '1.5' }, '--users must be a positive integer, got "1.5"'],
    [{ products: '-3' }, '--products must be a positive integer, got "-3"'],
    [{ seed: 'abc' }, '--seed must be a non-negative integer, got "abc"'],
    [{ seed: '-1' }, '--seed must be a non-negative integer, got "-1"'],
    [{ rate: '0' }, '--rate must be a positive number of events per second, got "0"'],
    [{ rate: 'fast' }, '--rate must be a positive number of events per second, got "fast"'],
    [{ late: 'lots' }, '--late must be a fraction between 0 and 1'],
    [{ duplicates: '' }, '--duplicates must be a fraction between 0 and 1'],
    [{ malformed: '-0.1' }, '--malformed must be a fraction between 0 and 1'],
    [{ disorder: '0.6', late: '0.6' }, '--disorder + --late must be at most 1'],
    [{ maxDisorder: 'soon' }, '--max-disorder must be a duration such as 10s, 500ms or 1m, got "soon"'],
    [{ start: 'tomorrow' }, '--start must be a time such as 2026-03-01T00:00:00Z'],
    [{ out: ' ' }, '--out is required'],
  ];
  for (const [flags, message] of cases) {
    assert.throws(
      () => parseGenerateFlags({ out: 'data', ...flags }),
      (err) => err instanceof GenerateFlagError && err.message.startsWith(message),
      JSON.stringify(flags),
    );
  }
});

test('an output that cannot be written is an error naming the directory, with exit code 1', (t) => {
  const dir = tempDir(t);
  const r = flowmark(['generate', '--out', join(BIN, 'not-a-dir'), '--events', '10']);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, `flowmark generate: --out ${join(BIN, 'not-a-dir')}: ${BIN} is a file, not a directory\n`);
  assert.deepEqual(readdirSync(dir), []);
});

test('parseGenerateFlags fills in the defaults and reads every flag', () => {
  const c = parseGenerateFlags({ out: 'data' });
  assert.equal(c.users, 1000);
  assert.equal(c.products, 200);
  assert.equal(c.events, 100_000);
  assert.equal(c.traffic.seed, 1);
  assert.equal(c.traffic.ratePerSecond, 100);
  assert.equal(c.traffic.maxDisorderMs, 10_000);
  assert.equal(c.traffic.startMs, Date.UTC(2026, 2, 1));
  const flags: GenerateFlags = {
    out: 'd',
    users: '7',
    products: '3',
    events: '99',
    seed: '123',
    rate: '2.5',
    disorder: '0.1',
    maxDisorder: '500ms',
    late: '0.2',
    duplicates: '0.3',
    malformed: '0.4',
    start: '2030-01-01 00:00:00',
  };
  const d = parseGenerateFlags(flags);
  assert.deepEqual(
    [d.users, d.products, d.events, d.traffic.seed, d.traffic.ratePerSecond, d.traffic.disorder],
    [7, 3, 99, 123, 2.5, 0.1],
  );
  assert.deepEqual(
    [d.traffic.maxDisorderMs, d.traffic.late, d.traffic.duplicates, d.traffic.malformed, d.traffic.startMs],
    [500, 0.2, 0.3, 0.4, Date.UTC(2030, 0, 1)],
  );
});

test('on a terminal the progress is a bar redrawn in place, with events, rate and ETA', async (t) => {
  const out = join(tempDir(t), 'tty');
  let fakeNow = 0;
  let stderr = '';
  let stdout = '';
  const io: GenerateIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: true, columns: 120 },
    nowMs: () => (fakeNow += 250),
  };
  const summary = await runGenerate(parseGenerateFlags({ out, events: '5000', seed: '2' }), io);
  assert.equal(summary.events.lines, 5000);
  assert.ok(summary.bytes.events > 5000 * 100);
  assert.match(stderr, /^\revents\.jsonl [█░]{24} +\d+% {2}[\d,]+\/5,000 events {2}\S+ .*events\/s {2}ETA /);
  assert.match(stderr, /100% {2}5,000\/5,000 events/);
  assert.ok(stderr.endsWith('\n'), 'the bar ends with a newline');
  assert.match(stdout, /5,000 lines/);
});
