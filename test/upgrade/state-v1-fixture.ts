/**
 * The state-v1 fixture: what a release before time-bucketed state (commit 1c3125e, 2026-12-07)
 * left behind after a live embedded run over a generated data set (with disorder, late events,
 * duplicates and malformed lines), stopped once it had read the first half of the input — its
 * log directory and every row of its flowmark tables, with the attribution state as JSON rows in
 * `state` (clicks, pending checkouts, timers, the dedupe set). The input files are kept with it.
 *
 * Made once by running this file with that release checked out (it uses only APIs that release
 * had): `node --test test/upgrade/state-v1-fixture.ts` with FLOWMARK_MAKE_FIXTURE=<dir>; the
 * upgrade test (state-upgrade.test.ts) loads it with `loadStateV1Fixture`.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { SqlClient } from '../../src/connectors/sql/index.ts';
import { sharedPglite } from '../connectors/pglite/pglite-fixtures.ts';
import { importLines, runLiveUntilRead, stores } from '../golden/embedded-runs.ts';
import type { GoldenCase } from '../golden/golden-cases.ts';
import { inputLines } from '../golden/golden-cases.ts';
import { writeDataSet } from '../support/data-set.ts';

export const FIXTURE_DIR = join(import.meta.dirname, 'state-v1');
/** The tables of the fixture, in the order they are loaded. */
export const FIXTURE_TABLES = [
  'checkpoints',
  'state',
  'attributed_checkouts',
  'attribution_credits',
  'dead_letters',
  'analytics_minute',
] as const;

/** The fixture's input as a case of the embedded runs (its expected rows: an uninterrupted run's). */
export function fixtureCase(dir = FIXTURE_DIR): GoldenCase {
  return {
    name: 'state-v1',
    dir,
    description: 'a generated data set, stopped midway by a release that kept state as JSON rows',
    flags: {},
    input: { events: join(dir, 'events.jsonl') },
    users: join(dir, 'users.csv'),
    products: join(dir, 'products.csv'),
    expected: [],
    expectedDeadLetters: [],
  };
}

/** The first half of the case's input, which the fixture's run read; the test imports the rest. */
export function fixtureHalves(c: GoldenCase): [string[], string[]] {
  const lines = inputLines(c);
  const half = Math.ceil(lines.length / 2);
  return [lines.slice(0, half), lines.slice(half)];
}

/** Loads the fixture's rows into `schema` (created, migrated, empty) and its log into `logDir`. */
export async function loadStateV1Fixture(client: SqlClient, schema: string, logDir: string): Promise<void> {
  cpSync(join(FIXTURE_DIR, 'log'), logDir, { recursive: true });
  const rows = JSON.parse(readFileSync(join(FIXTURE_DIR, 'rows.json'), 'utf8')) as Record<string, unknown[]>;
  for (const table of FIXTURE_TABLES) {
    await client.query(`DELETE FROM ${schema}.${table}`);
    // Row by row, each value as text that the column's type parses: JSON values keep their
    // \u0000 escapes (state keys hold U+0000), which json_populate_recordset refuses.
    for (const row of (rows[table] ?? []) as Array<Record<string, unknown>>) {
      const cols = Object.keys(row);
      const params = cols.map((k) => {
        const v = row[k];
        return v === null ? null : typeof v === 'object' ? JSON.stringify(v) : String(v);
      });
      await client.query(
        `INSERT INTO ${schema}.${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
        params,
      );
    }
  }
  // The ids of dead letters were inserted as they were: their sequence goes on after them.
  await client.query(
    `SELECT setval(pg_get_serial_sequence('${schema}.dead_letters', 'id'), coalesce(max(id), 0) + 1, false) FROM ${schema}.dead_letters`,
  );
}

const out = process.env.FLOWMARK_MAKE_FIXTURE;
if (out !== undefined) {
  test('make the state-v1 fixture', { timeout: 120_000 }, async (t) => {
    mkdirSync(out, { recursive: true });
    writeDataSet(out, 1500, 5);
    const c = fixtureCase(out);
    const client = await sharedPglite();
    const s = await stores(t, c, client);
    const [first] = fixtureHalves(c);
    const counts = await importLines(t, s, first);
    await runLiveUntilRead(s, c, counts.clicks + counts.checkouts);
    cpSync(s.log.dir, join(out, 'log'), { recursive: true });
    const dump: Record<string, unknown[]> = {};
    for (const table of FIXTURE_TABLES) {
      const { rows } = await client.query<{ rows: unknown[] | null }>(
        `SELECT json_agg(t) AS rows FROM ${s.schema}.${table} t`,
      );
      dump[table] = rows[0]?.rows ?? [];
    }
    writeFileSync(join(out, 'rows.json'), `${JSON.stringify(dump, null, 1)}\n`);
  });
}
