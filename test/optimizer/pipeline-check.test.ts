import * as path from 'path';
import { navModule, OnnxModule, optimize, strategies } from '../../src';
import { clearlySlower, summarizePasses } from '../../src/optimizer/pipeline-timing';
import { registerTestFormat } from '../helpers/formats';
import { mlpGraph, mlpModel, quiet, rows, tempDir, writeModel } from '../helpers/models';

describe('telling a slower pipeline from noise', () => {
  it('takes the median and quartiles of each set of passes', () => {
    expect(summarizePasses([10, 11, 12, 13, 30], [20, 21, 22, 29, 40])).toEqual({
      beforeMs: 12, afterMs: 22, beforeQuartilesMs: [11, 13], afterQuartilesMs: [21, 29],
    });
  });

  it('calls a pipeline slower only when the gap is over 3% and the middle halves of the passes do not overlap', () => {
    const timing = (beforeMs: number, afterMs: number, before: [number, number], after: [number, number]) => ({ beforeMs, afterMs, beforeQuartilesMs: before, afterQuartilesMs: after });
    expect(clearlySlower(timing(10, 12, [9.8, 10.2], [11.8, 12.3]))).toBe(true);
    expect(clearlySlower(timing(10, 12, [8, 13], [10, 15]))).toBe(false); // a busy machine
    expect(clearlySlower(timing(10, 10.2, [10, 10], [10.2, 10.2]))).toBe(false); // under 3%
    expect(clearlySlower(timing(10, 9, [10, 10], [9, 9]))).toBe(false);
  });
});

/**
 * The same function as the mlp plus a large branch multiplied by zero: correct, and many times
 * slower than the source, so the rebound pipeline is slower beyond any noise.
 */
function slowMlp(): Uint8Array {
  const { b, x, y } = mlpGraph({ seed: 21, name: 'slow' });
  let wide = b.op('MatMul', [x, b.randomWeight('wide_in', [16, 1024], 0.05)]);
  for (let i = 0; i < 8; i++) wide = b.op('Tanh', [b.op('MatMul', [wide, b.randomWeight(`wide_${i}`, [1024, 1024], 0.03)])]);
  const nothing = b.op('Mul', [b.op('ReduceMean', [wide], { axes: [1], keepdims: 1 }), b.constant('zero', new Float32Array([0]), [])]);
  b.node('Add', [y, nothing], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', 8]);
  return b.toBytes();
}

describe('the pipeline check', () => {
  it('puts every module back on its source when the rebound pipeline is clearly slower, and says why', async () => {
    const mlp = mlpModel({ seed: 21 });
    registerTestFormat('test-slow-but-right', 'fp32', slowMlp);
    const dir = tempDir();
    const mod = navModule(new OnnxModule(writeModel(dir, 'model.onnx', mlp)), { name: 'check_slow' });
    const status = await optimize((batch: number) => mod.run({ x: rows(batch, 16, batch) }), [[32, 32]], {
      workspace: path.join(dir, 'ws'), ...quiet, runners: ['OnnxCPU'],
      targetFormats: ['onnx', 'test-slow-but-right'],
      strategy: strategies.selected('test-slow-but-right', 'OnnxCPU'),
    });
    const m = status.modules.check_slow;
    expect(m.candidates.find((c) => c.format === 'test-slow-but-right')!.status).toBe('passed');
    expect(m.selected.key).toBe(m.baseline);
    expect(m.selected.reason).toMatch(/^selected: test-slow-but-right on OnnxCPU; .*then the rebound pipeline was slower than the original, so the source model runs$/);
    expect(mod.binding.isSource).toBe(true);
    expect(status.pipeline!.notes.join('\n')).toMatch(/turned off thread spinning\n.*still slower .*every module runs its original model/);
    expect(status.pipeline!.afterMs).toBe(status.pipeline!.beforeMs);
  });
});
