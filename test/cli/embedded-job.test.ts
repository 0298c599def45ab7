/**
 * Embedded mode end to end: `import` a generated data set into a data dir (log + PGlite), `run
 * --drain`, and compare the tables with a `replay` of the same files. Then run again: nothing
 * changes (the checkpoint holds the end of the log).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runImport } from '../../src/cli/commands/import.ts';
import { runReplay } from '../../src/cli/commands/replay.ts';
import { runRun } from '../../src/cli/commands/run.ts';
import { openEmbedded } from '../../src/cli/modes/embedded.ts';
import { writeDataSet } from '../support/data-set.ts';

const attribution = { model: 'first_click', scope: 'product', lookback: '1h', maxOutOfOrderness: '15s' };

test('import + run --drain into PGlite writes the rows a replay writes, once, all final', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-embedded-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeDataSet(dir, 8_000, 3);
  const files = { users: join(dir, 'users.csv'), products: join(dir, 'products.csv') };
  await runReplay({
    events: join(dir, 'events.jsonl'),
    ...files,
    out: join(dir, 'replay.jsonl'),
    deadLetter: join(dir, 'replay-dead.jsonl'),
    ...attribution,
    halfLife: '15m',
    quiet: true,
  });
  const dataDir = join(dir, 'data');
  await runImport({ dataDir, events: join(dir, 'events.jsonl'), ...files });
  await runRun({ dataDir, drain: true, ...attribution });
  await runRun({ dataDir, drain: true, ...attribution }); // a second drain finds nothing new

  const expected = readFileSync(join(dir, 'replay.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const stores = await openEmbedded(dataDir);
  try {
    const { rows } = await stores.db.query<Record<string, unknown>>(
      `SELECT checkout_id, click_id, click_source, order_value::float8 AS order_value, revenue::float8 AS revenue,
              profit::float8 AS profit, user_name, product_category, is_final
         FROM flowmark.attributed_checkouts ORDER BY checkout_id`,
    );
    const byId = new Map(expected.map((r) => [r.checkout_id, r]));
    assert.equal(rows.length, expected.length, 'one row per checkout');
    for (const row of rows) {
      const e = byId.get(row.checkout_id) as Record<string, unknown>;
      assert.ok(e, `${row.checkout_id} is in the replay`);
      for (const f of [
        'click_id',
        'click_source',
        'order_value',
        'revenue',
        'profit',
        'user_name',
        'product_category',
      ]) {
        assert.deepEqual(row[f], e[f], `${row.checkout_id}.${f}`);
      }
      assert.equal(row.is_final, true);
    }
    const dead = await stores.db.query<{ reason: string; n: number }>(
      'SELECT reason, count(*)::int AS n FROM flowmark.dead_letters GROUP BY reason ORDER BY reason',
    );
    const replayDead = new Map<string, number>();
    for (const l of readFileSync(join(dir, 'replay-dead.jsonl'), 'utf8').trim().split('\n')) {
      const reason = (JSON.parse(l) as { reason: string }).reason;
      replayDead.set(reason, (replayDead.get(reason) ?? 0) + 1);
    }
    // Bad lines and duplicates are the same. Fewer events are late here: the log has 4 partitions
    // and the watermark is the minimum over them (§3.2), while a replay reads one ordered file.
    const embeddedDead = new Map(dead.rows.map((r) => [r.reason, r.n]));
    for (const [reason, n] of replayDead) {
      if (reason === 'late') assert.ok((embeddedDead.get(reason) ?? 0) <= n, 'late: at most as many as a replay');
      else assert.equal(embeddedDead.get(reason), n, `dead letters ${reason}`);
    }
    const minutes = await stores.db.query<{ checkouts: number }>(
      "SELECT sum(checkouts)::int AS checkouts FROM flowmark.analytics_minute WHERE dimension = 'total'",
    );
    assert.equal(minutes.rows[0]?.checkouts, rows.length, 'the analytics count every final checkout once');
  } finally {
    await stores.close();
  }
});
