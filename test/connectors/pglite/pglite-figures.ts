/**
 * Figures of the embedded database (not a test: prints, never fails on time). Run:
 *   node test/connectors/pglite/pglite-figures.ts [rows=10000] [repeats=5]
 * - opening: first open of a new data directory (initdb + migrations), and a reopen;
 * - a checkpoint of `rows` attributed_checkouts rows through SqlCommitter (one unnest statement),
 *   as inserts and as updates of the same keys, next to the same rows inserted one statement per
 *   row in one transaction (the naive way), on disk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { outputMigrations, SINK_TABLES } from '../../../src/attribution/output-schema.ts';
import { openPgliteDatabase } from '../../../src/connectors/pglite/pglite-database.ts';
import { SqlCommitter } from '../../../src/connectors/sql/sql-committer.ts';
import { unnestStatement } from '../../../src/connectors/sql/unnest-writer.ts';
import { checkoutRow, SINKS } from '../sql/sql-fixtures.ts';

const rows = Number(process.argv[2] ?? 10_000);
const repeats = Number(process.argv[3] ?? 5);
const migrations = outputMigrations('flowmark');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const dirs: string[] = [];
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'flowmark-figures-'));
  dirs.push(d);
  return d;
};

try {
  const first: number[] = [];
  const reopen: number[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = newDir();
    const a = await openPgliteDatabase(dir, { migrations });
    first.push(a.openMs);
    await a.close();
    const b = await openPgliteDatabase(dir, { migrations });
    reopen.push(b.openMs);
    await b.close();
  }
  console.log(
    `open, new data dir (initdb + migrations): median ${median(first).toFixed(0)} ms of ${first.map((x) => x.toFixed(0)).join(', ')}`,
  );
  console.log(
    `open, existing data dir:                 median ${median(reopen).toFixed(0)} ms of ${reopen.map((x) => x.toFixed(0)).join(', ')}`,
  );

  const db = await openPgliteDatabase(dirs[0] as string, { migrations });
  const committer = new SqlCommitter(db, { job: 'figures', sinks: SINKS });
  await committer.load();
  let id = 0;
  const commit = async (keyPrefix: string) => {
    const batch = Array.from({ length: rows }, (_, j) =>
      checkoutRow(`${keyPrefix}${j}`, { quantity: id + 1, is_final: true }),
    );
    const started = performance.now();
    await committer.commit({
      id: ++id,
      outputs: new Map([['attributed_checkouts', batch]]),
      snapshot: {
        version: 1,
        checkpointId: id,
        kind: id === 1 ? 'full' : 'delta',
        meta: { sources: {}, nodes: {} },
        entries: [],
      },
    });
    return performance.now() - started;
  };
  const inserts: number[] = [];
  const updates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    inserts.push(await commit(`new${r}-`));
    updates.push(await commit('new0-'));
  }
  const perS = (ms: number) => Math.round(rows / (ms / 1000)).toLocaleString('en');
  console.log(`checkpoint of ${rows} attributed_checkouts rows via unnest (on disk):`);
  console.log(`  new keys:      median ${median(inserts).toFixed(0)} ms = ${perS(median(inserts))} rows/s`);
  console.log(
    `  existing keys: median ${median(updates).toFixed(0)} ms = ${perS(median(updates))} rows/s (upsert updates)`,
  );

  const table = SINK_TABLES.attributed_checkouts;
  const oneRow = unnestStatement('flowmark', table).replace(
    /SELECT \* FROM unnest\((.*)\) ON CONFLICT/,
    (_m, arrays: string) => `VALUES (${arrays.replaceAll('[]', '')}) ON CONFLICT`,
  );
  const naive: number[] = [];
  for (let r = 0; r < Math.min(repeats, 3); r++) {
    const batch = Array.from({ length: rows }, (_, j) => checkoutRow(`row${r}-${j}`));
    const started = performance.now();
    await db.transaction(async (tx) => {
      for (const row of batch)
        await tx.query(
          oneRow,
          table.columns.map((c) => (row as unknown as Record<string, unknown>)[c.name]),
        );
    });
    naive.push(performance.now() - started);
  }
  console.log(
    `  one INSERT per row, one transaction: median ${median(naive).toFixed(0)} ms = ${perS(median(naive))} rows/s`,
  );
  console.log(`  unnest / per-row: ${(median(naive) / median(inserts)).toFixed(1)}x`);
  await db.close();
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
