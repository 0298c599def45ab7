#!/usr/bin/env node
// `node scripts/with-node.js <node arguments…>`: runs `node <node arguments…>` with a Node that
// runs flowmark — this one when it is ≥ 22.18, else the one `npm install` put in the cache
// (scripts/node-runtime.js). package.json's `test` goes through it, so that `npm test` works on a
// machine whose own Node is older (Node 20's test runner cannot even expand the test glob).
import { runUnder, supportedNode, tooOldMessage, underNotice } from './node-runtime.js';

const node = supportedNode();
if (node === undefined) {
  process.stderr.write(tooOldMessage());
  process.exit(1);
}
if (node.path !== process.execPath) process.stderr.write(underNotice(node));
runUnder(node.path, process.argv.slice(2));
