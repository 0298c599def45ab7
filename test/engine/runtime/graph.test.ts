/**
 * The runtime graph through the public Runtime: what it decides by a port's role (not its
 * name), and that a step forwards exactly the watermark its operator returns.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryCommitter } from '../../../src/connectors/memory/memory-committer.ts';
import { MemorySource } from '../../../src/connectors/memory/memory-source.ts';
import {
  isFlowmarkError,
  MAX_WATERMARK,
  ManualClock,
  MIN_WATERMARK,
  type Operator,
  type OperatorContext,
  OUT_PORT,
  Pipeline,
  type PortSpec,
  Runtime,
  Stream,
} from '../../../src/engine/index.ts';

/** Passes records on; `onWatermark` says what to forward. */
class Forwarder implements Operator {
  readonly #onWatermark: (wm: number) => number;
  #ctx!: OperatorContext;
  constructor(onWatermark: (wm: number) => number = (wm) => wm) {
    this.#onWatermark = onWatermark;
  }
  open(ctx: OperatorContext): void {
    this.#ctx = ctx;
  }
  processRecord(_input: number, value: unknown, eventTimeMs: number): void {
    this.#ctx.output().push(value, eventTimeMs);
  }
  processWatermark(watermarkMs: number): number {
    return this.#onWatermark(watermarkMs);
  }
}

/** source 'in' (out-of-orderness 0) → step 'op' with `ports`; `out` of 'op' sunk, the rest as given. */
function pipelineWith(ports: PortSpec[], create: () => Operator = () => new Forwarder()): Pipeline {
  const p = new Pipeline();
  const { out, invalid } = p.source<number, number>('in', {
    reader: MemorySource.of([1_000, 2_000, 3_000]),
    eventTimeMs: (t) => t,
    maxOutOfOrdernessMs: 0,
  });
  invalid.sink('invalid');
  p.addNode({ id: 'op', kind: 'map', inputs: [out.ref], ports, create });
  new Stream(p, { node: 'op', port: 'out' }).sink('out');
  return p;
}

describe('RuntimeGraph', () => {
  it('refuses a late or invalid port that goes nowhere, whatever its name', () => {
    for (const role of ['late', 'invalid'] as const) {
      const p = pipelineWith([OUT_PORT, { name: 'dropped', role }]);
      assert.throws(
        () => new Runtime(p, { committer: new MemoryCommitter(), clock: new ManualClock() }),
        (err) => isFlowmarkError(err, 'FM_PIPELINE_INVALID') && err.message.includes('"dropped" output of step "op"'),
      );
    }
  });

  it('lets a data port go nowhere, even one whose name starts with "late"', async () => {
    const p = pipelineWith([OUT_PORT, { name: 'latest', role: 'data' }]);
    const committer = new MemoryCommitter();
    const runtime = new Runtime(p, { committer, clock: new ManualClock() });
    await runtime.run();
    assert.deepEqual(committer.rows('out'), [1_000, 2_000, 3_000]);
  });

  it('forwards the watermark the operator returns, and nothing when it returns no advance', async () => {
    const seen: number[] = [];
    const p = new Pipeline();
    const { out, invalid } = p.source<number, number>('in', {
      reader: MemorySource.of([1_000, 2_000, 3_000]),
      eventTimeMs: (t) => t,
      maxOutOfOrdernessMs: 0,
    });
    invalid.sink('invalid');
    // Holds the watermark 100 ms back, and at 2 000 forwards nothing.
    const hold = (wm: number) => (wm === MAX_WATERMARK ? wm : wm === 2_000 ? MIN_WATERMARK : wm - 100);
    p.addNode({ id: 'hold', kind: 'map', inputs: [out.ref], ports: [OUT_PORT], create: () => new Forwarder(hold) });
    const record = (wm: number) => {
      seen.push(wm);
      return wm;
    };
    p.addNode({
      id: 'after',
      kind: 'map',
      inputs: [{ node: 'hold', port: 'out' }],
      ports: [OUT_PORT],
      create: () => new Forwarder(record),
    });
    new Stream(p, { node: 'after', port: 'out' }).sink('out');
    await new Runtime(p, { committer: new MemoryCommitter(), clock: new ManualClock() }).run();
    assert.deepEqual(seen, [900, 2_900, MAX_WATERMARK]);
  });
});
