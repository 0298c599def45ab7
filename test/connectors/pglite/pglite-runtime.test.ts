/**
 * The runtime end to end on the embedded database: a pipeline whose sink ids are flowmark's
 * table names, checkpointing into PGlite on disk, crashed several times and resumed each time
 * with a NEW database client on the same directory. The tables must equal those of a run that
 * never crashed (ARCHITECTURE §3.7): no row lost, none doubled, every upsert row final.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AttributedCheckoutRow } from '../../../src/attribution/output-rows.ts';
import { outputMigrations } from '../../../src/attribution/output-schema.ts';
import { MemorySource } from '../../../src/connectors/memory/memory-source.ts';
import { openPgliteDatabase } from '../../../src/connectors/pglite/pglite-database.ts';
import { SqlCommitter } from '../../../src/connectors/sql/sql-committer.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import {
  ManualClock,
  Pipeline,
  Rejected,
  Runtime,
  type Stream,
  tumbling,
  type ValueState,
} from '../../../src/engine/index.ts';
import { checkoutRow, SINKS, tableRows } from '../sql/sql-fixtures.ts';

interface Order {
  id: string;
  user: string;
  t: number;
  amount: number;
  source: string | null;
}

const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const deadLetter = (source: string, reason: string, raw: string, detail: string) => ({
  source,
  reason,
  raw,
  detail,
  received_at: iso(T0),
});

/** An id too long for the primary-key index: 3 000 characters that do not compress. */
function longId(rand: () => number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return Array.from({ length: 3000 }, () => alphabet[Math.floor(rand() * 64)]).join('');
}

/**
 * 240 lines: orders out of order within the bound, duplicates, malformed lines, late orders, and
 * two orders whose rows the database refuses (an amount beyond numeric(14,2), an id too long for
 * its index): nothing in this pipeline checks them, as validation may miss a value (issue 12).
 */
function lines(): string[] {
  let seed = 7;
  const rand = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const out: string[] = [];
  for (let i = 0; i < 240; i++) {
    const r = rand();
    if (i === 100 || i === 150) {
      const poison = i === 100 ? { id: 'o100', amount: 1e15 } : { id: longId(rand), amount: 12.5 };
      out.push(JSON.stringify({ ...poison, user: `u${i % 7}`, t: T0 + i * 3_000, source: 'email' }));
    } else if (r < 0.05) out.push(`{"id": "broken-${i}"`);
    else if (r < 0.1 && i > 10)
      out.push(out[Math.floor(rand() * out.length)] as string); // a duplicate delivery
    else {
      const late = r > 0.97 ? 120_000 : 0;
      const t = T0 + i * 3_000 - Math.floor(rand() * 10_000) - late;
      const source = rand() < 0.3 ? null : ['google_ads', 'email', 'direct'][Math.floor(rand() * 3)];
      out.push(
        JSON.stringify({ id: `o${i}`, user: `u${i % 7}`, t, amount: Math.round(rand() * 10_000) / 100, source }),
      );
    }
  }
  return out;
}

type Keyed = { kind: 'row'; row: AttributedCheckoutRow } | { kind: 'dup'; raw: string };

function pipeline(source: MemorySource<string>): Pipeline {
  const p = new Pipeline();
  const { out, invalid } = p.source<string, Order & { raw: string }>('orders', {
    reader: source,
    decode: (raw) => {
      try {
        return { ...(JSON.parse(raw) as Order), raw };
      } catch {
        return new Rejected('malformed_json', 'not JSON');
      }
    },
    eventTimeMs: (o) => o.t,
    maxOutOfOrdernessMs: 15_000,
  });
  const row = (o: Order, isFinal: boolean) =>
    checkoutRow(o.id, {
      user_id: o.user,
      checkout_time: iso(o.t),
      order_value: o.amount,
      revenue: o.amount,
      profit: Math.round(o.amount * 15) / 100,
      click_id: o.source === null ? null : `click-${o.id}`,
      click_source: o.source,
      click_time: o.source === null ? null : iso(o.t - 60_000),
      is_final: isFinal,
    });
  const { out: keyed, late } = out
    .keyBy((o) => o.id)
    .process<Keyed, { seen: ValueState<Order> }>('checkout', {
      state: (s) => ({ seen: s.value<Order>('seen') }),
      onElement: (o, ctx, st) => {
        if (st.seen.get() !== undefined) return ctx.emit({ kind: 'dup', raw: o.raw });
        const { raw: _raw, ...order } = o;
        st.seen.set(order);
        ctx.registerTimer(o.t);
        ctx.emit({ kind: 'row', row: row(o, false) });
      },
      onTimer: (_t, ctx, st) => ctx.emit({ kind: 'row', row: row(st.seen.get() as Order, true) }),
    });
  const rows = keyed.flatMap('rows', (k) => (k.kind === 'row' ? [k.row] : []));
  rows.sink('attributed_checkouts');
  const final = rows.filter('final', (r) => r.is_final);
  final
    .flatMap('credits', (r) =>
      r.click_id === null ? [] : [{ checkout_id: r.checkout_id, click_id: r.click_id, model: 'linear', credit: 1 }],
    )
    .sink('attribution_credits');
  const { out: minutes, late: lateFacts } = final
    .flatMap('facts', (r) => [
      { key: 'total\u0000all', revenue: r.revenue ?? 0 },
      { key: `source\u0000${r.click_source ?? 'none'}`, revenue: r.revenue ?? 0 },
    ])
    .keyBy((f) => f.key)
    .window('minute', tumbling(60_000), {
      create: () => ({ n: 0, cents: 0 }),
      add: (a, f) => ({ n: a.n + 1, cents: a.cents + Math.round(f.revenue * 100) }),
      merge: (a, b) => ({ n: a.n + b.n, cents: a.cents + b.cents }),
      result: (a) => a,
    });
  minutes
    .map('analytics', (w) => {
      const [dimension, value] = w.key.split('\u0000') as [string, string];
      const revenue = w.value.cents / 100;
      return {
        window_start: iso(w.windowStartMs),
        shard: 'all',
        dimension,
        value,
        checkouts: w.value.n,
        revenue,
        profit: revenue / 10,
      };
    })
    .sink('analytics_minute');
  const dead: Stream<ReturnType<typeof deadLetter>>[] = [
    invalid.map('invalid', (r) => deadLetter('orders', r.reason, r.raw, r.detail)),
    late.map('late', (o) => deadLetter('orders', 'late', o.raw, 'behind the watermark')),
    keyed.flatMap('dups', (k) => (k.kind === 'dup' ? [deadLetter('orders', 'duplicate', k.raw, 'seen before')] : [])),
    lateFacts.map('late-facts', (f) => deadLetter('analytics', 'late', f.key, 'fact behind the watermark')),
  ];
  const [first, ...rest] = dead as [Stream<ReturnType<typeof deadLetter>>, ...Stream<ReturnType<typeof deadLetter>>[]];
  p.union('dead', first, ...rest).sink('dead_letters');
  return p;
}

/** One run of the pipeline in `schema` of the database in `dir`, with a database client of its own. */
async function runOnce(
  dir: string,
  schema: string,
  failAfterRecords?: number,
): Promise<{ crashed: boolean; checkpointId: number }> {
  const db = await openPgliteDatabase(dir, { schema, migrations: outputMigrations(schema) });
  try {
    // The committer's clock stamps the dead letters of refused rows: the same in every run.
    const committer = new SqlCommitter(db, { schema, job: 'e2e', sinks: SINKS, clock: new ManualClock(T0) });
    const source = MemorySource.of(lines(), failAfterRecords === undefined ? {} : { failAfterRecords });
    const runtime = new Runtime(pipeline(source), {
      committer,
      clock: new ManualClock(T0),
      checkpointEveryRecords: 13,
    });
    try {
      await runtime.run();
      return { crashed: false, checkpointId: runtime.checkpointId };
    } catch (err) {
      if (!isFlowmarkError(err, 'FM_SOURCE_FAILED')) throw err;
      return { crashed: true, checkpointId: runtime.checkpointId };
    }
  } finally {
    await db.close();
  }
}

async function tables(dir: string, schema: string) {
  const db = await openPgliteDatabase(dir, { schema, migrations: outputMigrations(schema) });
  try {
    return {
      attributed_checkouts: await tableRows(db, schema, 'attributed_checkouts', 'checkout_id', ['updated_at']),
      attribution_credits: await tableRows(db, schema, 'attribution_credits', 'checkout_id, click_id, model'),
      analytics_minute: await tableRows(db, schema, 'analytics_minute', 'window_start, dimension, value'),
      dead_letters: await tableRows(db, schema, 'dead_letters', 'source, reason, raw', ['id']),
    };
  } finally {
    await db.close();
  }
}

test('§3.7 crashed three times and resumed with a new PGlite client each time: the tables equal an uninterrupted run', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-pglite-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const clean = await runOnce(dir, 'clean');
  assert.equal(clean.crashed, false);
  const expected = await tables(dir, 'clean');
  assert.ok(expected.attributed_checkouts.length > 150, `${expected.attributed_checkouts.length} checkouts`);
  assert.ok(expected.attributed_checkouts.every((r) => r.is_final === true));
  assert.ok(expected.attribution_credits.length > 50);
  assert.ok(expected.analytics_minute.length > 10);
  const reasons = new Set(expected.dead_letters.map((r) => r.reason));
  assert.deepEqual([...reasons].sort(), ['duplicate', 'late', 'malformed_json', 'rejected_by_database']);
  // The rows the database refused are dead letters with its message, and only they are missing.
  const refused = expected.dead_letters.filter((r) => r.reason === 'rejected_by_database');
  const ids = new Set(expected.attributed_checkouts.map((r) => r.checkout_id));
  assert.ok(!ids.has('o100') && [...ids].every((id) => String(id).length < 100));
  const about = (pattern: RegExp) => refused.filter((r) => pattern.test(String(r.detail))).map((r) => r.source);
  // Each row is refused where it is written: a provisional row and its final one, when they fall
  // in different checkpoints, are two dead letters.
  assert.deepEqual(new Set(about(/numeric field overflow/)), new Set(['attributed_checkouts']));
  assert.deepEqual(new Set(about(/index row size/)), new Set(['attributed_checkouts', 'attribution_credits']));
  assert.equal(refused.length, about(/numeric field overflow|index row size/).length);

  let progress = 0;
  for (const crashAfter of [41, 77, 19]) {
    const run = await runOnce(dir, 'crashy', crashAfter);
    assert.equal(run.crashed, true);
    assert.ok(run.checkpointId > progress, `a crashed run committed checkpoints (${run.checkpointId})`);
    progress = run.checkpointId;
  }
  const resumed = await runOnce(dir, 'crashy');
  assert.equal(resumed.crashed, false);
  assert.deepEqual(await tables(dir, 'crashy'), expected);
});
