/**
 * Issue 12: one click dated 2099 at line 101 of 2 000 events made the 1 900 later events late
 * (2 checkouts out instead of 22): its time moved the watermark to 2099. An event more than
 * max_future_skew (1 h) ahead of processing time is now a dead letter `future_event_time` and
 * never moves a watermark (ARCHITECTURE §3.2).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type ReplayFlags, runReplay } from '../../src/cli/commands/replay.ts';
import { EventGenerator, generateCatalog, productsCsvLines, usersCsvLines } from '../../src/generator/index.ts';

const jsonl = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** 2 000 clean events (2026-03-01, in order), the shop's users and products, in `dir`. */
function dataSet(dir: string): { lines: string[]; flags: (events: string, name: string) => ReplayFlags } {
  const catalog = generateCatalog({ users: 40, products: 10, seed: 3 });
  const lines = [...new EventGenerator(catalog, { events: 2000, seed: 3 }).lines()];
  writeFileSync(join(dir, 'users.csv'), `${[...usersCsvLines(catalog.users)].join('\n')}\n`);
  writeFileSync(join(dir, 'products.csv'), `${[...productsCsvLines(catalog.products)].join('\n')}\n`);
  const flags = (events: string, name: string): ReplayFlags => ({
    events,
    users: join(dir, 'users.csv'),
    products: join(dir, 'products.csv'),
    out: join(dir, `${name}.out.jsonl`),
    deadLetter: join(dir, `${name}.dead.jsonl`),
    model: 'first_click',
    scope: 'product',
    lookback: '1h',
    maxOutOfOrderness: '15s',
    halfLife: '15m',
    quiet: true,
  });
  return { lines, flags };
}

function write(dir: string, name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const futureClick = (eventTime: unknown) =>
  JSON.stringify({
    type: 'click',
    click_id: 'from-the-future',
    user_id: 'u1',
    product_id: 'p1',
    event_time: eventTime,
  });

test('issue 12: one click dated 2099 at line 101 of 2 000 events does not make later events late', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-future-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { lines, flags } = dataSet(dir);
  const clean = write(dir, 'clean.jsonl', lines);
  const poisoned = write(dir, 'poisoned.jsonl', [
    ...lines.slice(0, 100),
    futureClick('2099-06-01T00:00:00Z'),
    ...lines.slice(100),
  ]);

  await runReplay(flags(clean, 'clean'));
  await runReplay(flags(poisoned, 'poisoned'));
  const expected = jsonl(join(dir, 'clean.out.jsonl'));
  assert.ok(expected.length >= 20, `the data set has checkouts to lose (${expected.length})`);
  assert.deepEqual(jsonl(join(dir, 'poisoned.out.jsonl')), expected, 'the same checkouts, attributed alike');

  const dead = jsonl(join(dir, 'poisoned.dead.jsonl'));
  assert.deepEqual(
    dead.map((d) => [d.reason, d.source]),
    [['future_event_time', 'events']],
    'the one dead letter is the future click; no event became late',
  );
  assert.equal(dead[0]?.raw, futureClick('2099-06-01T00:00:00Z'), 'with its raw line');
  assert.match(
    String(dead[0]?.detail),
    /click at 2099-06-01T00:00:00\.000Z is \d+ days ahead of processing time .* more than max_future_skew 1 h/,
  );
});

test('issue 12: years 9999 and +275760 are refused; --max-future-skew off accepts 9999 only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-future-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { lines, flags } = dataSet(dir);
  const input = write(dir, 'far.jsonl', [
    ...lines.slice(0, 50),
    futureClick('9999-12-31T23:59:59.999Z'),
    futureClick(8_640_000_000_000_000), // +275760-09-13T00:00:00Z
    ...lines.slice(50, 200),
  ]);
  await runReplay(flags(input, 'on'));
  assert.deepEqual(
    jsonl(join(dir, 'on.dead.jsonl')).map((d) => [d.reason, JSON.parse(String(d.raw)).event_time]),
    [
      ['future_event_time', '9999-12-31T23:59:59.999Z'],
      ['invalid_event_time', 8_640_000_000_000_000],
    ],
  );

  // Asked for: the check is off, so the year-9999 click is processed (and, as it must, moves the
  // watermark: every later event is late). +275760 is still beyond what can be stored.
  await runReplay({ ...flags(input, 'off'), maxFutureSkew: 'off' });
  const reasons = jsonl(join(dir, 'off.dead.jsonl')).map((d) => d.reason);
  assert.equal(reasons.filter((r) => r === 'future_event_time').length, 0);
  assert.equal(reasons.filter((r) => r === 'invalid_event_time').length, 1);
  assert.ok(reasons.filter((r) => r === 'late').length >= 100, 'later events are late behind year 9999');
});

test('replay --max-future-skew takes a duration or off, and names itself when wrong', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-future-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { lines, flags } = dataSet(dir);
  const input = write(dir, 'in.jsonl', lines.slice(0, 10));
  await assert.rejects(
    runReplay({ ...flags(input, 'x'), maxFutureSkew: 'soon' }),
    /--max-future-skew must be a duration/,
  );
});
