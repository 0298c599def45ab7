import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  CsvParser,
  type CsvRow,
  type DimensionFileOptions,
  type DimensionFileRecord,
  isSecretColumn,
  readDimensionBatches,
  readDimensionFile,
} from '../../../src/connectors/files/dimension-file-reader.ts';
import { isFlowmarkError } from '../../../src/engine/index.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'fm-dim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function readAll(path: string, options?: DimensionFileOptions): Promise<DimensionFileRecord[]> {
  const out: DimensionFileRecord[] = [];
  for await (const r of readDimensionFile(path, options)) out.push({ line: r.line, values: { ...r.values } });
  return out;
}

async function readError(path: string, options?: DimensionFileOptions): Promise<string> {
  try {
    await readAll(path, options);
  } catch (err) {
    assert.ok(isFlowmarkError(err, 'FM_CONFIG_INVALID'), String(err));
    return err.message;
  }
  assert.fail(`reading ${path} did not fail`);
}

/** Parses `text` fed in pieces cut at `cuts`; the header row comes first in the result. */
function parseCsv(text: string, cuts: number[] = []): CsvRow[] {
  const rows: CsvRow[] = [];
  const parser = new CsvParser('t.csv', (header) => {
    rows.push(header);
    return undefined;
  });
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    rows.push(...parser.push(text.slice(at, cut)));
    at = cut;
  }
  rows.push(...parser.push(text.slice(at)));
  rows.push(...parser.end());
  return rows;
}

test('CSV: RFC 4180 quoting — commas, doubled quotes and line breaks inside quotes', () => {
  const text = 'id,name,note\r\n1,"Smith, Ada","said ""hi"""\r\n2,"two\nlines",\r\n3,,"a,""b"",\r\nc"\r\n';
  assert.deepEqual(parseCsv(text), [
    { line: 1, fields: ['id', 'name', 'note'] },
    { line: 2, fields: ['1', 'Smith, Ada', 'said "hi"'] },
    { line: 3, fields: ['2', 'two\nlines', ''] },
    { line: 5, fields: ['3', '', 'a,"b",\r\nc'] },
  ]);
});

test('CSV: LF, CRLF and CR line ends, no final line end, blank lines skipped, empty quoted values kept', () => {
  assert.deepEqual(parseCsv('a,b\n1,2\n\n3,4'), [
    { line: 1, fields: ['a', 'b'] },
    { line: 2, fields: ['1', '2'] },
    { line: 4, fields: ['3', '4'] },
  ]);
  assert.deepEqual(parseCsv('a,b\r1,2\r\r3,4\r'), [
    { line: 1, fields: ['a', 'b'] },
    { line: 2, fields: ['1', '2'] },
    { line: 4, fields: ['3', '4'] },
  ]);
  assert.deepEqual(parseCsv('a\n""\n\n   \nx\n'), [
    { line: 1, fields: ['a'] },
    { line: 2, fields: [''] },
    { line: 5, fields: ['x'] },
  ]);
  assert.deepEqual(parseCsv('a,b\n1,\n,2\n'), [
    { line: 1, fields: ['a', 'b'] },
    { line: 2, fields: ['1', ''] },
    { line: 3, fields: ['', '2'] },
  ]);
  assert.deepEqual(parseCsv('a,b\n"x",'), [
    { line: 1, fields: ['a', 'b'] },
    { line: 2, fields: ['x', ''] },
  ]);
});

test('CSV: the same rows however the text is cut into chunks (every cut of a tricky file)', () => {
  const text = 'id,"na""me",x\r\n1,"a,\r\nb",""""\r\n2,c,"d"\n3,"",e\r';
  const whole = parseCsv(text);
  for (let i = 0; i <= text.length; i++) {
    for (let j = i; j <= text.length; j += 3) assert.deepEqual(parseCsv(text, [i, j]), whole, `cut at ${i} and ${j}`);
  }
});

const cell = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom('', ',', '"', '""', '\n', '\r\n', '\r', 'a,b', ' x ', 'é€😀'),
  fc.array(fc.constantFrom('a', ',', '"', '\n', '\r', ' '), { maxLength: 6 }).map((a) => a.join('')),
);

/** RFC 4180 writing: quote a value holding a comma, quote or line break, doubling its quotes. */
const csvValue = (v: string, forceQuotes: boolean) =>
  forceQuotes || /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;

test('property: any table written as RFC 4180 CSV, cut into any chunks, reads back the same', () => {
  fc.assert(
    fc.property(
      fc
        .integer({ min: 1, max: 4 })
        .chain((width) =>
          fc.tuple(
            fc.array(fc.array(cell, { minLength: width, maxLength: width }), { minLength: 1, maxLength: 6 }),
            fc.constantFrom('\n', '\r\n'),
            fc.boolean(),
            fc.array(fc.nat(), { maxLength: 4 }),
          ),
        ),
      ([table, eol, forceQuotes, cutsRaw]) => {
        // A row whose only value is blank would be a blank line: quoted, it is a row.
        const text =
          table.map((row) => row.map((v) => csvValue(v, forceQuotes || row.length === 1)).join(',')).join(eol) + eol;
        const cuts = cutsRaw.map((c) => c % (text.length + 1));
        const rows = parseCsv(text, cuts);
        assert.deepEqual(
          rows.map((r) => r.fields),
          table,
        );
        // Each row's line is 1 + the line breaks before it.
        let offset = 0;
        table.forEach((row, i) => {
          const before = text.slice(0, offset);
          const breaks = (before.match(/\r\n|\r|\n/g) ?? []).length;
          assert.equal(rows[i]?.line, 1 + breaks);
          offset += row.map((v) => csvValue(v, forceQuotes || row.length === 1)).join(',').length + eol.length;
        });
      },
    ),
    { numRuns: 1000 },
  );
});

test('readDimensionFile: a CSV file gives one record per row, with the line it starts on', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'products.csv');
  writeFileSync(
    path,
    '\uFEFFproduct_id,product_name,category,price\r\nP1,"Lamp, desk",Home,37.12\r\nP2,"Chair\nwith arms",Home,\r\n',
  );
  assert.deepEqual(await readAll(path), [
    { line: 2, values: { product_id: 'P1', product_name: 'Lamp, desk', category: 'Home', price: '37.12' } },
    { line: 3, values: { product_id: 'P2', product_name: 'Chair\nwith arms', category: 'Home', price: '' } },
  ]);
});

test('readDimensionFile: JSON lines keep their JSON values; blank lines skipped; CRLF accepted', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'users.jsonl');
  writeFileSync(path, '{"id": 42, "username": "ada"}\r\n\n{"id": "U7", "username": null, "gender": "F"}');
  assert.deepEqual(await readAll(path), [
    { line: 1, values: { id: 42, username: 'ada' } },
    { line: 3, values: { id: 'U7', username: null, gender: 'F' } },
  ]);
});

test('readDimensionFile: the format is sniffed for other extensions; .json is JSON lines', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'users.txt'), 'id,username\n1,ada\n');
  writeFileSync(join(dir, 'users.data'), '  {"id": 1}\n');
  writeFileSync(join(dir, 'users.json'), '{"id": 1}\n{"id": 2}\n');
  assert.deepEqual(await readAll(join(dir, 'users.txt')), [{ line: 2, values: { id: '1', username: 'ada' } }]);
  assert.deepEqual(await readAll(join(dir, 'users.data')), [{ line: 1, values: { id: 1 } }]);
  assert.equal((await readAll(join(dir, 'users.json'))).length, 2);
  assert.deepEqual(await readAll(join(dir, 'users.txt'), { format: 'csv' }), [
    { line: 2, values: { id: '1', username: 'ada' } },
  ]);
});

test('secret columns are never copied, in CSV and in JSON lines; `columns` keeps only the listed ones', async (t) => {
  const dir = tempDir(t);
  const csv = join(dir, 'users.csv');
  writeFileSync(
    csv,
    'id,username,PASSWORD,password_hash,api_key,email\n42,ada,hunter2,$2b$xyz,k-123,ada@example.com\n',
  );
  const rows = await readAll(csv);
  assert.deepEqual(rows, [{ line: 2, values: { id: '42', username: 'ada', email: 'ada@example.com' } }]);
  const jsonl = join(dir, 'users.jsonl');
  writeFileSync(jsonl, '{"id": 42, "username": "ada", "password": "hunter2", "Secret": "s"}\n');
  assert.deepEqual(await readAll(jsonl), [{ line: 1, values: { id: 42, username: 'ada' } }]);
  assert.deepEqual(await readAll(csv, { columns: ['ID', 'username', 'password'] }), [
    { line: 2, values: { id: '42', username: 'ada' } },
  ]);
  for (const secret of [
    'password',
    'PASSWORD',
    'Password',
    'passwd',
    'pwd',
    'user_password',
    'password_hash',
    'secret',
    'api_key',
    'apikey',
    'token',
    'access-token',
    'credentials',
  ]) {
    assert.ok(isSecretColumn(secret), secret);
  }
  for (const plain of ['id', 'user_id', 'username', 'name', 'passport', 'email', 'compass', 'tokenizer']) {
    assert.ok(!isSecretColumn(plain), plain);
  }
});

test('a secret CSV column is skipped as it is scanned: its text is not collected even for the first rows', () => {
  const seen: string[][] = [];
  const parser = new CsvParser('u.csv', (header) => header.fields.map((f) => f !== 'password'));
  for (const row of [...parser.push('id,password\n1,hunter2\n2,"x,y"\n'), ...parser.end()]) seen.push(row.fields);
  assert.deepEqual(seen, [
    ['1', ''],
    ['2', ''],
  ]);
});

test('errors name the file, the line and the column, and what to do', async (t) => {
  const dir = tempDir(t);
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const cases: Array<[string, string, RegExp]> = [
    [
      'unclosed.csv',
      'id,name\n1,"ada\n2,bob\n',
      /unclosed\.csv line 2, column 2: a quoted value starts here and is never closed; add the closing quote/,
    ],
    [
      'stray.csv',
      'id,name\n1,ad"a\n',
      /stray\.csv line 2, column 2: a quote inside a value that does not start with one/,
    ],
    [
      'after.csv',
      'id,name\n1,"ada"x\n',
      /after\.csv line 2, column 2: a quoted value must end at its closing quote, but "x" follows it/,
    ],
    [
      'count.csv',
      'id,name\n1,ada\n2,bob,extra\n',
      /count\.csv line 3: 3 fields, but the header has 2 columns; quote a value that contains a comma/,
    ],
    ['short.csv', 'id,name\n1\n', /short\.csv line 2: 1 fields, but the header has 2 columns/],
    ['dup.csv', 'id,name,ID\n', /dup\.csv line 1, column 3: column "ID" appears twice \(also column 1\); rename one/],
    ['noname.csv', 'id,name,\n1,a,\n', /noname\.csv line 1, column 3: the header names no column here/],
    ['empty.csv', '', /empty\.csv: the file is empty; a CSV file needs a header line/],
    ['bad.jsonl', '{"id": 1}\n{"id": 2,\n', /bad\.jsonl line 2: not valid JSON/],
    ['array.json', '[{"id": 1}]\n', /array\.json line 1: each line must be one JSON object .*not a JSON array/],
    ['scalar.jsonl', '{"id": 1}\n42\n', /scalar\.jsonl line 2: each line must be one JSON object/],
    [
      'pretty.json',
      '[\n  {"id": 1}\n]\n',
      /pretty\.json line 1: not valid JSON .*; write one object per line, not a JSON array/,
    ],
  ];
  for (const [name, text, message] of cases) assert.match(await readError(file(name, text)), message, name);
  assert.match(await readError(join(dir, 'missing.csv')), /missing\.csv: no such file; check the path/);
  assert.match(await readError(dir), /is a directory/);
});

test('a large file is read in chunks: rows and line numbers are right across chunk boundaries', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'big.csv');
  const n = 20_000;
  const lines = ['id,name,price'];
  for (let i = 0; i < n; i++)
    lines.push(i % 7 === 0 ? `${i},"name, ""${i}""\nsecond line",${i}.5` : `${i},name ${i},${i}`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  let count = 0;
  let line = 2;
  for await (const r of readDimensionFile(path)) {
    assert.equal(r.line, line);
    assert.equal(r.values.id, String(count));
    if (count % 7 === 0) assert.equal(r.values.name, `name, "${count}"\nsecond line`);
    line += count % 7 === 0 ? 2 : 1;
    count++;
  }
  assert.equal(count, n);
});

test('readDimensionBatches gives the same records as readDimensionFile, in non-empty batches', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'users.csv');
  const lines = ['id,username'];
  for (let i = 0; i < 30_000; i++) lines.push(`${i},user ${i}`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  const batches: DimensionFileRecord[][] = [];
  for await (const b of readDimensionBatches(path)) batches.push(b);
  assert.ok(batches.length > 1, 'more than one chunk');
  assert.ok(batches.every((b) => b.length > 0));
  const flat = batches.flat().map((r) => ({ line: r.line, values: { ...r.values } }));
  assert.deepEqual(flat, await readAll(path));
  assert.equal(flat.length, 30_000);
});
