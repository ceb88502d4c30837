import * as path from 'path';
import { Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize } from '../src';
import { GraphBuilder } from '../src/onnx/builder';
import { compareTensors } from '../src/tensors';
import { mlpModel, quiet, rows, runModel, tempDir, writeModel } from './helpers/models';

// Issue 11, finding 8: NaN/Inf where the source is finite fails a candidate; a source's own NaN is counted and warned about.
const dir = tempDir();

/** x [batch, 16] -> y [batch, 8] = NaN everywhere (0/0), through a real session. */
function nanModel(): Uint8Array {
  const b = new GraphBuilder('nan');
  const x = b.input('x', 'float32', ['batch', 16]);
  const zero = b.op('Sub', [x, x]);
  const y = b.op('Div', [zero, zero]);
  b.node('Slice', [y, b.constant('s', new BigInt64Array([0n]), [1], 'int64'), b.constant('e', new BigInt64Array([8n]), [1], 'int64'), b.constant('a', new BigInt64Array([1n]), [1], 'int64')], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', 8]);
  return b.toBytes();
}

describe('compareTensors', () => {
  let finite: Tensor;
  let nan: Tensor;
  beforeAll(async () => {
    finite = (await runModel(mlpModel({ seed: 4 }), { x: rows(2, 16) })).y;
    nan = (await runModel(nanModel(), { x: rows(2, 16) })).y;
  });

  it('fails an all-NaN candidate against a finite source, with figures that stay numbers', () => {
    const error = compareTensors('y', nan, finite);
    expect(error).toMatchObject({ nonFinite: true, maxAbsError: Infinity, sourceNonFinite: 0 });
    expect(error).toMatchObject({ cosine: 0, relL2: 1 });
    expect(Number.isNaN(error.cosine) || Number.isNaN(error.relL2)).toBe(false);
  });

  it('fails a single Inf where the source is finite', () => {
    const data = Float32Array.from(finite.data as Float32Array);
    data[3] = Infinity;
    expect(compareTensors('y', new Tensor('float32', data, finite.dims), finite).nonFinite).toBe(true);
  });

  it('counts the NaN of a source that produces them, which it cannot compare', () => {
    const error = compareTensors('y', nan, nan);
    expect(error).toMatchObject({ nonFinite: false, sourceNonFinite: 16 });
  });
});

describe('optimize of a source that produces NaN', () => {
  it('warns in the status of every candidate checked against it', async () => {
    const module = navModule(new OnnxModule(writeModel(dir, 'nan.onnx', nanModel())), { name: 'nan_source' });
    const result = await optimize(async (batch: number) => module.run({ x: rows(batch, 16) }), [[1, 1], [2, 2]], {
      workspace: path.join(dir, 'ws'),
      ...quiet,
      targetFormats: ['onnx', 'onnx-optimized'],
    });
    const checked = result.modules.nan_source.candidates.filter((c) => c.correctness.status !== 'skipped');
    expect(checked.length).toBeGreaterThan(0);
    for (const candidate of checked) expect(candidate.correctness.reason).toMatch(/warning: the source's y has \d+ NaN\/Inf elements, not compared/);
  });
});
