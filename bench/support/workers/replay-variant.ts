/**
 * One variant of the replay benchmark in a process of its own, so that its peak RSS is its own:
 * `node bench/support/workers/replay-variant.ts parse|replay <events> <users> <products> <out dir>`.
 * Prints one JSON line: `{"seconds":…,"events":…,"maxRssKiB":…}` (the timed part only).
 *
 * - `parse`: read the file in 4 MiB chunks, split lines, `JSON.parse` each — nothing else (the
 *   ceiling; a file of 5 M events is more than one string can hold, so it is read in chunks);
 * - `replay`: `flowmark replay` in process, as `replayDataSet` runs it.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { replayDataSet } from '../data-sets.ts';

function parseAll(path: string): number {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(4 << 20);
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let parsed = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const lines = (carry + decoder.write(buf.subarray(0, n))).split('\n');
      carry = lines.pop() as string;
      for (const line of lines) {
        if (line.length === 0) continue;
        JSON.parse(line);
        parsed++;
      }
    }
  } finally {
    closeSync(fd);
  }
  if ((carry + decoder.end()).length > 0) parsed++;
  return parsed;
}

const [variant, events, users, products, dir] = process.argv.slice(2);
if (events === undefined || users === undefined || products === undefined || dir === undefined) {
  console.error(
    'usage: node bench/support/workers/replay-variant.ts parse|replay <events> <users> <products> <out dir>',
  );
  process.exit(2);
}
const t0 = performance.now();
let n = 0;
if (variant === 'parse') n = parseAll(events);
else if (variant === 'replay') await replayDataSet({ events, users, products }, dir);
else {
  console.error(`unknown variant "${variant}": parse or replay`);
  process.exit(2);
}
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ seconds, events: n, maxRssKiB: process.resourceUsage().maxRSS }));
