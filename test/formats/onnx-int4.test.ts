import * as fs from 'fs';
import * as path from 'path';
import { navModule, OnnxModule, optimize } from '../../src';
import { defaultTolerances } from '../../src/config/resolve';
import { createOnnxInt4Format, onnxInt4Format } from '../../src/formats/onnx-int4';
import { tinyEncoder } from '../../src/models/encoder';
import { GraphBuilder } from '../../src/onnx/builder';
import { getAttribute, opCounts, opsetVersion, tensorToArray, tensorToFloat32 } from '../../src/onnx/graph';
import { readModel, writeModel as writeOnnx } from '../../src/onnx/model-io';
import { quantizeBlocks } from '../../src/onnx/quantize-nbits';
import { formatRegistry, registerFormat } from '../../src/plugins';
import { artifactOf, convertWith, errorsWithin, floatInput, optimizedOpCounts, runModel, tokenIds } from '../helpers/format-check';
import { quiet, tempDir, writeModel } from '../helpers/models';

const dir = tempDir('int4-');
const int4 = defaultTolerances.int4;

/** x [batch, K] → y = x·W + b with W [K, N]; K = 100 is not a multiple of the block size. */
function linearModel(k = 100, n = 48, seed = 6): Uint8Array {
  const b = new GraphBuilder('linear', { seed });
  const x = b.input('x', 'float32', ['batch', k]);
  b.node('Add', [b.op('MatMul', [x, b.randomWeight('w', [k, n], 0.2)]), b.randomWeight('b', [n], 0.1)], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', n]);
  return b.toBytes();
}

/** A [K, N] matrix back from MatMulNBits' blocks, as the kernel reads them. */
function dequantize(blocks: ReturnType<typeof quantizeBlocks>, k: number, n: number, blockSize: number): Float32Array {
  const count = Math.ceil(k / blockSize);
  const matrix = new Float32Array(k * n);
  for (let col = 0; col < n; col++) {
    for (let row = 0; row < k; row++) {
      const block = Math.floor(row / blockSize);
      const byte = blocks.packed[(col * count + block) * (blockSize / 2) + ((row % blockSize) >> 1)];
      const q = row % 2 === 0 ? byte & 0x0f : byte >> 4;
      const zpByte = blocks.zeroPoints ? blocks.zeroPoints[col * Math.ceil(count / 2) + (block >> 1)] : 0x88;
      const zeroPoint = block % 2 === 0 ? zpByte & 0x0f : zpByte >> 4;
      matrix[row * n + col] = (q - zeroPoint) * blocks.scales[col * count + block];
    }
  }
  return matrix;
}

describe('onnx-int4', () => {
  it('emits MatMulNBits with its attributes and the com.microsoft opset, within the int4 tolerance', async () => {
    const source = writeModel(dir, 'linear.onnx', linearModel());
    const artifact = artifactOf(await convertWith(onnxInt4Format, source));
    expect(artifact).toMatchObject({ format: 'onnx-int4', precision: 'int4' });
    expect(artifact.notes).toMatch(/^quantized 1 of 1 MatMul\/Gemm; 4-bit symmetric, block 32, accuracy_level 4/);
    const model = readModel(artifact.path);
    expect(opsetVersion(model, 'com.microsoft')).toBe(1);
    expect(opsetVersion(model)).toBe(17);
    expect(opCounts(model.graph!)).toEqual({ 'com.microsoft:MatMulNBits': 1, Add: 1 });
    const node = model.graph!.node!.find((n) => n.opType === 'MatMulNBits')!;
    const attributes = Object.fromEntries(['K', 'N', 'bits', 'block_size', 'accuracy_level'].map((name) => [name, Number(getAttribute(node, name)!.i)]));
    expect(attributes).toEqual({ K: 100, N: 48, bits: 4, block_size: 32, accuracy_level: 4 });
    const packed = model.graph!.initializer!.find((t) => t.name === node.input![1])!;
    expect(packed.dims).toEqual([48, 4, 16]);
    expect(model.graph!.initializer!.find((t) => t.name === node.input![2])!.dims).toEqual([48 * 4]);
    expect(model.graph!.initializer!.find((t) => t.name === 'w')).toBeUndefined();

    // onnxruntime keeps the node as it is (no fallback to a float MatMul).
    expect((await optimizedOpCounts(artifact.path))['com.microsoft:MatMulNBits']).toBe(1);
    const x = floatInput([3, 100], 1);
    const [error] = errorsWithin(await runModel(artifact.path, { x }), await runModel(source, { x }), int4);
    expect(error.passed).toBe(true);
    expect(error.maxAbsError).toBeGreaterThan(0);
  });

  it('lays the blocks out as the kernel reads them (symmetric and asymmetric, padded K)', async () => {
    const source = writeModel(dir, 'layout.onnx', linearModel(80, 24, 11));
    const original = readModel(source);
    const weight = tensorToFloat32(original.graph!.initializer!.find((t) => t.name === 'w')!);
    for (const symmetric of [true, false]) {
      // accuracy_level 1: float32 compute, so the only error left is the weights' rounding.
      const artifact = artifactOf(await convertWith(createOnnxInt4Format({ symmetric, accuracyLevel: 1 }), source));
      const model = readModel(artifact.path);
      const node = model.graph!.node!.find((n) => n.opType === 'MatMulNBits')!;
      expect(node.input!.length).toBe(symmetric ? 3 : 4);
      const blocks = quantizeBlocks(weight, 80, 24, 32, symmetric);
      expect(tensorToArray(model.graph!.initializer!.find((t) => t.name === node.input![1])!)).toEqual(blocks.packed);
      // The same model with the dequantized weights as a float MatMul gives the same answer.
      const reference = readModel(source);
      const w = reference.graph!.initializer!.find((t) => t.name === 'w')!;
      const dequantized = dequantize(blocks, 80, 24, 32);
      w.rawData = new Uint8Array(dequantized.buffer);
      const referencePath = path.join(tempDir('int4-ref-'), 'reference.onnx');
      writeOnnx(referencePath, reference);
      const x = floatInput([2, 80], 5);
      const [error] = errorsWithin(await runModel(artifact.path, { x }), await runModel(referencePath, { x }), { atol: 1e-5, rtol: 1e-5 });
      expect(error.passed).toBe(true);
      // And the rounding error itself is that of 4 bits: at most a step per weight (half a step,
      // except symmetric blocks' −extreme, which clips from +8 to +7).
      const step = Math.max(...blocks.scales.map(Math.abs));
      expect(Math.max(...weight.map((v, i) => Math.abs(v - dequantized[i])))).toBeLessThanOrEqual(step * (symmetric ? 1 : 0.5) + 1e-6);
    }
  });

  it('quantizes the encoder’s projections and FFN and stays within tolerance', async () => {
    const source = writeModel(dir, 'encoder.onnx', tinyEncoder());
    const artifact = artifactOf(await convertWith(onnxInt4Format, source));
    expect(artifact.notes).toMatch(/^quantized 12 of 16 MatMul\/Gemm/);
    expect(artifact.sizeBytes).toBeLessThan(fs.statSync(source).size);
    const ids = tokenIds(1, 20);
    const [error] = errorsWithin(await runModel(artifact.path, { input_ids: ids }), await runModel(source, { input_ids: ids }), int4);
    expect(error.passed).toBe(true);
    expect(error.cosine).toBeGreaterThan(0.99);
  });

  it('rewrites Gemm with transB and a bias', async () => {
    const b = new GraphBuilder('gemm', { seed: 2 });
    b.node('Gemm', [b.input('x', 'float32', ['batch', 64]), b.randomWeight('w', [32, 64], 0.2), b.randomWeight('c', [32], 0.2)], { transB: 1 }, { outputs: ['y'] });
    b.output('y', 'float32', ['batch', 32]);
    const source = writeModel(dir, 'gemm.onnx', b.toBytes());
    const artifact = artifactOf(await convertWith(onnxInt4Format, source));
    expect(opCounts(readModel(artifact.path).graph!)).toEqual({ 'com.microsoft:MatMulNBits': 1, Add: 1 });
    const x = floatInput([4, 64], 3);
    expect(errorsWithin(await runModel(artifact.path, { x }), await runModel(source, { x }), int4)[0].passed).toBe(true);
  });

  it('is not applicable when no weight is large enough', async () => {
    const source = writeModel(dir, 'small.onnx', linearModel(16, 16));
    expect(await convertWith(onnxInt4Format, source)).toEqual({ notApplicable: 'none of its 1 MatMul/Gemm nodes has a quantizable weight (1: B under 1024 elements)' });
    await expect(convertWith(createOnnxInt4Format({ blockSize: 24 }), writeModel(dir, 'big.onnx', linearModel()))).rejects.toThrow(/blockSize 24 must be a power of two/);
  });

  it('runs through optimize with precision, size, conversion time and error figures', async () => {
    if (!formatRegistry.has('onnx-int4')) registerFormat(onnxInt4Format);
    const file = writeModel(dir, 'opt-linear.onnx', linearModel(128, 64, 4));
    const model = navModule(new OnnxModule(file), { name: 'int4_linear' });
    const run = (batch: number) => model.run({ x: floatInput([batch, 128], batch) });
    // Module-level figures are checked here; the end-to-end check (which may overturn a faster choice) has its own tests.
    const status = await optimize(run, [[1, 1]], { ...quiet, endToEnd: { enabled: false }, workspace: path.join(dir, 'workspace'), targetFormats: ['onnx', 'onnx-int4'] });
    const candidate = status.modules.int4_linear.candidates.find((c) => c.format === 'onnx-int4')!;
    expect(candidate).toMatchObject({ precision: 'int4', conversion: { status: 'ok', reason: expect.stringMatching(/^quantized 1 of 1/) }, correctness: { status: 'ok' }, status: 'passed' });
    expect(candidate.sizeBytes).toBeLessThan(fs.statSync(file).size);
    expect(candidate.conversion.ms).toBeGreaterThanOrEqual(0);
    expect(candidate.correctness.outputs[0]).toMatchObject({ passed: true, tolerance: int4 });
    expect(candidate.correctness.outputs[0].relL2).toBeGreaterThan(0);
  });
});
