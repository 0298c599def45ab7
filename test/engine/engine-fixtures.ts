import { MemoryCommitter } from '../../src/connectors/memory/memory-committer.ts';
import { MemorySource } from '../../src/connectors/memory/memory-source.ts';
import type { KeyedProcessFunction } from '../../src/engine/operators/keyed-process-operator.ts';
import { Pipeline, type Stream } from '../../src/engine/pipeline.ts';
import { Runtime, type RuntimeOptions } from '../../src/engine/runtime/runtime.ts';
import type { PollResult, SourceReader } from '../../src/engine/source.ts';
import { ManualClock } from '../../src/engine/time.ts';

/** A test event: key, event time, and a label to tell events apart. */
export interface Ev {
  k: string;
  t: number;
  id: string;
}

export function ev(k: string, t: number, id = `${k}@${t}`): Ev {
  return { k, t, id };
}

/** Emits every on-time record unchanged (so the late output shows what the watermark refused). */
export const passThrough: KeyedProcessFunction<Ev, Ev, void> = {
  onElement: (v, ctx) => ctx.emit(v),
};

/** source → keyBy(k) → pass-through, with `out`, `late` and `invalid` sinks. */
export function passThroughPipeline(
  reader: SourceReader<Ev>,
  maxOutOfOrdernessMs = 10,
  idleTimeoutMs?: number,
): Pipeline {
  const p = new Pipeline();
  const { out, invalid } = p.source<Ev, Ev>('in', {
    reader,
    eventTimeMs: (e) => e.t,
    maxOutOfOrdernessMs,
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
  });
  invalid.sink('invalid');
  sinkProcess(out, 'pass', passThrough);
  return p;
}

export function sinkProcess<I, O>(stream: Stream<I>, id: string, fn: KeyedProcessFunction<I, O, unknown>): void {
  const { out, late } = stream.keyBy((v) => (v as unknown as Ev).k).process(id, fn);
  out.sink('out');
  late.sink('late');
}

export async function runBounded(
  p: Pipeline,
  options: Partial<RuntimeOptions> = {},
): Promise<{ committer: MemoryCommitter; runtime: Runtime }> {
  const committer = (options.committer as MemoryCommitter | undefined) ?? new MemoryCommitter();
  const runtime = new Runtime(p, { clock: new ManualClock(), ...options, committer });
  await runtime.run();
  return { committer, runtime };
}

export function ids(rows: unknown[]): string[] {
  return rows.map((r) => (r as Ev).id);
}

/** Wraps a reader: calls `onPoll(n)` before the n-th poll (1-based), e.g. to advance a clock or abort. */
export function observedReader<R>(reader: SourceReader<R>, onPoll: (n: number) => void): SourceReader<R> {
  let n = 0;
  return {
    partitions: reader.partitions,
    seek: (o) => reader.seek(o),
    poll: (max): PollResult<R> | Promise<PollResult<R>> => {
      onPoll(++n);
      return reader.poll(max);
    },
    commit: (o) => reader.commit?.(o),
  };
}

export { ManualClock, MemoryCommitter, MemorySource, Pipeline, Runtime };
