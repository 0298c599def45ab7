#!/usr/bin/env node
// The `flowmark` command. flowmark is TypeScript run directly by Node (type stripping), which
// Node does without flags from 22.18 on (and 23.6 on the 23 line). This file is plain JavaScript
// so that an older Node can run it: it then re-runs the command under the Node that `npm install`
// put in the cache (scripts/node-runtime.js), or says how to get one — before any .ts is loaded.
import { runUnder, supportedNode, tooOldMessage, underNotice } from '../scripts/node-runtime.js';

const node = supportedNode();
if (node === undefined) {
  process.stderr.write(tooOldMessage());
  process.exit(1);
} else if (node.path !== process.execPath) {
  process.stderr.write(underNotice(node));
  runUnder(node.path, process.argv.slice(1));
} else {
  const { main, reportUncaught } = await import('../src/cli/main.ts');
  const { scrubStream } = await import('../src/cli/secret-scrubbing.ts');
  // Nothing this process prints shows a database password, whoever prints it.
  scrubStream(process.stdout);
  scrubStream(process.stderr);
  // An error nobody caught (an 'error' event without a listener, a rejection nobody awaited) is
  // still one line naming the command, not a stack trace; the exit code is 1.
  const fatal = (err) => {
    reportUncaught(err);
    process.exit(1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  const code = await main(process.argv);
  process.exitCode = code;
  // The command has finished and said so; a client library's socket or timer left behind (Kafka's
  // keep-alives) must not keep the process up. Unref'd: a clean exit does not wait for it.
  setTimeout(() => process.exit(code), 2000).unref();
}
