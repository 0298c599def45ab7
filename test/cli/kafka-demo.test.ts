/**
 * `flowmark demo --kafka` as a user runs it against a real broker: the simulated shop produces
 * into Kafka, this process runs the Kafka job with the dashboard; Ctrl-C once the status line
 * shows final rows stops it cleanly, with the rows in the database (PostgreSQL).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { outputMigrations } from '../../src/attribution/output-schema.ts';
import { openPostgresDatabase } from '../../src/connectors/postgres/index.ts';
import { BIN, jobEnv } from '../connectors/postgres/pg-job-fixtures.ts';
import { requireService } from '../support/services.ts';
import { uniqueName } from './kafka-job-fixtures.ts';

test('demo --kafka produces into Kafka, attributes live with the dashboard, and stops cleanly on Ctrl-C', async (t) => {
  const kafka = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  const pg = requireService(t, 'postgres', 'FLOWMARK_TEST_PG_URL');
  if (kafka === undefined || pg === undefined) return;
  const schema = uniqueName('fm_kdemo');
  const prefix = uniqueName('demo');
  const env = jobEnv(pg, schema, {
    FLOWMARK_KAFKA_BOOTSTRAP: kafka,
    FLOWMARK_KAFKA_GROUP: prefix,
    FLOWMARK_KAFKA_TOPICS_CLICKS: `${prefix}_clicks`,
    FLOWMARK_KAFKA_TOPICS_CHECKOUTS: `${prefix}_checkouts`,
    FLOWMARK_CHECKPOINT_INTERVAL: '250ms',
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'fm-kdemo-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'demo', '--rate', '2000', '--data-dir', dataDir], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stopped = false;
    const guard = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = [...out.matchAll(/(\d+) final rows/g)].at(-1);
      if (!stopped && m !== undefined && Number(m[1]) >= 10) {
        stopped = true;
        child.kill('SIGINT');
      }
    });
    child.on('error', reject);
    child.on('close', (c) => {
      clearTimeout(guard);
      resolve({ code: c, output: out });
    });
  });
  assert.equal(code, 0, output);
  assert.match(output, /dashboard: http:\/\/127\.0\.0\.1:\d+\//);
  assert.match(output, /demo: stopped cleanly/);
  const db = await openPostgresDatabase(pg, { migrations: outputMigrations(schema), schema, poolSize: 1 });
  t.after(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await db.close();
  });
  const { rows } = await db.query<{ n: number; shards: number }>(
    `SELECT (SELECT count(*)::int FROM ${schema}.attributed_checkouts WHERE is_final) AS n,
            (SELECT count(DISTINCT job)::int FROM ${schema}.checkpoints) AS shards`,
  );
  assert.ok((rows[0]?.n ?? 0) >= 10, `final rows were committed: ${JSON.stringify(rows[0])}`);
  assert.equal(rows[0]?.shards, 4, 'one checkpoint row per partition of the default 4');
});
