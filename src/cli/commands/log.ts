/**
 * `flowmark log check` and `flowmark log repair`: the embedded log's damaged records (issue 12).
 *
 * `check` reads every record of the log in the data dir (read-only: it runs beside a `run`) and
 * lists damaged regions by topic, partition, segment file, byte and offsets, each marked as
 * processed by every consumer (history: runs skip it) or not (a run stops there). It exits 1 when
 * there is damage that is not quarantined.
 *
 * `repair` takes the log's writer lock (so no `run` or `import` may be running), quarantines every
 * damaged region — a copy of its bytes in `log/quarantine/`, and readers jump over it; every later
 * record keeps its offset — and writes a dead letter (reason `log_damaged`, the bytes as far as
 * they are text) for each region that had not been processed yet.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DeadLetterRow } from '../../attribution/event-types.ts';
import { deadLetter } from '../../attribution/output-rows.ts';
import { SINK_TABLES } from '../../attribution/output-schema.ts';
import { LogDirectory, type LogFinding } from '../../connectors/log/index.ts';
import { writeRows } from '../../connectors/sql/index.ts';
import { FlowmarkError, systemClock } from '../../engine/index.ts';
import type { ConfigFlags, FlowmarkConfig } from '../config/index.ts';
import { chooseMode } from '../modes/mode.ts';

/** Bytes of a quarantined region kept in its dead letter (the whole copy is in the quarantine file). */
const DEAD_LETTER_BYTES = 64 * 1024;

function logDir(config: FlowmarkConfig): string {
  const dir = join(config.dataDir, 'log');
  if (!existsSync(dir)) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      `there is no log in ${config.dataDir} (no ${dir}): give the --data-dir that import, run or demo used`,
    );
  }
  return dir;
}

function describe(f: LogFinding): string {
  const where = `${f.topic} partition ${f.partition}, ${f.file}`;
  const state =
    f.kind === 'damaged'
      ? f.consumed
        ? ' — processed by every consumer: runs skip it'
        : ' — NOT processed yet: a run stops there; `flowmark log repair` quarantines it'
      : '';
  return `log ${f.kind === 'torn_tail' ? 'torn tail' : f.kind}: ${where}: ${f.detail}${state}`;
}

/** `flowmark log check`: prints what is wrong; exits 1 (FM_LOG_CORRUPT) when damage is not quarantined. */
export async function runLogCheck(_flags: ConfigFlags, config: FlowmarkConfig): Promise<void> {
  const log = LogDirectory.open(logDir(config), { readOnly: true });
  try {
    const findings = log.check();
    const out = (line: string) => process.stdout.write(`${line}\n`);
    for (const f of findings) out(describe(f));
    const damaged = findings.filter((f) => f.kind === 'damaged' || f.kind === 'missing');
    const topics = log.topicNames();
    if (damaged.length === 0) {
      out(
        `log check: ${topics.length} topics (${topics.join(', ')}) read, every record's checksum verified: no damage`,
      );
      return;
    }
    const pending = damaged.filter((f) => !f.consumed).length;
    throw new FlowmarkError(
      'FM_LOG_CORRUPT',
      `${damaged.length} damaged regions in ${log.dir} (${pending} not processed yet). ` +
        'Run `flowmark log repair` with the same --data-dir (with no run or import running) to quarantine them; every later record is kept.',
    );
  } finally {
    await log.close();
  }
}

/** `flowmark log repair`: quarantines every damaged region; dead letters for those not processed yet. */
export async function runLogRepair(_flags: ConfigFlags, config: FlowmarkConfig): Promise<void> {
  const dir = logDir(config);
  const log = LogDirectory.open(dir, { nowMs: systemClock.nowMs });
  let done: ReturnType<LogDirectory['repair']>;
  try {
    done = log.repair();
  } finally {
    await log.close();
  }
  const err = (line: string) => process.stderr.write(`${line}\n`);
  if (done.length === 0) {
    err(`log repair: no damaged records in ${dir}; nothing to do`);
    return;
  }
  const letters: DeadLetterRow[] = [];
  for (const { finding: f, region, bytes } of done) {
    err(
      `log repair: ${describe({ ...f, kind: 'quarantined', detail: `${f.detail}; bytes copied to ${region.copy}` })}`,
    );
    if (f.consumed) continue;
    const kept = bytes.subarray(0, DEAD_LETTER_BYTES);
    letters.push(
      deadLetter(
        'log',
        'log_damaged',
        kept.toString('utf8'),
        `log topic ${f.topic} partition ${f.partition}: ${f.detail} of ${f.file}: unreadable on disk, quarantined by \`flowmark log repair\` ` +
          `before it was processed (${bytes.length} bytes${bytes.length > kept.length ? `, the first ${kept.length} here` : ''}; all of them in ${region.copy})`,
        systemClock.nowMs(),
      ),
    );
  }
  if (letters.length > 0) {
    const d = await chooseMode(config).database.open();
    try {
      await writeRows(d.db, d.schema, SINK_TABLES.dead_letters, letters);
    } catch (cause) {
      throw new FlowmarkError(
        'FM_SINK_FAILED',
        `the damaged records are quarantined (copies in ${join(dir, 'quarantine')}), but writing their ${letters.length} dead letters to ${d.where} failed: ${(cause as Error).message}`,
        { cause },
      );
    } finally {
      await d.close();
    }
    err(`log repair: ${letters.length} dead letters (reason log_damaged) → ${d.schema}.dead_letters in ${d.where}`);
  }
  err(
    `log repair: ${done.length} damaged regions quarantined; every later record is kept. Run the same \`flowmark run\` again.`,
  );
}
