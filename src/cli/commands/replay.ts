/**
 * `flowmark replay`: a bounded, deterministic run over files. Arrival order is the line order of
 * --events (or of --clicks and --checkouts, read side by side); the result is one JSON line per
 * checkout (final rows only) and the dead letters as JSON lines with `reason` and `raw`.
 */
import { type AttributionModel, attributionOptions } from '../../attribution/attribution-options.ts';
import { type AttributionSources, buildAttributionPipeline, SINK } from '../../attribution/attribution-pipeline.ts';
import type { ProductRow, UserRow } from '../../attribution/event-types.ts';
import { parseLookbackBySource } from '../../attribution/lookback-windows.ts';
import { JsonlFileCommitter } from '../../connectors/files/jsonl-file-committer.ts';
import { LineFileSource } from '../../connectors/files/line-file-source.ts';
import { FlowmarkError, type LookupFn, Runtime, systemClock } from '../../engine/index.ts';
import { durationFlag, listFlag } from '../cli-flags.ts';
import { AtomicOutputs, checkInputFile, checkOutputFiles, type GivenPath } from '../cli-paths.ts';
import { declaredDefault } from '../config/index.ts';
import { loadProducts, loadUsers } from '../dimension-loading.ts';
import { Progress } from '../progress.ts';

/**
 * Replay's own pace, not `checkpoint.interval` (which paces a job's database transactions and
 * its latency): a replay writes files renamed into place at the end, so its checkpoints only
 * bound the memory of buffered rows, and fewer of them are faster.
 */
const REPLAY_CHECKPOINT_INTERVAL_MS = 1000;

export interface ReplayFlags {
  events?: string;
  clicks?: string;
  checkouts?: string;
  users?: string;
  products?: string;
  out?: string;
  deadLetter?: string;
  /** Where to write `attribution_credits` rows (multi-touch models). */
  credits?: string;
  /** Where to write `analytics_minute` rows. */
  analytics?: string;
  model: string;
  scope: string;
  lookback: string;
  /** `source=duration` pairs (`email=30d,direct=1d`): those sources' own lookbacks. */
  lookbackBySource?: string;
  maxOutOfOrderness: string;
  halfLife: string;
  /** A duration, or `off` (data dated in the future replayed on purpose); default: the schema's. */
  maxFutureSkew?: string;
  excludedSources?: string;
  /** No progress line and no summary (tests). */
  quiet?: boolean;
}

function configError(message: string): FlowmarkError {
  return new FlowmarkError('FM_CONFIG_INVALID', message);
}

/** A required input file, checked and added to `inputs` (no output may be one of them). */
function inputFile(inputs: GivenPath[], flag: string, path: string | undefined): string {
  if (path === undefined) throw configError(`--${flag} is required`);
  const given = { flag: `--${flag}`, path };
  inputs.push(given);
  return checkInputFile(given);
}

/** An in-memory table as a lookup function (replay's dimensions come from files). */
export function mapLookup<V>(rows: ReadonlyMap<string, V>): LookupFn<V> {
  return async (keys) => {
    const found = new Map<string, V>();
    for (const k of keys) {
      const v = rows.get(k);
      if (v !== undefined) found.set(k, v);
    }
    return found;
  };
}

export async function runReplay(flags: ReplayFlags): Promise<void> {
  // Every flag is checked before anything is read or written.
  const inputs: GivenPath[] = [];
  let sources: AttributionSources;
  let files: LineFileSource[];
  if (flags.events !== undefined) {
    if (flags.clicks !== undefined || flags.checkouts !== undefined) {
      throw configError('give either --events, or --clicks with --checkouts, not both');
    }
    const events = new LineFileSource(inputFile(inputs, 'events', flags.events));
    sources = { events };
    files = [events];
  } else {
    if (flags.clicks === undefined && flags.checkouts === undefined) {
      throw configError('give the input: --events FILE, or --clicks FILE --checkouts FILE');
    }
    const clicks = new LineFileSource(inputFile(inputs, 'clicks', flags.clicks));
    const checkouts = new LineFileSource(inputFile(inputs, 'checkouts', flags.checkouts));
    sources = { clicks, checkouts };
    files = [clicks, checkouts];
  }
  const usersPath = inputFile(inputs, 'users', flags.users);
  const productsPath = inputFile(inputs, 'products', flags.products);
  if (flags.out === undefined) throw configError('--out is required: where to write the attributed checkouts');
  const options = attributionOptions({
    model: flags.model as AttributionModel,
    scope: flags.scope as 'product' | 'user',
    lookbackMs: durationFlag('lookback', flags.lookback),
    lookbackBySource: parseLookbackBySource(flags.lookbackBySource, '--lookback-by-source'),
    maxOutOfOrdernessMs: durationFlag('max-out-of-orderness', flags.maxOutOfOrderness),
    halfLifeMs: durationFlag('half-life', flags.halfLife),
    excludedSources: listFlag(flags.excludedSources),
    maxFutureSkewMs:
      flags.maxFutureSkew?.trim() === 'off'
        ? Number.POSITIVE_INFINITY
        : durationFlag('max-future-skew', flags.maxFutureSkew ?? declaredDefault('attribution.max_future_skew')),
  });

  // Dead letters are always kept: next to --out unless --dead-letter says where.
  const deadLetterPath = flags.deadLetter ?? `${flags.out.replace(/\.jsonl?$/, '')}.dead-letters.jsonl`;
  const paths: Record<string, string> = { [SINK.attributed]: flags.out, [SINK.deadLetters]: deadLetterPath };
  const flagOf: Record<string, string> = { [SINK.attributed]: '--out', [SINK.deadLetters]: '--dead-letter' };
  if (flags.credits !== undefined) [paths[SINK.credits], flagOf[SINK.credits]] = [flags.credits, '--credits'];
  if (flags.analytics !== undefined) [paths[SINK.analytics], flagOf[SINK.analytics]] = [flags.analytics, '--analytics'];
  checkOutputFiles(
    Object.entries(paths).map(([sink, path]) => ({ flag: flagOf[sink] as string, path })),
    inputs,
  );

  const [users, products] = await Promise.all([loadUsers(usersPath), loadProducts(productsPath)]);
  // Written under temporary names, renamed at the end: a failed replay leaves the old files.
  const outputs = AtomicOutputs.create(paths, flagOf);
  const committer = new JsonlFileCommitter(
    outputs.temporary,
    (sink, row) => sink !== SINK.attributed || (row as { is_final: boolean }).is_final,
  );
  const pipeline = buildAttributionPipeline(
    sources,
    { users: mapLookup<UserRow>(users), products: mapLookup<ProductRow>(products) },
    options,
    systemClock,
  );
  const runtime = new Runtime(pipeline, {
    committer,
    clock: systemClock,
    pollMaxRecords: 4096,
    checkpointIntervalMs: REPLAY_CHECKPOINT_INTERVAL_MS,
  });
  const progress = flags.quiet
    ? undefined
    : new Progress('replay', () => {
        let done = 0;
        let total = 0;
        for (const f of files) {
          done += f.bytesRead;
          total += f.sizeBytes;
        }
        return { done, total, unit: 'bytes' };
      });
  const started = performance.now();
  try {
    try {
      await runtime.run();
    } finally {
      progress?.stop();
      await committer.close();
      await runtime.close();
    }
    outputs.commit();
  } finally {
    outputs.discard();
  }
  if (flags.quiet) return;
  const seconds = (performance.now() - started) / 1000;
  const stats = runtime.stats();
  const read = stats.filter((s) => s.kind === 'source').reduce((n, s) => n + s.recordsIn, 0);
  const written = committer.counts.get(SINK.attributed) ?? 0;
  const dead = stats.find((s) => s.id === 'dead-letters')?.recordsOut.out ?? 0;
  process.stderr.write(
    `replay: ${read} events in ${seconds.toFixed(2)} s (${Math.round(read / seconds)} events/s): ` +
      `${written} checkouts → ${flags.out}, ${dead} dead letters → ${deadLetterPath}\n`,
  );
}
