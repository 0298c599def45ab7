import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WatermarkValve } from '../../../src/engine/runtime/watermark-valve.ts';
import { MAX_WATERMARK, MIN_WATERMARK } from '../../../src/engine/time.ts';

describe('WatermarkValve', () => {
  it('is the minimum over its inputs, and reports only advances', () => {
    const v = new WatermarkValve(2);
    v.inputWatermark(0, 10);
    assert.equal(v.inputWatermark(1, 20), 'advanced');
    assert.equal(v.watermark, 10);
    assert.equal(v.inputWatermark(1, 30), 'held', 'input 0 still holds it at 10');
    assert.equal(v.watermark, 10);
    assert.equal(v.inputWatermark(0, 25), 'advanced');
    assert.equal(v.watermark, 25);
    assert.deepEqual(v.inputWatermarks, [25, 30]);
  });

  it('stays at −∞ until every input has a watermark', () => {
    const v = new WatermarkValve(3);
    assert.equal(v.watermark, MIN_WATERMARK);
    assert.equal(v.inputWatermark(0, 100), 'held');
    assert.equal(v.inputWatermark(2, 50), 'held');
    assert.equal(v.watermark, MIN_WATERMARK, 'input 1 has seen nothing');
    assert.equal(v.inputWatermark(1, 70), 'advanced');
    assert.equal(v.watermark, 50);
  });

  it('never goes back: a lower watermark on an input is ignored', () => {
    const v = new WatermarkValve(1);
    assert.equal(v.inputWatermark(0, 40), 'advanced');
    assert.equal(v.inputWatermark(0, 30), 'held');
    assert.equal(v.inputWatermark(0, 40), 'held');
    assert.equal(v.watermark, 40);
    assert.deepEqual(v.inputWatermarks, [40]);
  });

  it('does not let an idle input hold it back; a watermark makes the input active again', () => {
    const v = new WatermarkValve(2);
    v.inputWatermark(0, 100);
    assert.equal(v.watermark, MIN_WATERMARK, 'input 1 has seen nothing and is not idle');
    assert.equal(v.inputIdle(1), 'advanced', 'input 1 idle: input 0 alone decides');
    assert.equal(v.watermark, 100);
    assert.equal(v.isIdle(1), true);
    // Back with an older watermark: active again (it holds the next advances), but the valve
    // does not go back.
    assert.equal(v.inputWatermark(1, 60), 'held');
    assert.equal(v.isIdle(1), false);
    assert.equal(v.watermark, 100);
    assert.equal(v.inputWatermark(0, 200), 'held', 'input 1 holds it at 60 < 100');
    assert.equal(v.inputWatermark(1, 150), 'advanced');
    assert.equal(v.watermark, 150);
  });

  it('is idle when every input is idle, and keeps its watermark meanwhile', () => {
    const v = new WatermarkValve(2);
    v.inputWatermark(0, 10);
    v.inputWatermark(1, 20);
    assert.equal(v.inputIdle(0), 'advanced', 'input 1 alone: 20');
    assert.equal(v.inputIdle(1), 'idle');
    assert.equal(v.watermark, 20);
    assert.equal(v.inputIdle(1), 'idle', 'telling it again changes nothing');
    assert.equal(v.inputWatermark(0, 15), 'held', 'active again below the watermark');
    assert.equal(v.watermark, 20);
  });

  it('reaches +∞ only when every input ended', () => {
    const v = new WatermarkValve(2);
    v.inputWatermark(0, 5);
    v.inputWatermark(1, 5);
    assert.equal(v.inputWatermark(0, MAX_WATERMARK), 'held');
    assert.equal(v.watermark, 5);
    assert.equal(v.inputWatermark(1, 7), 'advanced');
    assert.equal(v.watermark, 7, 'the input that has not ended decides');
    assert.equal(v.inputWatermark(1, MAX_WATERMARK), 'advanced');
    assert.equal(v.watermark, MAX_WATERMARK);
  });

  it('records without combining (a sink): its watermark stays where it was', () => {
    const v = new WatermarkValve(1);
    v.recordWatermark(0, 30);
    v.recordIdle(0);
    assert.deepEqual(v.inputWatermarks, [30]);
    assert.equal(v.isIdle(0), true);
    assert.equal(v.watermark, MIN_WATERMARK);
  });

  it('resumes from a checkpoint; +∞ (the end of a drain) resumes as −∞', () => {
    const v = new WatermarkValve(2);
    v.restore([40, MAX_WATERMARK], 40);
    assert.deepEqual(v.inputWatermarks, [40, MIN_WATERMARK]);
    assert.equal(v.watermark, 40);
    assert.equal(v.inputWatermark(1, 30), 'held', 'never below the restored watermark');
    assert.equal(v.inputWatermark(1, 50), 'held', 'input 0 is at 40');
    assert.equal(v.inputWatermark(0, 45), 'advanced');
    assert.equal(v.watermark, 45);
    const ended = new WatermarkValve(1);
    ended.restore([MAX_WATERMARK], MAX_WATERMARK);
    assert.equal(ended.watermark, MIN_WATERMARK);
    // A checkpoint of a pipeline with fewer inputs at this step: the extra watermarks are ignored.
    const fewer = new WatermarkValve(1);
    fewer.restore([1, 2, 3], 1);
    assert.deepEqual(fewer.inputWatermarks, [1]);
  });
});
