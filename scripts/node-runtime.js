// Which Node runs flowmark, and where a newer one comes from when the machine's is too old.
//
// flowmark runs its TypeScript sources directly, which Node does without a flag from 22.18 on
// (23.6 on the 23 line). On an older Node, `npm install` (scripts/ensure-node.js, its postinstall)
// installs the npm package `node@24` into a cache outside the clone — by default
// $HOME/.cache/flowmark-node, the one .ci/run uses; FLOWMARK_NODE_CACHE names another — and
// `npm start`, `npm test` and `npx flowmark` (bin/flowmark.js, scripts/with-node.js) run under it.
// On a supported Node nothing is installed and nothing is re-run.
//
// Plain JavaScript that any Node from 18 on can run (Debian 12 has Node 18): no TypeScript, no
// dependency, nothing newer than Node 18 has.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

/** The oldest Node that runs flowmark, as the README says it. */
export const MINIMUM = '22.18';
/** The npm package installed when the running Node is older. */
export const NODE_PACKAGE = 'node@24';

/**
 * True when Node `version` (`22.18.0`, `v24.1.0`) strips types without a flag.
 *
 * @example
 * isSupported('22.18.0') // true
 * isSupported('23.5.0')  // false: 23.6 on the 23 line
 * isSupported('20.20.2') // false
 */
export function isSupported(version) {
  const [major, minor] = String(version).replace(/^v/, '').split('.').map(Number);
  return major >= 24 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);
}

/** The cache directory of the installed Node (FLOWMARK_NODE_CACHE, else $HOME/.cache/flowmark-node). */
export function nodeCacheDir(env = process.env) {
  const dir = env.FLOWMARK_NODE_CACHE;
  return dir !== undefined && dir !== '' ? dir : join(homedir(), '.cache', 'flowmark-node');
}

/**
 * The supported Node in the cache, as the npm package `node` lays it out
 * (`<cache>/node_modules/node/bin/node`, its version in that package's package.json), or
 * undefined when there is none (never installed, half installed, or too old).
 */
export function cachedNode(env = process.env) {
  const pkgDir = join(nodeCacheDir(env), 'node_modules', 'node');
  const path = join(pkgDir, 'bin', 'node');
  try {
    const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    accessSync(path, constants.X_OK);
    return isSupported(version) ? { path, version } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Node to run flowmark with: this one when it is supported, else the cached one, else
 * undefined. Never this very binary again (a cache whose package.json says more than its binary is).
 */
export function supportedNode(env = process.env) {
  if (isSupported(process.versions.node)) return { path: process.execPath, version: process.versions.node };
  const cached = cachedNode(env);
  return cached === undefined || cached.path === process.execPath ? undefined : cached;
}

/** The line saying which Node runs instead of this one. */
export function underNotice(node) {
  return `flowmark: Node ${process.versions.node} is older than ${MINIMUM}; running under Node ${node.version} (${node.path})\n`;
}

/** What to tell a user whose Node is too old and who has no cached one. */
export function tooOldMessage(env = process.env) {
  const cache = nodeCacheDir(env);
  return (
    `flowmark needs Node.js >= ${MINIMUM} (it runs its TypeScript sources directly); this is Node ${process.versions.node}.\n` +
    `Run \`npm install\` in flowmark's directory: on an older Node it installs ${NODE_PACKAGE} into ${cache},\n` +
    'and `npm start`, `npm test` and `npx flowmark` then run under it. Or install Node 24 with your version\n' +
    'manager (for example: nvm install 24), or without root through npm:\n' +
    `  npm install --prefix "$HOME/.cache/flowmark-node" ${NODE_PACKAGE}\n` +
    '  export PATH="$HOME/.cache/flowmark-node/node_modules/.bin:$PATH"\n'
  );
}

/**
 * Installs {@link NODE_PACKAGE} into the cache with npm (the one running this `npm install` when
 * there is one, else `npm` on PATH) and returns the cached Node; throws with what went wrong.
 */
export function installNode(env = process.env, log = (line) => process.stderr.write(`${line}\n`)) {
  const cache = nodeCacheDir(env);
  // The same command as .ci/run's, so that both leave the same layout in the same place.
  const args = ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', cache, NODE_PACKAGE];
  const npmCli = env.npm_execpath;
  const [command, argv] = npmCli?.endsWith('.js') ? [process.execPath, [npmCli, ...args]] : ['npm', args];
  log(`flowmark: running: npm ${args.join(' ')}`);
  // The npm package's own install step runs `node` from PATH: this one, which is fine for it.
  const childEnv = { ...env };
  // A `npm install --global` or `--ignore-scripts` of flowmark must not turn this into one too:
  // the package `node` fetches its binary in an install script.
  for (const key of ['npm_config_global', 'npm_config_location', 'npm_config_ignore_scripts', 'npm_config_prefix']) {
    delete childEnv[key];
  }
  const r = spawnSync(command, argv, { stdio: ['ignore', 'inherit', 'inherit'], env: childEnv });
  if (r.error !== undefined || r.status !== 0) {
    const why = r.error !== undefined ? r.error.message : `npm exited with ${r.status ?? r.signal}`;
    throw new Error(
      `installing ${NODE_PACKAGE} into ${cache} failed (${why}). Check the network and npm's registry ` +
        `settings and run \`npm install\` again, or install Node >= ${MINIMUM} yourself.`,
    );
  }
  const node = cachedNode(env);
  if (node === undefined) {
    throw new Error(
      `npm installed ${NODE_PACKAGE} into ${cache}, but ${join(cache, 'node_modules', 'node', 'bin', 'node')} is ` +
        `missing or older than ${MINIMUM}. Delete ${cache} and run \`npm install\` again.`,
    );
  }
  return node;
}

/**
 * Runs `node <args>` with the Node at `nodePath` and ends this process as that one ends (same exit
 * code, or the same signal). Its directory goes first on PATH, so that a `node` the command starts
 * (a test that spawns `node`) is the same Node.
 *
 * Signals: Ctrl-C in a terminal reaches every process of the foreground group, the child too, so
 * SIGINT is not passed on (flowmark takes a second SIGINT as "quit at once"). SIGTERM and SIGHUP,
 * which are sent to one process (`kill`, `timeout`, a closed terminal's shell), are.
 */
export function runUnder(nodePath, args, env = process.env) {
  const childEnv = { ...env, PATH: `${dirname(nodePath)}${delimiter}${env.PATH ?? ''}` };
  const child = spawn(nodePath, args, { stdio: 'inherit', env: childEnv });
  const ignore = () => {};
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  child.on('error', (err) => {
    process.stderr.write(`flowmark: cannot run ${nodePath}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', forward);
    process.off('SIGHUP', forward);
    if (signal !== null) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
