import * as path from 'path';
import { navModule, OnnxModule, optimize, strategies } from '../../src';
import { defaultTolerances } from '../../src/config/resolve';
import { GraphBuilder } from '../../src/onnx/builder';
import { withinTolerance } from '../../src/tensors';
import type { OutputError } from '../../src/core/status';
import { registerTestFormat } from '../helpers/formats';
import { inaccurateInt8Input, inaccurateInt8Model } from '../helpers/inaccurate-int8';
import { mlpGraph, mlpModel, quiet, rows, tempDir, writeModel } from '../helpers/models';

const dir = tempDir();
const modelPath = writeModel(dir, 'model.onnx', mlpModel({ seed: 11 }));

/** A conversion that is wrong on purpose: the same graph with other weights. */
registerTestFormat('test-wrong-weights', 'fp32', () => mlpModel({ seed: 12 }));

/** Slightly off (1e-3 relative): the source model (same seed, so the same weights) times 1.001; passes a loose tolerance, fails the fp32 default. */
registerTestFormat('test-slightly-off', 'fp32', () => {
  const { b, y } = mlpGraph({ seed: 11, name: 'off' });
  b.node('Mul', [y, b.constant('k', new Float32Array([1.001]), [])], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', 8]);
  return b.toBytes();
});

/** NaN where the source has none. */
registerTestFormat('test-nan', 'fp32', () => {
  const b = new GraphBuilder('nan');
  const x = b.input('x', 'float32', ['batch', 16]);
  const zero = b.op('Sub', [x, x]);
  const y = b.op('Div', [zero, zero]); // 0/0
  b.node('Slice', [y, b.constant('s', new BigInt64Array([0n]), [1], 'int64'), b.constant('e', new BigInt64Array([8n]), [1], 'int64'), b.constant('a', new BigInt64Array([1n]), [1], 'int64')], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', 8]);
  return b.toBytes();
});
const testRunner = ['OnnxCPU'];

const mod = navModule(new OnnxModule(modelPath), { name: 'correct_module' });
const run = (batch: number) => mod.run({ x: rows(batch, 16, batch) });

describe('correctness', () => {
  it('fails a wrong candidate, keeps its figures, and never selects it, even when asked to', async () => {
    const status = await optimize(run, [[1, 1], [2, 2]], {
      workspace: path.join(dir, 'a'),
      ...quiet,
      runners: testRunner,
      targetFormats: ['onnx', 'test-wrong-weights', 'test-nan'],
      strategy: strategies.selected('test-wrong-weights', 'OnnxCPU'),
    });
    const m = status.modules.correct_module;
    const wrong = m.candidates.find((c) => c.format === 'test-wrong-weights')!;
    expect(wrong.status).toBe('failed');
    expect(wrong.correctness.status).toBe('failed');
    expect(wrong.correctness.outputs[0]).toMatchObject({ output: 'y', passed: false });
    expect(wrong.correctness.outputs[0].maxAbsError).toBeGreaterThan(1e-2);
    expect(wrong.reason).toMatch(/correctness: y max abs error/);
    expect(wrong.performance).toEqual([]);
    const nan = m.candidates.find((c) => c.format === 'test-nan')!;
    expect(nan.status).toBe('failed');
    expect(nan.correctness.reason).toMatch(/y has NaN\/Inf/);
    expect(m.selected.key).toMatch(/^onnx\/OnnxCPU\//);
    expect(m.selected.reason).toMatch(/test-wrong-weights on OnnxCPU could not be selected \(correctness: /);
  });

  it('applies per-precision tolerances that a module can override', async () => {
    const strict = await optimize(run, [[1, 1]], { workspace: path.join(dir, 'b'), ...quiet, runners: testRunner, targetFormats: ['onnx', 'test-slightly-off'] });
    expect(strict.modules.correct_module.candidates.find((c) => c.format === 'test-slightly-off')!.status).toBe('failed');
    const loose = await optimize(run, [[1, 1]], {
      workspace: path.join(dir, 'c'), ...quiet, runners: testRunner, targetFormats: ['onnx', 'test-slightly-off'],
      tolerances: { fp32: { atol: 1e-5, rtol: 5e-3 } },
    });
    const off = loose.modules.correct_module.candidates.find((c) => c.format === 'test-slightly-off')!;
    expect(off.status).toBe('passed');
    expect(off.correctness.outputs[0].maxRelError).toBeCloseTo(1e-3, 4);
  });

  it('honours a verifyFunc that fails a candidate', async () => {
    const seen: number[] = [];
    const status = await optimize(run, [[1, 1], [2, 2]], {
      workspace: path.join(dir, 'd'), ...quiet, runners: testRunner, targetFormats: ['onnx', 'onnx-optimized'],
      verifyFunc: (candidate, source) => {
        seen.push(source.y.dims[0]);
        return candidate.y.data === source.y.data; // never the same array: fails everything but is called
      },
    });
    const m = status.modules.correct_module;
    expect(seen.length).toBeGreaterThan(0);
    for (const c of m.candidates.filter((c) => c.conversion.status === 'ok')) {
      expect(c.verify.status).toBe('failed');
      expect(c.status).toBe('failed');
    }
    expect(m.selected.reason).toMatch(/no candidate passed; the source model stays/);
  });
});

describe('a real int8 conversion that is too inaccurate', () => {
  it('fails its check and is never selected, even when it is asked for', async () => {
    const file = writeModel(tempDir(), 'inaccurate.onnx', inaccurateInt8Model());
    const inaccurate = navModule(new OnnxModule(file), { name: 'correct_inaccurate_int8' });
    const status = await optimize((batch: number) => inaccurate.run({ x: inaccurateInt8Input(batch) }), [[4, 4]], {
      workspace: path.join(dir, 'int8'), ...quiet, runners: testRunner, targetFormats: ['onnx', 'onnx-int8'],
      strategy: strategies.selected('onnx-int8', 'OnnxCPU'),
    });
    const m = status.modules.correct_inaccurate_int8;
    const int8 = m.candidates.find((c) => c.format === 'onnx-int8')!;
    expect(int8.conversion.status).toBe('ok');
    expect(int8).toMatchObject({ precision: 'int8', status: 'failed', correctness: { status: 'failed' } });
    expect(int8.correctness.outputs[0].maxAbsError).toBeGreaterThan(int8.correctness.outputs[0].tolerance.atol);
    expect(m.selected.key).toMatch(/^onnx\/OnnxCPU\//);
    expect(m.selected.reason).toMatch(/onnx-int8 on OnnxCPU could not be selected \(correctness: /);
  });
});

describe('whole-output tolerances (int8 by default)', () => {
  const error = (figures: Partial<OutputError>): OutputError => ({
    output: 'y', maxAbsError: 0, maxRelError: 0, relL2: 0, cosine: 1, sourceMaxAbs: 1, nonFinite: false, sourceNonFinite: 0, shapeMismatch: false, ...figures,
  });

  it('judge relative L2 and cosine instead of the worst element, where set', () => {
    const int8 = defaultTolerances.int8;
    // One element off by 0.5 of a max of 1: over atol + rtol·max, but the output as a whole is close.
    expect(withinTolerance(error({ maxAbsError: 0.5, relL2: 0.02, cosine: 0.9998 }), int8)).toBe(true);
    expect(withinTolerance(error({ maxAbsError: 0.5, relL2: 0.02, cosine: 0.9998 }), { atol: int8.atol, rtol: int8.rtol })).toBe(false);
    expect(withinTolerance(error({ relL2: 0.2, cosine: 0.98 }), int8)).toBe(false);
    expect(withinTolerance(error({ relL2: 0.05, cosine: 0.99 }), int8)).toBe(false);
    expect(withinTolerance(error({ relL2: 0.02, cosine: 0.9999, nonFinite: true }), int8)).toBe(false);
    expect(withinTolerance(error({ maxAbsError: 5e-6 }), defaultTolerances.fp32)).toBe(true);
  });
});
