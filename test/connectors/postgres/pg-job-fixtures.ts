/**
 * Runs the real `flowmark` command against the test PostgreSQL server, each test in its own
 * schema (FLOWMARK_DATABASE_SCHEMA), and reads back the tables of a run for comparison.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { SqlClient } from '../../../src/connectors/sql/sql-client.ts';

export const BIN = new URL('../../../bin/flowmark.js', import.meta.url).pathname;

/** The environment of a child `flowmark` writing into `schema` of the server at `url`. */
export function jobEnv(url: string, schema: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    FLOWMARK_DATABASE_URL: url,
    FLOWMARK_DATABASE_SCHEMA: schema,
    FLOWMARK_CHECKPOINT_INTERVAL: '50ms',
    FLOWMARK_SERVER_PORT: '0', // live runs serve the dashboard: on any free port
    ...extra,
  };
}

/** Starts `flowmark …args`; stderr is collected into `output()`. */
export function startFlowmark(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; output(): string } {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, exited, output: () => output };
}

/** Runs `flowmark …args` to its end; rejects with its output when it exits nonzero. */
export async function runFlowmark(args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  const run = startFlowmark(args, env);
  const { code, signal } = await run.exited;
  if (code !== 0) throw new Error(`flowmark ${args.join(' ')} exited with ${code ?? signal}:\n${run.output()}`);
  return run.output();
}

/** Records the attribution job has consumed, by its last committed checkpoint (0 before the first). */
export async function committedRecords(db: SqlClient, schema: string): Promise<number> {
  const { rows } = await db.query<{ meta: { sources: Record<string, { offsets: Record<string, number> }> } | null }>(
    `SELECT meta FROM "${schema}".checkpoints WHERE job = 'attribution'`,
  );
  const meta = rows[0]?.meta;
  if (meta == null) return 0;
  let n = 0;
  for (const src of Object.values(meta.sources)) for (const o of Object.values(src.offsets)) n += o;
  return n;
}

/**
 * The result tables of a run as sorted text lines, without the columns that record processing
 * time (updated_at, received_at, the serial id): what must be equal between two runs.
 */
export async function resultTables(db: SqlClient, schema: string): Promise<Record<string, string[]>> {
  const q = async (sql: string) => {
    const { rows } = await db.query<{ line: string }>(sql);
    return rows.map((r) => r.line);
  };
  const s = `"${schema}"`;
  return {
    attributed_checkouts: await q(
      `SELECT (to_jsonb(a) - 'updated_at')::text AS line FROM ${s}.attributed_checkouts a ORDER BY checkout_id`,
    ),
    attribution_credits: await q(
      `SELECT to_jsonb(c)::text AS line FROM ${s}.attribution_credits c ORDER BY checkout_id, click_id, model`,
    ),
    analytics_minute: await q(
      `SELECT to_jsonb(m)::text AS line FROM ${s}.analytics_minute m ORDER BY window_start, dimension, value`,
    ),
    dead_letters: await q(
      `SELECT jsonb_build_array(source, reason, raw, detail)::text AS line FROM ${s}.dead_letters
       ORDER BY source, reason, raw, detail`,
    ),
  };
}
