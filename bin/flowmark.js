#!/usr/bin/env node
// The `flowmark` command. flowmark is TypeScript run directly by Node (type stripping), which
// Node does without flags from 22.18 on (and 23.6 on the 23 line). This file is plain JavaScript
// so that an older Node gets a clear message instead of a syntax error from a .ts file.
const [major, minor] = process.versions.node.split('.').map(Number);
const supported = major >= 24 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);
if (!supported) {
  process.stderr.write(
    `flowmark needs Node.js >= 22.18 (it runs its TypeScript sources directly); this is Node ${process.versions.node}.\n` +
      'Install Node 24 with your version manager (for example: nvm install 24), or without root through npm:\n' +
      '  npm install --prefix "$HOME/.cache/flowmark-node" node@24\n' +
      '  export PATH="$HOME/.cache/flowmark-node/node_modules/.bin:$PATH"\n',
  );
  process.exit(1);
}
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
