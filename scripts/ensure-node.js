#!/usr/bin/env node
// `npm install`'s postinstall (and .ci/run's Node step): makes sure a Node that runs flowmark is
// there. On a Node ≥ 22.18 it does nothing at all. On an older one it installs the npm package
// node@24 into the cache (scripts/node-runtime.js says where), once; later runs find it there.
//
//   node scripts/ensure-node.js                # as postinstall: install when needed, say so
//   node scripts/ensure-node.js --print-bin-dir # also print the directory of that node on stdout
//
// Exits 1 with what to do when the install fails (no network, no npm).
import { dirname } from 'node:path';
import { cachedNode, installNode, isSupported, MINIMUM, NODE_PACKAGE, nodeCacheDir } from './node-runtime.js';

const printBinDir = process.argv.includes('--print-bin-dir');
const say = (line) => process.stderr.write(`${line}\n`);

let node;
if (isSupported(process.versions.node)) {
  node = { path: process.execPath };
} else {
  node = cachedNode();
  if (node !== undefined) {
    say(
      `flowmark: Node ${process.versions.node} is older than ${MINIMUM}; using Node ${node.version} from ${nodeCacheDir()}`,
    );
  } else {
    say(
      `flowmark: Node ${process.versions.node} is older than ${MINIMUM}, which flowmark needs to run its TypeScript; ` +
        `installing ${NODE_PACKAGE} into ${nodeCacheDir()} (once; npm start, npm test and npx flowmark use it).`,
    );
    try {
      node = installNode();
    } catch (err) {
      say(`flowmark: ${err.message}`);
      process.exit(1);
    }
    say(`flowmark: Node ${node.version} installed in ${nodeCacheDir()}.`);
  }
}
if (printBinDir) process.stdout.write(`${dirname(node.path)}\n`);
