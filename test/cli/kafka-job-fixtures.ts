/**
 * A real broker and a real PostgreSQL server for the Kafka job's tests: generated events routed
 * into unique co-partitioned topics (as `flowmark import --kafka` does), a schema per test with
 * the generated shop loaded, and the comparison with `flowmark replay` of the same events.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { routeLine } from '../../src/attribution/events/index.ts';
import { outputMigrations } from '../../src/attribution/output-schema.ts';
import { loadProducts, loadUsers } from '../../src/cli/dimension-loading.ts';
import { KafkaAdmin, KafkaProducer } from '../../src/connectors/kafka/index.ts';
import { openPostgresDatabase } from '../../src/connectors/postgres/index.ts';
import { type SqlClient, upsertProducts, upsertUsers } from '../../src/connectors/sql/index.ts';
import { BIN } from '../connectors/postgres/pg-job-fixtures.ts';

export const KAFKA: string | undefined = process.env.FLOWMARK_TEST_KAFKA || undefined;

let counter = 0;
/** Names no other test (or earlier run against the same broker/server) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
}

export interface GeneratedShop {
  dir: string;
  events: string;
  users: string;
  products: string;
  lines: string[];
}

/** `flowmark generate` into a temp dir (removed after the test). */
export function generateShop(t: TestContext, args: readonly string[]): GeneratedShop {
  const dir = mkdtempSync(join(tmpdir(), 'fm-kafka-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(process.execPath, [BIN, 'generate', '--out', dir, ...args], { stdio: 'pipe' });
  const events = join(dir, 'events.jsonl');
  return {
    dir,
    events,
    users: join(dir, 'users.csv'),
    products: join(dir, 'products.csv'),
    lines: readFileSync(events, 'utf8')
      .split('\n')
      .filter((l) => l !== ''),
  };
}

/**
 * Creates `<prefix>_clicks` and `<prefix>_checkouts` with `partitions` partitions and writes the
 * lines routed by type and keyed by user id (unless `keyed: false`); unroutable lines go to clicks (the pipeline turns
 * them into dead letters). Also writes `extra` raw values into the clicks topic as they are.
 */
export async function loadTopics(
  t: TestContext,
  bootstrap: string,
  lines: readonly string[],
  o: {
    partitions: number;
    checkoutPartitions?: number;
    extra?: readonly string[];
    keyed?: boolean;
    /** Written last, with the given key (a key other than the user id puts it elsewhere). */
    extraKeyed?: readonly { topic: 'clicks' | 'checkouts'; value: string; key: string }[];
  },
): Promise<{ clicks: string; checkouts: string }> {
  const prefix = uniqueName('fm');
  const topics = { clicks: `${prefix}_clicks`, checkouts: `${prefix}_checkouts` };
  const admin = new KafkaAdmin({ bootstrap: [bootstrap] });
  try {
    await admin.ensureTopics([
      { name: topics.clicks, partitions: o.partitions },
      { name: topics.checkouts, partitions: o.checkoutPartitions ?? o.partitions },
    ]);
  } finally {
    await admin.close();
  }
  t.after(async () => {
    const a = new KafkaAdmin({ bootstrap: [bootstrap] });
    await a.deleteTopics([topics.clicks, topics.checkouts]).catch(() => {});
    await a.close();
  });
  const producer = new KafkaProducer({ bootstrap: [bootstrap] });
  try {
    for (const line of lines) {
      const r = routeLine(line);
      if ('reason' in r) producer.append(topics.clicks, line);
      else {
        const topic = r.kind === 'click' ? topics.clicks : topics.checkouts;
        // Unkeyed, as the reference pipelines' producers write.
        if (o.keyed === false) producer.append(topic, line);
        else producer.append(topic, line, r.key);
      }
    }
    for (const raw of o.extra ?? []) producer.append(topics.clicks, raw);
    for (const r of o.extraKeyed ?? []) producer.append(topics[r.topic], r.value, r.key);
    await producer.flush();
  } finally {
    await producer.close();
  }
  return topics;
}

/** A fresh schema with flowmark's tables and the generated shop's users and products. */
export async function shopDatabase(
  t: TestContext,
  url: string,
  shop: GeneratedShop,
): Promise<{ db: SqlClient; schema: string }> {
  const schema = uniqueName('fm_kafka');
  const db = await openPostgresDatabase(url, { migrations: outputMigrations(schema), schema, poolSize: 4 });
  t.after(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await db.close();
  });
  await upsertUsers(db, [...(await loadUsers(shop.users)).values()], { schema });
  await upsertProducts(db, [...(await loadProducts(shop.products)).values()], { schema });
  return { db, schema };
}

/** `flowmark replay` of the shop's events: its attributed checkouts, dead letters and analytics. */
export function replayShop(shop: GeneratedShop): {
  checkouts: Record<string, unknown>[];
  deadLetters: Record<string, unknown>[];
  analytics: Record<string, unknown>[];
} {
  const out = join(shop.dir, 'replay.jsonl');
  const analytics = join(shop.dir, 'replay-analytics.jsonl');
  execFileSync(
    process.execPath,
    [BIN, 'replay', '--events', shop.events, '--users', shop.users, '--products', shop.products, '--out', out].concat([
      '--analytics',
      analytics,
    ]),
    { stdio: 'pipe' },
  );
  const jsonl = (p: string) =>
    readFileSync(p, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    checkouts: jsonl(out),
    deadLetters: jsonl(join(shop.dir, 'replay.dead-letters.jsonl')),
    analytics: jsonl(analytics),
  };
}

/** The fields of an attributed checkout that two runs must agree on, as one comparable line. */
export function checkoutLine(r: Record<string, unknown>): string {
  const money = (v: unknown) => (v === null || v === undefined ? null : Number(v).toFixed(2));
  const time = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());
  return JSON.stringify([
    r.checkout_id,
    r.user_id,
    r.product_id,
    r.click_id,
    r.click_source,
    time(r.click_time),
    time(r.checkout_time),
    r.user_name,
    r.product_category,
    money(r.order_value),
    money(r.revenue),
    money(r.profit),
    r.attribution_model,
    r.is_final,
  ]);
}

/** The analytics rows summed over shards, as sorted comparable lines. */
export function analyticsLines(rows: readonly Record<string, unknown>[]): string[] {
  const sums = new Map<string, [number, number, number]>();
  for (const r of rows) {
    const key = JSON.stringify([new Date(r.window_start as string).toISOString(), r.dimension, r.value]);
    const acc = sums.get(key) ?? [0, 0, 0];
    acc[0] += Number(r.checkouts);
    acc[1] += Math.round(Number(r.revenue) * 100);
    acc[2] += Math.round(Number(r.profit) * 100);
    sums.set(key, acc);
  }
  return [...sums.entries()].map(([k, v]) => `${k} ${v.join(' ')}`).sort();
}
