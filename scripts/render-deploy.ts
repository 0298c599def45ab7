/**
 * Writes the generated files of deploy/ (alert rules, Grafana dashboards) from their definitions
 * in src/observability. Run it after changing a rule or a panel, and commit the result:
 *
 *   node scripts/render-deploy.ts           # write the files
 *   node scripts/render-deploy.ts --check   # exit 1 if a committed file differs (what the test checks)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderDeployFiles } from '../src/observability/deploy-files.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const [path, content] of renderDeployFiles()) {
  const file = join(root, path);
  const same = existsSync(file) && readFileSync(file, 'utf8') === content;
  if (check) {
    if (!same) {
      stale++;
      process.stderr.write(`render-deploy: ${path} differs from its definition; run node scripts/render-deploy.ts\n`);
    }
    continue;
  }
  if (same) {
    process.stdout.write(`render-deploy: ${path} unchanged\n`);
    continue;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  process.stdout.write(`render-deploy: wrote ${path}\n`);
}
if (stale > 0) process.exitCode = 1;
