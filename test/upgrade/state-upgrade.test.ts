/**
 * The one-time upgrade of attribution state kept as JSON rows (`flowmark.state`, releases before
 * time-bucketed state) to time-bucketed tables checkpointed as chunks (issue 15 item 4): a
 * database and log directory written by that release (the state-v1 fixture, see
 * state-v1-fixture.ts) resume under this release and give exactly the output of an
 * uninterrupted run of this release over the same input; the JSON rows of the upgraded tables
 * are gone after the first checkpoint, and nothing else is.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { loadProducts, loadUsers } from '../../src/cli/dimension-loading.ts';
import { type JobStores, runAttribution } from '../../src/cli/modes/embedded.ts';
import { LogDirectory } from '../../src/connectors/log/index.ts';
import { type SqlClient, upsertProducts, upsertUsers } from '../../src/connectors/sql/index.ts';
import { systemClock } from '../../src/engine/index.ts';
import { sharedPglite } from '../connectors/pglite/pglite-fixtures.ts';
import { freshSchema } from '../connectors/sql/sql-fixtures.ts';
import { importLines, options, runLiveUntilRead, stores } from '../golden/embedded-runs.ts';
import { fixtureCase, fixtureHalves, loadStateV1Fixture } from './state-v1-fixture.ts';

const db = sharedPglite();

/** A fresh schema holding the fixture's rows, and a data dir holding a copy of its log. */
async function upgradedStores(t: TestContext, client: SqlClient): Promise<JobStores> {
  const c = fixtureCase();
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-state-upgrade-'));
  const schema = await freshSchema(t, client, 'fm_upgrade');
  await loadStateV1Fixture(client, schema, join(dir, 'log'));
  const log = LogDirectory.open(join(dir, 'log'));
  t.after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await upsertUsers(client, [...(await loadUsers(c.users)).values()], { schema });
  await upsertProducts(client, [...(await loadProducts(c.products)).values()], { schema });
  return { log, db: client, schema, where: `PGlite schema ${schema}`, close: async () => {} };
}

async function outputs(s: JobStores) {
  const q = async (sql: string) => (await s.db.query<{ r: string }>(sql)).rows.map((x) => x.r).sort();
  return {
    checkouts: await q(`SELECT (to_jsonb(t) - 'updated_at')::text AS r FROM ${s.schema}.attributed_checkouts t`),
    deadLetters: await q(`SELECT json_build_array(source, reason, raw)::text AS r FROM ${s.schema}.dead_letters`),
  };
}

async function stateRows(s: JobStores): Promise<Map<string, number>> {
  const { rows } = await s.db.query<{ tbl: string; n: number }>(
    `SELECT node || '/' || tbl AS tbl, count(*)::int AS n FROM ${s.schema}.state GROUP BY 1`,
  );
  return new Map(rows.map((r) => [r.tbl, r.n]));
}

test('a database and log written by the release before time-bucketed state resume with the same output', async (t) => {
  const client = await db;
  const c = fixtureCase();
  const [first, second] = fixtureHalves(c);

  // This release, uninterrupted: both halves imported as the fixture's run had them, one drain.
  const fresh = await stores(t, c, client);
  await importLines(t, fresh, first);
  await importLines(t, fresh, second);
  await runAttribution(fresh, { attribution: options(c, false), clock: systemClock, drain: true });
  const expected = await outputs(fresh);
  assert.ok(expected.checkouts.length >= 10, `the data set has checkouts (${expected.checkouts.length})`);

  // The fixture: state as JSON rows of every upgraded kind.
  const old = await upgradedStores(t, client);
  const before = await stateRows(old);
  for (const tbl of ['attribute/clicks', 'attribute/pending', 'attribute/timers', 'dedupe/seen']) {
    assert.ok((before.get(tbl) ?? 0) > 0, `the fixture holds ${tbl} rows (${[...before].join(', ')})`);
  }
  const counts = await importLines(t, old, second);
  // A live run first, stopped once it has read the second half: its state is not empty, and the
  // JSON rows of the upgraded tables went with its first checkpoint.
  await runLiveUntilRead(old, c, counts.clicks + counts.checkouts);
  const after = await stateRows(old);
  for (const tbl of ['attribute/clicks', 'attribute/pending', 'dedupe/seen']) {
    assert.equal(after.get(tbl), undefined, `${tbl} rows left: ${after.get(tbl)}`);
  }
  // Then the drain: the output of the uninterrupted run.
  await runAttribution(old, { attribution: options(c, false), clock: systemClock, drain: true });
  assert.deepEqual(await outputs(old), expected);
});
