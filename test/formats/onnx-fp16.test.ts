import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize } from '../../src';
import { defaultTolerances } from '../../src/config/resolve';
import { onnxFp16Format } from '../../src/formats/onnx-fp16';
import { tinyResNet } from '../../src/models/cnn';
import { tinyEncoder } from '../../src/models/encoder';
import { buildImageDecoder } from '../../src/models/text-to-image';
import { attr, GraphBuilder } from '../../src/onnx/builder';
import { DataType } from '../../src/onnx/data-types';
import { producers, tensorToFloat32 } from '../../src/onnx/graph';
import type { ModelProto, NodeProto } from '../../src/onnx/messages';
import { readModel } from '../../src/onnx/model-io';
import { encodeModel } from '../../src/onnx/proto';
import { formatRegistry, registerFormat } from '../../src/plugins';
import { cpuSessionOptions } from '../../src/runners/onnx-cpu';
import { createOrtSession } from '../../src/runners/ort-session';
import { artifactOf, convertWith, errorsWithin, floatInput, runModel, tokenIds } from '../helpers/format-check';
import { registerTestRunner } from '../helpers/formats';
import { quiet, tempDir, writeModel } from '../helpers/models';

const dir = tempDir('fp16-');
const fp16 = defaultTolerances.fp16;

/** Declared element types of the graph inputs and outputs, by name. */
function ioTypes(model: ModelProto): Record<string, number | undefined> {
  const entries = [...(model.graph!.input ?? []), ...(model.graph!.output ?? [])].map((info) => [info.name!, info.type?.tensorType?.elemType]);
  return Object.fromEntries(entries);
}

/** The op and `to` of the node producing each input of the first node of this op type. */
function inputProducers(model: ModelProto, opType: string): (string | undefined)[] {
  const graph = model.graph!;
  const node = graph.node!.find((n) => n.opType === opType)!;
  const byOutput = producers(graph);
  return node.input!.filter(Boolean).map((name) => describeProducer(byOutput.get(name), graph.initializer!.find((t) => t.name === name)?.dataType));
}

function describeProducer(node: NodeProto | undefined, initializerType: number | undefined): string | undefined {
  if (initializerType !== undefined) return `initializer:${initializerType}`;
  if (!node) return 'graph input';
  return node.opType === 'Cast' ? `Cast:${Number(node.attribute![0].i)}` : node.opType;
}

/**
 * x [batch, 8] → h = Relu(x·W + b), a graph output too; TopK(h) → values, indices (int64);
 * Max(h, c) (kept float32) + h → Mul by a Constant that CumSum (kept) also reads → y.
 */
function keptOpsModel(): Uint8Array {
  const b = new GraphBuilder('kept_ops', { seed: 5 });
  const x = b.input('x', 'float32', ['batch', 8]);
  b.node('Relu', [b.op('Add', [b.op('MatMul', [x, b.randomWeight('w', [8, 8], 0.5)]), b.randomWeight('bias', [8], 0.1)])], {}, { outputs: ['h'] });
  const k = b.initializer('k', BigInt64Array.from([3n]), [1], 'int64');
  b.node('TopK', ['h', k], { axis: -1 }, { outputs: ['values', 'indices'] });
  const shared = b.constant('shared', new Float32Array([0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]), [8]);
  const sum = b.op('Add', [b.op('Max', ['h', b.randomWeight('floor', [8], 0.2)]), 'h']);
  const cumulative = b.op('CumSum', [shared, b.initializer('axis', BigInt64Array.from([0n]), [], 'int64')]);
  b.node('Mul', [b.op('Mul', [sum, shared]), cumulative], {}, { outputs: ['y'] });
  b.output('h', 'float32', ['batch', 8]);
  b.output('values', 'float32', ['batch', 3]);
  b.output('indices', 'int64', ['batch', 3]);
  b.output('y', 'float32', ['batch', 8]);
  return b.toBytes();
}

/** h = x·W in float16 is read inside both branches of an If: the If and its bodies stay float32. */
function ifModel(): Uint8Array {
  const b = new GraphBuilder('with_if', { seed: 9 });
  const x = b.input('x', 'float32', ['batch', 8]);
  const cond = b.input('cond', 'bool', []);
  b.node('MatMul', [x, b.randomWeight('w', [8, 8], 0.5)], {}, { outputs: ['h'] });
  const thenBranch = new GraphBuilder('then_branch');
  thenBranch.node('Mul', ['h', thenBranch.initializer('two', new Float32Array([2]), [], 'float32')], {}, { outputs: ['then_out'] });
  thenBranch.output('then_out', 'float32', ['batch', 8]);
  const elseBranch = new GraphBuilder('else_branch');
  elseBranch.node('Identity', ['h'], {}, { outputs: ['else_out'] });
  elseBranch.output('else_out', 'float32', ['batch', 8]);
  const branched = b.node('If', [cond], { then_branch: attr.graph(thenBranch.buildGraph(['h'])), else_branch: attr.graph(elseBranch.buildGraph(['h'])) }, { outputs: ['branched'] })[0];
  b.node('Tanh', [b.op('Add', [branched, b.randomWeight('c', [8], 0.1)])], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', 8]);
  return b.toBytes();
}

describe('onnx-fp16', () => {
  it('converts an encoder to float16 compute while keeping its int64 inputs and float32 output', async () => {
    const source = writeModel(dir, 'encoder.onnx', tinyEncoder({ attentionMask: true }));
    const logs: string[] = [];
    const artifact = artifactOf(await convertWith(onnxFp16Format, source, { logs }));
    expect(artifact).toMatchObject({ format: 'onnx-fp16', precision: 'fp16' });
    expect(artifact.sizeBytes).toBeLessThan(fs.statSync(source).size * 0.6);
    expect(artifact.notes).toMatch(/node\(s\) in float16/);
    expect(logs).toEqual([artifact.notes]);

    const converted = readModel(artifact.path);
    expect(ioTypes(converted)).toEqual(ioTypes(readModel(source)));
    const initializerTypes = new Set(converted.graph!.initializer!.map((t) => t.dataType));
    expect(initializerTypes.has(DataType.FLOAT16)).toBe(true);
    expect(initializerTypes.has(DataType.FLOAT)).toBe(false);
    // The mask's Cast to float now casts to float16; the output is cast back to float32.
    const casts = converted.graph!.node!.filter((n) => n.opType === 'Cast').map((n) => Number(n.attribute![0].i));
    expect(casts).toEqual(expect.arrayContaining([DataType.FLOAT16, DataType.FLOAT]));

    const ids = tokenIds(2, 12);
    const mask = new Tensor('int64', BigInt64Array.from({ length: 24 }, (_, i) => (i % 12 < 9 ? 1n : 0n)), [2, 12]);
    const expected = await runModel(source, { input_ids: ids, attention_mask: mask });
    const actual = await runModel(artifact.path, { input_ids: ids, attention_mask: mask });
    expect(actual.last_hidden_state.type).toBe('float32');
    const [error] = errorsWithin(actual, expected, fp16);
    expect(error.passed).toBe(true);
    expect(error.maxAbsError).toBeGreaterThan(0); // it really computed in float16
  });

  it('keeps the built-in and configured ops in float32 behind Casts, and shares a Constant between precisions', async () => {
    const source = writeModel(dir, 'kept.onnx', keptOpsModel());
    const artifact = artifactOf(await convertWith(onnxFp16Format, source));
    const converted = readModel(artifact.path);
    expect(artifact.notes).toMatch(/kept in float32: .*TopK×1/);
    expect(artifact.notes).toMatch(/Max×1/);
    expect(artifact.notes).toMatch(/CumSum×1/);
    expect(ioTypes(converted)).toEqual(ioTypes(readModel(source)));
    // h is computed in float16 and cast back to float32 under its own name for the kept ops.
    expect(inputProducers(converted, 'TopK')).toEqual(['Cast:1', 'initializer:7']);
    expect(inputProducers(converted, 'Max')).toEqual(['Cast:1', 'initializer:1']);
    // The Constant read by CumSum stays float32; the float16 Mul reads it through a Cast.
    expect(inputProducers(converted, 'CumSum')).toEqual(['Constant', 'initializer:7']);
    expect(inputProducers(converted, 'Relu')).toEqual(['Add']);

    const x = floatInput([3, 8], 1);
    const expected = await runModel(source, { x });
    const actual = await runModel(artifact.path, { x });
    expect(actual.indices.type).toBe('int64');
    for (const error of errorsWithin(actual, expected, fp16)) expect(error).toMatchObject({ passed: true });

    // formatOptions keepOps adds to the list.
    const relu = readModel(artifactOf(await convertWith(onnxFp16Format, source, { options: { keepOps: ['Relu'] } })).path);
    expect(inputProducers(relu, 'Relu')).toEqual(['Cast:1']);
    const byNode = readModel(artifactOf(await convertWith(onnxFp16Format, source, { options: { keepOps: ['Add'] } })).path);
    expect(inputProducers(byNode, 'Add')).toEqual(['Cast:1', 'initializer:1']);
    expect(inputProducers(byNode, 'Relu')).toEqual(['Cast:10']);
  });

  it('converts the CNN presets: Conv, BatchNormalization, pooling and Gemm in float16, Resize and its scales in float32', async () => {
    const resnet = writeModel(dir, 'resnet.onnx', tinyResNet());
    const resnetFp16 = artifactOf(await convertWith(onnxFp16Format, resnet));
    expect(resnetFp16.notes).toMatch(/none kept in float32/);
    const pixels = floatInput([2, 3, 32, 32], 3);
    expect(errorsWithin(await runModel(resnetFp16.path, { pixel_values: pixels }), await runModel(resnet, { pixel_values: pixels }), fp16)[0].passed).toBe(true);

    const decoder = writeModel(dir, 'decoder.onnx', buildImageDecoder());
    const decoderFp16 = artifactOf(await convertWith(onnxFp16Format, decoder));
    expect(decoderFp16.notes).toMatch(/kept in float32: Constant×2, Resize×2/);
    const converted = readModel(decoderFp16.path);
    for (const resize of converted.graph!.node!.filter((n) => n.opType === 'Resize')) {
      const byOutput = producers(converted.graph!);
      expect(describeProducer(byOutput.get(resize.input![0]), undefined)).toBe('Cast:1');
      expect(byOutput.get(resize.input![2])!.attribute![0].t!.dataType).toBe(DataType.FLOAT);
    }
    const latent = floatInput([1, 4, 16, 16], 4);
    expect(errorsWithin(await runModel(decoderFp16.path, { latent }), await runModel(decoder, { latent }), fp16)[0].passed).toBe(true);
  });

  it('keeps If bodies in float32, feeding them the float32 version of values computed in float16', async () => {
    const source = writeModel(dir, 'if.onnx', ifModel());
    const artifact = artifactOf(await convertWith(onnxFp16Format, source));
    expect(artifact.notes).toMatch(/kept in float32: If×1/);
    const converted = readModel(artifact.path).graph!;
    const branches = converted.node!.find((n) => n.opType === 'If')!.attribute!.map((a) => a.g!);
    const read = branches.map((g) => g.node![0].input![0]);
    expect(read[0]).toBe(read[1]);
    expect(describeProducer(producers(converted).get(read[0]), undefined)).toBe('Cast:1');
    const x = floatInput([2, 8], 2);
    for (const branch of [true, false]) {
      const cond = new Tensor('bool', new Uint8Array([branch ? 1 : 0]), []);
      const expected = await runModel(source, { x, cond });
      const actual = await runModel(artifact.path, { x, cond });
      expect(errorsWithin(actual, expected, fp16)[0].passed).toBe(true);
    }
  });

  it('updates value_info, converts Constant value_float attributes and clamps constants to float16 range', async () => {
    const b = new GraphBuilder('clamped');
    const x = b.input('x', 'float32', ['batch', 4]);
    const scaled = b.op('Mul', [x, b.initializer('big', new Float32Array([1e6, 2, 3, 1e-9]), [4], 'float32')]);
    const offset = b.node('Constant', [], { value_float: attr.float(0.5) }, { outputs: ['offset'] })[0];
    b.node('Add', [scaled, offset], {}, { outputs: ['y'] });
    b.output('y', 'float32', ['batch', 4]);
    const model = b.build();
    model.graph!.valueInfo = [{ name: scaled, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 4 }] } } } }];
    const source = writeModel(dir, 'clamped.onnx', encodeModel(model));
    const artifact = artifactOf(await convertWith(onnxFp16Format, source));
    expect(artifact.notes).toMatch(/2 value\(s\) clamped/);
    const converted = readModel(artifact.path);
    expect(Array.from(tensorToFloat32(converted.graph!.initializer!.find((t) => t.name === 'big')!))).toEqual([65504, 2, 3, expect.closeTo(1e-7, 7)]);
    expect(converted.graph!.valueInfo![0].type!.tensorType!.elemType).toBe(DataType.FLOAT16);
    const constant = converted.graph!.node!.find((n) => n.opType === 'Constant')!;
    expect(constant.attribute![0]).toMatchObject({ name: 'value', t: { dataType: DataType.FLOAT16 } });
    const out = await runModel(artifact.path, { x: new Tensor('float32', new Float32Array([0, 1, 1, 0]), [1, 4]) });
    expect(Array.from(out.y.data as Float32Array)).toEqual([0.5, 2.5, 3.5, 0.5]);
  });

  it('is not applicable to models already in float16, without float32 tensors, passing sequences, with unknown types or opset < 6', async () => {
    const source = writeModel(dir, 'again.onnx', tinyEncoder());
    const once = artifactOf(await convertWith(onnxFp16Format, source));
    const twice = await convertWith(onnxFp16Format, once.path);
    expect(twice).toEqual({ notApplicable: expect.stringMatching(/already in float16 \(initializer ".*" is float16\)/) });

    const ints = new GraphBuilder('ints');
    ints.node('Add', [ints.input('a', 'int64', [2]), ints.initializer('one', BigInt64Array.from([1n, 1n]), [2], 'int64')], {}, { outputs: ['b'] });
    ints.output('b', 'int64', [2]);
    expect(await convertWith(onnxFp16Format, writeModel(dir, 'ints.onnx', ints.toBytes()))).toEqual({ notApplicable: 'the model has no float32 tensors to convert' });

    const sequences = new GraphBuilder('sequences');
    const a = sequences.input('a', 'float32', [2]);
    const seq = sequences.op('SequenceConstruct', [a, a]);
    sequences.node('ConcatFromSequence', [seq], { axis: 0 }, { outputs: ['c'] });
    sequences.output('c', 'float32', [4]);
    const result = await convertWith(onnxFp16Format, writeModel(dir, 'seq.onnx', sequences.toBytes()));
    expect(result).toEqual({ notApplicable: expect.stringMatching(/passes a sequence, map or optional value/) });

    // A custom op's output type is unknown: the converter cannot tell whether its float16 reader needs a Cast.
    const custom = new GraphBuilder('custom');
    custom.useOpset('com.example', 1);
    const opaque = custom.node('Mystery', [custom.input('a', 'float32', [2])], {}, { domain: 'com.example', outputs: ['opaque'] })[0];
    custom.node('Relu', [opaque], {}, { outputs: ['r'] });
    custom.output('r', 'float32', [2]);
    expect(await convertWith(onnxFp16Format, writeModel(dir, 'custom.onnx', custom.toBytes()))).toEqual({
      notApplicable: 'cannot tell the element type of "opaque" (node "Relu_1" (Relu)), so it cannot decide where float16 casts go',
    });

    const old = new GraphBuilder('old', { opset: 5 });
    old.node('Relu', [old.input('a', 'float32', [2])], {}, { outputs: ['r'] });
    old.output('r', 'float32', [2]);
    expect(await convertWith(onnxFp16Format, writeModel(dir, 'old.onnx', old.toBytes()))).toEqual({
      notApplicable: "the model's opset 5 is below 6, where Cast takes its target type as an integer",
    });
  });

  it('runs through optimize, checked on the CPU provider by a runner that loads float16 models', async () => {
    if (!formatRegistry.has('onnx-fp16')) registerFormat(onnxFp16Format);
    // The CPU runner leaves onnx-fp16 to the GPU providers; this one runs it on the CPU provider anyway.
    // Loads what the GPU providers load (onnx-fp16 among them), on the CPU provider.
    registerTestRunner('OnnxCPUHalf', (artifact) => createOrtSession(artifact, cpuSessionOptions({})), ['onnxruntime-gpu']);
    const model = navModule(new OnnxModule(writeModel(dir, 'opt-encoder.onnx', tinyEncoder())), { name: 'fp16_encoder' });
    const run = (batch: number) => model.run({ input_ids: tokenIds(batch, 8) });
    // Module-level figures are checked here; the end-to-end check (which may overturn a faster choice) has its own tests.
    const status = await optimize(run, [[1, 1]], { ...quiet, endToEnd: { enabled: false }, workspace: path.join(dir, 'workspace'), targetFormats: ['onnx', 'onnx-fp16'], runners: ['OnnxCPU', 'OnnxCPUHalf'] });
    const candidate = status.modules.fp16_encoder.candidates.find((c) => c.format === 'onnx-fp16')!;
    expect(candidate).toMatchObject({ precision: 'fp16', runner: 'OnnxCPUHalf', conversion: { status: 'ok' }, correctness: { status: 'ok' }, status: 'passed' });
    expect(candidate.sizeBytes).toBeGreaterThan(0);
    expect(candidate.conversion.ms).toBeGreaterThanOrEqual(0);
    expect(candidate.correctness.outputs[0]).toMatchObject({ passed: true, tolerance: fp16 });
    expect(candidate.correctness.outputs[0].maxAbsError).toBeGreaterThan(0);
    expect(candidate.correctness.outputs[0].cosine).toBeGreaterThan(0.999);
  });
});
