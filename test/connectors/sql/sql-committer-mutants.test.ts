/**
 * Cases of SqlCommitter that kill mutants which survived its contract (committer-contract.ts; see
 * docs/testing.md, "Mutation testing"), on a PostgreSQL server and on PGlite: a job row gone
 * under a running instance, a table that fails while rows are being set aside, batches in the
 * setting-aside transaction, and what the errors say.
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import type { Checkout } from '../../../src/attribution/event-types.ts';
import { type AttributedCheckoutRow, attributedRow } from '../../../src/attribution/output-rows.ts';
import type { SinkTables } from '../../../src/connectors/sql/sink-tables.ts';
import type { SqlClient } from '../../../src/connectors/sql/sql-client.ts';
import { SqlCommitter } from '../../../src/connectors/sql/sql-committer.ts';
import type { Checkpoint } from '../../../src/engine/checkpoint.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';
import { checkout as checkoutEvent } from '../../attribution/attribution-fixtures.ts';
import { sharedPglite } from '../pglite/pglite-fixtures.ts';
import { sharedServerClient, withServer } from '../postgres/pg-fixtures.ts';
import { count, freshSchema, SINKS, tableRows } from './sql-fixtures.ts';

function checkpoint(id: number, outputs: Record<string, unknown[]> = {}): Checkpoint {
  return {
    id,
    outputs: new Map(Object.keys(SINKS).map((sink) => [sink, outputs[sink] ?? []])),
    snapshot: {
      version: 1,
      checkpointId: id,
      kind: id === 1 ? 'full' : 'delta',
      meta: { sources: {}, nodes: {} },
      entries: [{ node: 'n', table: 't', key: 'k', value: id }],
    },
  };
}

/** An attributed_checkouts row as the pipeline makes it (it carries the line `checkout <id>`). */
function row(id: string, over: Partial<Checkout> = {}): AttributedCheckoutRow {
  const event = checkoutEvent(id, Date.UTC(2024, 4, 1, 10), over);
  const product = { productId: 'p1', name: 'Lamp', category: 'home', price: 19.99, commissionRate: 0.1 };
  return attributedRow(
    { result: { checkout: event, credits: [], isFinal: true }, user: undefined, product },
    'first_click',
  );
}

/** A row the database refuses for its data (beyond numeric(14,2)): it sends the commit down the setting-aside path. */
const refusedRow = (id: string) => Object.assign(row(id), { order_value: 1e15 });

const letter = (raw: string) => ({
  source: 'clicks',
  reason: 'malformed_json',
  raw,
  detail: 'not JSON',
  received_at: '2024-05-01T10:00:00.000Z',
});

const minute = {
  window_start: '2024-05-01T10:00:00.000Z',
  shard: 'all',
  dimension: 'total',
  value: 'all',
  checkouts: 1,
  revenue: 10,
  profit: 1,
};

function cases(label: string, client: () => Promise<SqlClient>): void {
  const setup = async (t: TestContext, options: { batchRows?: number; sinks?: SinkTables } = {}) => {
    const c = await client();
    const schema = await freshSchema(t, c);
    const committer = new SqlCommitter(c, { schema, job: 'job', sinks: options.sinks ?? SINKS, ...options });
    return { client: c, schema, committer };
  };

  describe(`SqlCommitter (mutation survivors): ${label}`, () => {
    test('a job row deleted under a running instance fences it: FM_FENCED, "epoch gone", nothing written', async (t) => {
      const { client: c, schema, committer } = await setup(t);
      await committer.load();
      await c.query(`DELETE FROM ${schema}.checkpoints WHERE job = 'job'`);
      await assert.rejects(
        committer.commit(checkpoint(1, { dead_letters: [letter('x')] })),
        (err) => isFlowmarkError(err, 'FM_FENCED') && /epoch gone/.test(err.message),
      );
      assert.equal(await count(c, schema, 'dead_letters'), 0);
      assert.equal(await count(c, schema, 'state'), 0);
    });

    test('while rows are set aside, an error that is not about the data fails the checkpoint (it is never a dead letter)', async (t) => {
      const { client: c, schema, committer } = await setup(t);
      await committer.load();
      // The first transaction fails on the refused row; the second, isolating it, then meets a
      // table that is gone (42P01): a fault of the setup, not of a row.
      await c.query(`DROP TABLE ${schema}.analytics_minute`);
      await assert.rejects(
        committer.commit(
          checkpoint(7, { attributed_checkouts: [row('k1'), refusedRow('k2')], analytics_minute: [minute] }),
        ),
        (err) =>
          isFlowmarkError(err, 'FM_SINK_FAILED') &&
          /checkpoint 7 of job "job" was not committed/.test(err.message) &&
          /analytics_minute/.test(err.message),
      );
      assert.equal(await count(c, schema, 'attributed_checkouts'), 0);
      assert.equal(await count(c, schema, 'dead_letters'), 0, 'no dead letter for a missing table');
      assert.equal(await count(c, schema, 'state'), 0);
    });

    test('rows set aside are written in batches of batchRows, each row once', async (t) => {
      const { client: c, schema, committer } = await setup(t, { batchRows: 2 });
      await committer.load();
      const letters = ['a', 'b', 'c', 'd', 'e'].map(letter);
      await committer.commit(
        checkpoint(1, { attributed_checkouts: [row('k1'), refusedRow('k2'), row('k3')], dead_letters: letters }),
      );
      const rows = await tableRows(c, schema, 'dead_letters', 'id', ['id', 'received_at']);
      assert.deepEqual(
        rows.map((r) => [r.reason, r.raw]),
        [
          ['malformed_json', 'a'],
          ['malformed_json', 'b'],
          ['malformed_json', 'c'],
          ['malformed_json', 'd'],
          ['malformed_json', 'e'],
          ['rejected_by_database', 'checkout k2'],
        ],
      );
      assert.deepEqual(
        (await tableRows(c, schema, 'attributed_checkouts', 'checkout_id')).map((r) => r.checkout_id),
        ['k1', 'k3'],
      );
    });

    test('a refused dead letter of a refused row: the error says which table to check against the migrations', async (t) => {
      const sinks: SinkTables = {
        ...SINKS,
        dead_letters: {
          ...(SINKS.dead_letters as NonNullable<SinkTables[string]>),
          fromRefusedRow: () => ({ ...letter('?'), received_at: 'never' }),
        },
      };
      const { committer } = await setup(t, { sinks });
      await committer.load();
      await assert.rejects(
        committer.commit(checkpoint(1, { attributed_checkouts: [refusedRow('k1')] })),
        (err) =>
          isFlowmarkError(err, 'FM_SINK_FAILED') &&
          /check table dead_letters against flowmark's migrations/.test(err.message),
      );
    });
  });
}

withServer('SqlCommitter (mutation survivors)', (url) => {
  const server = sharedServerClient(url);
  cases('PostgreSQL server', async () => server);
});
const pglite = sharedPglite();
cases('PGlite (in memory)', () => pglite);

test('commit() before load() is refused, saying that load() takes the epoch', async () => {
  const committer = new SqlCommitter({} as SqlClient, { job: 'j', sinks: SINKS });
  await assert.rejects(
    committer.commit(checkpoint(1)),
    (err) => isFlowmarkError(err, 'FM_RUNTIME_STATE') && /job "j": commit\(\) before load\(\)/.test(err.message),
  );
});
