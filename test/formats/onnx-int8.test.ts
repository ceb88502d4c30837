import * as fs from 'fs';
import * as path from 'path';
import { navModule, OnnxModule, optimize } from '../../src';
import { defaultTolerances } from '../../src/config/resolve';
import { createOnnxInt8Format, onnxInt8Format } from '../../src/formats/onnx-int8';
import { tinyEncoder } from '../../src/models/encoder';
import { f, GraphBuilder } from '../../src/onnx/builder';
import { DataType } from '../../src/onnx/data-types';
import { opCounts } from '../../src/onnx/graph';
import { readModel, writeModel as writeOnnx } from '../../src/onnx/model-io';
import { quantizeWeight } from '../../src/onnx/quantize-dynamic';
import { formatRegistry, registerFormat } from '../../src/plugins';
import { artifactOf, convertWith, errorsWithin, floatInput, optimizedOpCounts, runModel, tokenIds } from '../helpers/format-check';
import { inaccurateInt8Input, inaccurateInt8Model } from '../helpers/inaccurate-int8';
import { quiet, tempDir, writeModel } from '../helpers/models';

const dir = tempDir('int8-');
const int8 = defaultTolerances.int8;

/** x [batch, 64] → three 64×64 linear layers with ReLU: every activation feeds one MatMul. */
function matmulChain(seed = 3): Uint8Array {
  const b = new GraphBuilder('chain', { seed });
  let h = b.input('x', 'float32', ['batch', 64]);
  for (let i = 0; i < 3; i++) h = b.op('Relu', [b.op('MatMul', [h, b.randomWeight(`w${i}`, [64, 64], 0.2)])]);
  b.node('Identity', [h], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', 64]);
  return b.toBytes();
}

describe('onnx-int8', () => {
  it('quantizes a MatMul-heavy model the way onnxruntime fuses into DynamicQuantizeMatMul', async () => {
    const source = writeModel(dir, 'chain.onnx', matmulChain());
    const artifact = artifactOf(await convertWith(onnxInt8Format, source));
    expect(artifact).toMatchObject({ format: 'onnx-int8', precision: 'int8' });
    expect(artifact.notes).toMatch(/^quantized 3 of 3 MatMul\/Gemm; int8 weights per tensor/);
    expect(artifact.sizeBytes).toBeLessThan(fs.statSync(source).size * 0.4);

    const converted = readModel(artifact.path);
    expect(opCounts(converted.graph!)).toMatchObject({ DynamicQuantizeLinear: 3, MatMulInteger: 3, Cast: 3, Mul: 6 });
    expect(opCounts(converted.graph!).MatMul).toBeUndefined();
    // The float32 weights are gone; their int8 versions, scales and zero points replace them.
    const weight = converted.graph!.initializer!.find((t) => t.name === 'w0_quantized')!;
    expect(weight).toMatchObject({ dataType: DataType.INT8, dims: [64, 64] });
    expect(converted.graph!.initializer!.find((t) => t.name === 'w0')).toBeUndefined();
    const zeroPoint = converted.graph!.initializer!.find((t) => t.name === 'w0_zero_point')!;
    expect(zeroPoint.dataType).toBe(DataType.INT8);
    expect(zeroPoint.dims ?? []).toEqual([]);

    const fused = await optimizedOpCounts(artifact.path);
    expect(fused['com.microsoft:DynamicQuantizeMatMul']).toBe(3);
    expect(fused.MatMulInteger).toBeUndefined();
    expect(fused.DynamicQuantizeLinear).toBeUndefined();

    const x = floatInput([4, 64], 1);
    const [error] = errorsWithin(await runModel(artifact.path, { x }), await runModel(source, { x }), int8);
    expect(error.passed).toBe(true);
    expect(error.maxAbsError).toBeGreaterThan(0);
  });

  it('quantizes an encoder: projections and FFN, not the activation-by-activation attention MatMuls', async () => {
    const source = writeModel(dir, 'encoder.onnx', tinyEncoder());
    const artifact = artifactOf(await convertWith(onnxInt8Format, source));
    expect(artifact.notes).toMatch(/^quantized 12 of 16 MatMul\/Gemm \(left: 4: B is not a constant initializer\)/);
    // Q, K and V read one activation: it is quantized once for the three of them.
    expect(opCounts(readModel(artifact.path).graph!)).toMatchObject({ DynamicQuantizeLinear: 8, MatMulInteger: 12, MatMul: 4 });
    const ids = tokenIds(2, 16);
    const errors = errorsWithin(await runModel(artifact.path, { input_ids: ids }), await runModel(source, { input_ids: ids }), int8);
    expect(errors[0]).toMatchObject({ passed: true });
    expect(errors[0].cosine).toBeGreaterThan(0.999);
  });

  it('rewrites Gemm (transB, alpha, beta·C) and per-channel weights', async () => {
    const b = new GraphBuilder('gemm', { seed: 4 });
    const x = b.input('x', 'float32', ['batch', 48]);
    const h = b.op('Gemm', [x, b.randomWeight('w', [32, 48], 0.3), b.randomWeight('c', [32], 0.5)], { transB: 1, alpha: f(0.5), beta: f(2) });
    const g = b.op('Gemm', [h, b.randomWeight('w2', [32, 40], 0.3)]);
    b.node('Gemm', [g, b.randomWeight('w3', [40, 40], 0.3)], { transA: 1 }, { outputs: ['y'] });
    b.output('y', 'float32', [40, 40]);
    const source = writeModel(dir, 'gemm.onnx', b.toBytes());
    const x40 = floatInput([40, 48], 2);
    const expected = await runModel(source, { x: x40 });
    const perChannelFormat = createOnnxInt8Format({ perChannel: true });
    let perChannelPath = '';
    for (const format of [onnxInt8Format, perChannelFormat]) {
      const artifact = artifactOf(await convertWith(format, source));
      if (format === perChannelFormat) perChannelPath = artifact.path;
      expect(artifact.notes).toMatch(/^quantized 2 of 3 MatMul\/Gemm \(left: 1: Gemm with transA\)/);
      const counts = opCounts(readModel(artifact.path).graph!);
      expect(counts).toMatchObject({ MatMulInteger: 2, Gemm: 1, Add: 1 });
      expect(errorsWithin(await runModel(artifact.path, { x: x40 }), expected, int8)[0]).toMatchObject({ passed: true });
    }
    const perChannel = readModel(perChannelPath);
    expect(perChannel.graph!.initializer!.find((t) => t.name === 'w_scale')).toMatchObject({ dims: [32] });
  });

  it('follows quantize_dynamic’s scale and zero point rules', () => {
    const matrix = Float32Array.from([-1, 0.5, 0.25, 2]);
    const symmetric = quantizeWeight(matrix, { k: 2, n: 2 });
    expect(symmetric.scales[0]).toBeCloseTo(2 / 127, 7);
    expect(Array.from(symmetric.values)).toEqual([-64, 32, 16, 127]);
    expect(Array.from(symmetric.zeroPoints)).toEqual([0]);
    const perColumn = quantizeWeight(matrix, { k: 2, n: 2 }, { perChannel: true });
    expect(Array.from(perColumn.values)).toEqual([-127, 32, 32, 127]);
    const unsigned = quantizeWeight(matrix, { k: 2, n: 2 }, { weightType: 'uint8' });
    expect(unsigned.scales[0]).toBeCloseTo(3 / 255, 7);
    expect(Array.from(unsigned.zeroPoints)).toEqual([85]);
    expect(Array.from(unsigned.values)).toEqual([0, 127, 106, 255]); // 0.5 / scale = 42.5 rounds half to even
    expect(Array.from(quantizeWeight(matrix, { k: 2, n: 2 }, { reduceRange: true }).values)).toEqual([-32, 16, 8, 64]);
  });

  it('reads weights kept in an external data file', async () => {
    const source = path.join(tempDir('int8-external-'), 'model.onnx');
    writeOnnx(source, readModel(writeModel(dir, 'external.onnx', matmulChain(5))), { externalDataThreshold: 1024 });
    expect(fs.existsSync(`${source}.data`)).toBe(true);
    const artifact = artifactOf(await convertWith(onnxInt8Format, source));
    expect(artifact.notes).toMatch(/^quantized 3 of 3/);
    // The result keeps its weights external too, and its size counts them.
    const data = `${artifact.path}.data`;
    expect(fs.existsSync(data)).toBe(true);
    expect(artifact.sizeBytes).toBe(fs.statSync(artifact.path).size + fs.statSync(data).size);
    const x = floatInput([2, 64], 3);
    expect(errorsWithin(await runModel(artifact.path, { x }), await runModel(source, { x }), int8)[0]).toMatchObject({ passed: true });
  });

  it('leaves a model whose weights have one huge outlier out of the int8 tolerance (per tensor), not per channel', async () => {
    const source = writeModel(dir, 'inaccurate.onnx', inaccurateInt8Model());
    const x = inaccurateInt8Input(4);
    const expected = await runModel(source, { x });
    const perTensor = artifactOf(await convertWith(onnxInt8Format, source));
    const [bad] = errorsWithin(await runModel(perTensor.path, { x }), expected, int8);
    expect(bad.passed).toBe(false);
    expect(bad.maxAbsError).toBeGreaterThan(3 * bad.limit);
    const perChannel = artifactOf(await convertWith(createOnnxInt8Format({ perChannel: true }), source));
    expect(errorsWithin(await runModel(perChannel.path, { x }), expected, int8)[0].passed).toBe(true);

    // A huge dynamic range in the activations ruins it whatever the weights' scales.
    const ranged = writeModel(dir, 'inaccurate-range.onnx', inaccurateInt8Model({ cause: 'activation-range' }));
    const rangedExpected = await runModel(ranged, { x });
    for (const format of [onnxInt8Format, createOnnxInt8Format({ perChannel: true })]) {
      const artifact = artifactOf(await convertWith(format, ranged));
      expect(errorsWithin(await runModel(artifact.path, { x }), rangedExpected, int8)[0].passed).toBe(false);
    }
  });

  it('is not applicable without quantizable MatMul/Gemm nodes, and says why', async () => {
    const small = new GraphBuilder('small');
    const x = small.input('x', 'float32', ['batch', 16]);
    small.node('MatMul', [small.op('MatMul', [x, small.randomWeight('w', [16, 32])]), small.input('w2', 'float32', [32, 8])], {}, { outputs: ['y'] });
    small.output('y', 'float32', ['batch', 8]);
    expect(await convertWith(onnxInt8Format, writeModel(dir, 'small.onnx', small.toBytes()))).toEqual({
      notApplicable: 'none of its 2 MatMul/Gemm nodes has a quantizable weight (1: B under 1024 elements; 1: B is not a constant initializer)',
    });
    const smaller = createOnnxInt8Format({ minWeightElements: 256 });
    expect(artifactOf(await convertWith(smaller, writeModel(dir, 'small2.onnx', small.toBytes()))).notes).toMatch(/^quantized 1 of 2/);

    const none = new GraphBuilder('none');
    none.node('Relu', [none.input('x', 'float32', [4])], {}, { outputs: ['y'] });
    none.output('y', 'float32', [4]);
    expect(await convertWith(onnxInt8Format, writeModel(dir, 'none.onnx', none.toBytes()))).toEqual({ notApplicable: 'the model has no MatMul or Gemm node' });

    const excluded = createOnnxInt8Format({ nodesToExclude: ['MatMul_0', 'MatMul_2', 'MatMul_4'] });
    expect(await convertWith(excluded, writeModel(dir, 'excluded.onnx', matmulChain()))).toEqual({
      notApplicable: 'none of its 3 MatMul/Gemm nodes has a quantizable weight (3: excluded by name)',
    });

    const old = new GraphBuilder('old', { opset: 10 });
    old.node('MatMul', [old.input('x', 'float32', [2, 64]), old.randomWeight('w', [64, 64])], {}, { outputs: ['y'] });
    old.output('y', 'float32', [2, 64]);
    expect(await convertWith(onnxInt8Format, writeModel(dir, 'old.onnx', old.toBytes()))).toEqual({
      notApplicable: "the model's opset 10 is below 11, where DynamicQuantizeLinear starts",
    });
  });

  it('runs through optimize with precision, size, conversion time and error figures', async () => {
    if (!formatRegistry.has('onnx-int8')) registerFormat(onnxInt8Format);
    const model = navModule(new OnnxModule(writeModel(dir, 'opt-chain.onnx', matmulChain(8))), { name: 'int8_chain' });
    const run = (batch: number) => model.run({ x: floatInput([batch, 64], batch) });
    // Module-level figures are checked here; the end-to-end check (which may overturn a faster choice) has its own tests.
    const status = await optimize(run, [[1, 1]], { ...quiet, endToEnd: { enabled: false }, workspace: path.join(dir, 'workspace'), targetFormats: ['onnx', 'onnx-int8'] });
    const candidates = status.modules.int8_chain.candidates.filter((c) => c.format === 'onnx-int8');
    expect(candidates.length).toBeGreaterThan(0);
    for (const candidate of candidates) {
      expect(candidate).toMatchObject({ precision: 'int8', runner: 'OnnxCPU', conversion: { status: 'ok', reason: expect.stringMatching(/^quantized 3 of 3/) }, correctness: { status: 'ok' }, status: 'passed' });
      expect(candidate.sizeBytes).toBeLessThan(fs.statSync(path.join(dir, 'opt-chain.onnx')).size);
      expect(candidate.conversion.ms).toBeGreaterThanOrEqual(0);
      expect(candidate.correctness.outputs[0]).toMatchObject({ passed: true, tolerance: int8 });
      expect(candidate.correctness.outputs[0].maxAbsError).toBeGreaterThan(0);
      expect(candidate.performance.length).toBeGreaterThan(0);
    }
  });
});

