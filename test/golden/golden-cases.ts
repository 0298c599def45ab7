/**
 * The golden cases (test/golden/<case>/): each folder holds the input of a `flowmark replay`
 * (input.jsonl, or clicks.jsonl with checkouts.jsonl), users.csv, products.csv, case.json
 * (description and extra flags) and the expected rows (expected.jsonl: one object per checkout,
 * in output order, listing the fields that matter for the case) and optionally
 * expected-dead-letters.jsonl (reason, and a click or checkout id the raw line must contain).
 *
 * Every case runs in several setups, as bytewax runs every dataflow test in several execution
 * setups: a replay (golden.test.ts), and the embedded mode — import into a log + PGlite and
 * `run --drain`, and a run stopped after part of the input and resumed (golden-embedded.test.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GoldenCase {
  name: string;
  dir: string;
  description: string;
  flags: Record<string, string>;
  /** Input files: `events`, or `clicks` and `checkouts`. */
  input: { events: string } | { clicks: string; checkouts: string };
  users: string;
  products: string;
  expected: Record<string, unknown>[];
  expectedDeadLetters: Record<string, unknown>[];
  /**
   * Where the embedded mode differs from a replay by design, and why (case.json `embedded`):
   * lateness is judged per log partition there (4 per topic, keyed by user; the watermark is the
   * minimum over them, ARCHITECTURE §3.2), where a replay reads one ordered file. The embedded
   * runs then expect expected-embedded.jsonl and expected-embedded-dead-letters.jsonl instead.
   */
  embedded?: { why: string; expected: Record<string, unknown>[]; expectedDeadLetters: Record<string, unknown>[] };
}

export const readJsonl = (path: string): Record<string, unknown>[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

const here = new URL('.', import.meta.url).pathname;

/** Every case, sorted by name. */
export function goldenCases(): GoldenCase[] {
  return readdirSync(here, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const dir = join(here, name);
      const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as {
        description: string;
        flags: Record<string, string>;
        embedded?: string;
      };
      return {
        name,
        dir,
        description: meta.description,
        flags: meta.flags,
        input: existsSync(join(dir, 'input.jsonl'))
          ? { events: join(dir, 'input.jsonl') }
          : { clicks: join(dir, 'clicks.jsonl'), checkouts: join(dir, 'checkouts.jsonl') },
        users: join(dir, 'users.csv'),
        products: join(dir, 'products.csv'),
        expected: readJsonl(join(dir, 'expected.jsonl')),
        expectedDeadLetters: readJsonl(join(dir, 'expected-dead-letters.jsonl')),
        ...(meta.embedded === undefined
          ? {}
          : {
              embedded: {
                why: meta.embedded,
                expected: readJsonl(join(dir, 'expected-embedded.jsonl')),
                expectedDeadLetters: readJsonl(join(dir, 'expected-embedded-dead-letters.jsonl')),
              },
            }),
      };
    });
}

/** The case as the embedded mode must give it (see {@link GoldenCase.embedded}). */
export function asEmbedded(c: GoldenCase): GoldenCase {
  return c.embedded === undefined
    ? c
    : { ...c, expected: c.embedded.expected, expectedDeadLetters: c.embedded.expectedDeadLetters };
}

/** The lines of a case's input files, in file order (clicks before checkouts). */
export function inputLines(c: GoldenCase): string[] {
  const files = 'events' in c.input ? [c.input.events] : [c.input.clicks, c.input.checkouts];
  return files.flatMap((f) => readFileSync(f, 'utf8').split('\n'));
}

/**
 * Checks rows against the expected ones, field by field. `ordered`: in the expected output order
 * (a replay's file); otherwise matched by checkout_id (a table). Numbers and times may come as
 * text from a database: a number compares by value, an ISO time by instant.
 */
export function assertRows(rows: Record<string, unknown>[], c: GoldenCase, { ordered }: { ordered: boolean }): void {
  const ids = (list: Record<string, unknown>[]) => list.map((r) => String(r.checkout_id));
  if (ordered) assert.deepEqual(ids(rows), ids(c.expected), 'one row per checkout, in output order');
  else assert.deepEqual(ids(rows).sort(), ids(c.expected).sort(), 'one row per checkout');
  for (const e of c.expected) {
    const row = rows.find((r) => String(r.checkout_id) === e.checkout_id) as Record<string, unknown>;
    for (const [field, want] of Object.entries(e)) {
      const got = row[field];
      const at = `${e.checkout_id}.${field}`;
      if (typeof want === 'number' && got !== null) assert.equal(Number(got), want, at);
      else if (typeof want === 'string' && ISO_TIME.test(want) && typeof got === 'string') {
        assert.equal(Date.parse(got), Date.parse(want), `${at}: ${got} is ${want}`);
      } else assert.deepEqual(got, want, at);
    }
    assert.equal(row.is_final, true, `${e.checkout_id}: every row is final at the end`);
  }
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/;

/**
 * Checks dead letters against the expected ones: the same reasons, and for those naming an id,
 * a dead letter of that reason whose raw line holds it.
 */
export function assertDeadLetters(dead: Record<string, unknown>[], c: GoldenCase): void {
  const expected = c.expectedDeadLetters;
  assert.deepEqual(
    dead.map((d) => d.reason).sort(),
    expected.map((d) => d.reason).sort(),
    `dead letters: ${JSON.stringify(dead)}`,
  );
  for (const e of expected) {
    const id = (e.raw_click_id ?? e.raw_checkout_id) as string | undefined;
    if (id === undefined) continue;
    assert.ok(
      dead.some((d) => d.reason === e.reason && String(d.raw).includes(id)),
      `a ${e.reason} dead letter with the raw line of ${id}`,
    );
  }
  for (const d of dead) assert.equal(typeof d.raw, 'string', 'the raw line is kept');
}
