/**
 * A PostgreSQL server of one test's own, started by scripts/services.sh like the shared one: for
 * tests that stop and start the server (outages), which must not pull the shared server away
 * from tests running beside them.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const SERVICES = new URL('../../../scripts/services.sh', import.meta.url).pathname;
const run = promisify(execFile);

export interface PrivateServer {
  url: string;
  /** `pg_ctl` for this server: `ctl('stop', '-m', 'immediate')`, `ctl('start')`. */
  ctl(...args: string[]): Promise<void>;
}

/** Starts a throwaway server (initdb, a free port on 127.0.0.1); stopped and removed after the test. */
export async function startPrivateServer(t: TestContext): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-private-pg-'));
  const env: NodeJS.ProcessEnv = { ...process.env, FLOWMARK_SERVICES_DIR: dir };
  delete env.FLOWMARK_TEST_PG_URL; // else services.sh would reuse the shared server
  delete env.FLOWMARK_TEST_PG_CTL;
  t.after(async () => {
    await run('bash', [SERVICES, 'stop'], { env }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const { stdout } = await run('bash', [SERVICES, 'postgres'], { env, timeout: 120_000 });
  const vars = new Map(
    [...stdout.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1] as string, m[2] as string] as const),
  );
  const url = vars.get('FLOWMARK_TEST_PG_URL');
  const pgCtl = vars.get('FLOWMARK_TEST_PG_CTL');
  if (url === undefined || pgCtl === undefined) throw new Error(`scripts/services.sh postgres printed:\n${stdout}`);
  return {
    url,
    ctl: async (...args) => {
      await run(pgCtl, args, { timeout: 60_000 });
    },
  };
}
