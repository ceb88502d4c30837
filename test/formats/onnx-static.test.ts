import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize } from '../../src';
import { defaultTolerances } from '../../src/config/resolve';
import { onnxStaticFormat } from '../../src/formats/onnx-static';
import { tinyEncoder } from '../../src/models/encoder';
import { GraphBuilder } from '../../src/onnx/builder';
import { valueInfoShape } from '../../src/onnx/graph';
import { readModel, writeModel as writeOnnx } from '../../src/onnx/model-io';
import { formatRegistry, registerFormat } from '../../src/plugins';
import { cpuSessionOptions } from '../../src/runners/onnx-cpu';
import { createOrtSession } from '../../src/runners/ort-session';
import { artifactOf, convertWith, errorsWithin, floatInput, runModel, signatureOf, tokenIds } from '../helpers/format-check';
import { quiet, sequenceModel, tempDir, writeModel } from '../helpers/models';

const dir = tempDir('static-');

function shapes(model: ReturnType<typeof readModel>, list: 'input' | 'output'): Record<string, (number | string)[] | undefined> {
  return Object.fromEntries((model.graph![list] ?? []).map((info) => [info.name!, valueInfoShape(info)]));
}

describe('onnx-static', () => {
  it('fixes the symbolic input dims to the one captured shape, on outputs too, and sets fixedShapes', async () => {
    const source = writeModel(dir, 'seq.onnx', sequenceModel());
    const signature = signatureOf([{ name: 'x', shapes: [[2, 5, 8], [2, 5, 8]] }]);
    const logs: string[] = [];
    const artifact = artifactOf(await convertWith(onnxStaticFormat, source, { signature, logs }));
    expect(artifact).toMatchObject({ format: 'onnx-static', precision: 'fp32', fixedShapes: { x: [2, 5, 8] } });
    expect(artifact.notes).toBe('fixed x[0] batch=2, x[1] seq=5');
    expect(logs).toEqual([artifact.notes]);
    const model = readModel(artifact.path);
    expect(shapes(model, 'input')).toEqual({ x: [2, 5, 8] });
    expect(shapes(model, 'output')).toEqual({ y: [2, 5, 8] });
    expect(model.graph!.node).toEqual(readModel(source).graph!.node);

    const x = floatInput([2, 5, 8], 4);
    expect((await runModel(artifact.path, { x })).y.data).toEqual((await runModel(source, { x })).y.data);
    // onnxruntime now enforces the shape, and the runner session routes other shapes elsewhere.
    await expect(runModel(artifact.path, { x: floatInput([1, 5, 8]) })).rejects.toThrow(/index: 0 Got: 1 Expected: 2/);
    const session = await createOrtSession(artifact, cpuSessionOptions({}));
    expect(session.accepts({ x })).toBe(true);
    expect(session.accepts({ x: floatInput([2, 6, 8]) })).toBe(false);
    await session.release();
  });

  it('specializes an encoder with two inputs sharing symbolic dims, keeping its external data', async () => {
    const built = writeModel(dir, 'encoder-inline.onnx', tinyEncoder({ attentionMask: true }));
    const source = path.join(tempDir('static-external-'), 'encoder.onnx');
    writeOnnx(source, readModel(built), { externalDataThreshold: 1024 });
    const signature = signatureOf([
      { name: 'input_ids', dtype: 'int64', shapes: [[1, 16]] },
      { name: 'attention_mask', dtype: 'int64', shapes: [[1, 16]] },
    ]);
    const artifact = artifactOf(await convertWith(onnxStaticFormat, source, { signature }));
    expect(artifact.fixedShapes).toEqual({ input_ids: [1, 16], attention_mask: [1, 16] });
    const model = readModel(artifact.path);
    expect(shapes(model, 'input')).toEqual({ input_ids: [1, 16], attention_mask: [1, 16] });
    expect(shapes(model, 'output')).toEqual({ last_hidden_state: [1, 16, 32] });
    expect(fs.existsSync(`${artifact.path}.data`)).toBe(true);
    expect(artifact.sizeBytes).toBe(fs.statSync(artifact.path).size + fs.statSync(`${artifact.path}.data`).size);
    const feeds = { input_ids: tokenIds(1, 16), attention_mask: new Tensor('int64', new BigInt64Array(16).fill(1n), [1, 16]) };
    // Static shapes let onnxruntime fuse more (the float32 sums then differ in the last bits).
    expect(errorsWithin(await runModel(artifact.path, feeds), await runModel(source, feeds), defaultTolerances.fp32)[0].passed).toBe(true);
  });

  it('is not applicable when the module saw several shapes, or the model is static already', async () => {
    const source = writeModel(dir, 'seq2.onnx', sequenceModel());
    const varied = signatureOf([{ name: 'x', shapes: [[1, 4, 8], [2, 4, 8], [2, 9, 8]] }]);
    expect(await convertWith(onnxStaticFormat, source, { signature: varied })).toEqual({
      notApplicable: 'the module was called with more than one input shape (x from 1x4x8 to 2x9x8); a static-shape model would serve only one',
    });
    expect(await convertWith(onnxStaticFormat, source, { signature: signatureOf([]) })).toEqual({ notApplicable: 'the module has no captured inputs' });
    const b = new GraphBuilder('fixed');
    b.node('Relu', [b.input('x', 'float32', [2, 3])], {}, { outputs: ['y'] });
    b.output('y', 'float32', [2, 3]);
    const fixed = writeModel(dir, 'fixed.onnx', b.toBytes());
    expect(await convertWith(onnxStaticFormat, fixed, { signature: signatureOf([{ name: 'x', shapes: [[2, 3]] }]) })).toEqual({
      notApplicable: "the model's inputs have no symbolic dimensions: it is static already",
    });
    await expect(convertWith(onnxStaticFormat, fixed, { signature: signatureOf([{ name: 'x', shapes: [[4, 3]] }]) })).rejects.toThrow(/captured shape 4x3 does not fit the declared shape \[2, 3\]/);
  });

  it('runs through optimize: profiled only at its own shape, with precision, size, conversion time and error figures', async () => {
    if (!formatRegistry.has('onnx-static')) registerFormat(onnxStaticFormat);
    const file = writeModel(dir, 'opt-seq.onnx', sequenceModel(5));
    const model = navModule(new OnnxModule(file), { name: 'static_seq' });
    const run = (batch: number) => model.run({ x: floatInput([batch, 6, 8], batch) });
    const status = await optimize(run, [[1, 1]], { ...quiet, workspace: path.join(dir, 'workspace'), targetFormats: ['onnx', 'onnx-static'] });
    const candidate = status.modules.static_seq.candidates.find((c) => c.format === 'onnx-static')!;
    expect(candidate).toMatchObject({ precision: 'fp32', fixedShapes: { x: [1, 6, 8] }, conversion: { status: 'ok' }, correctness: { status: 'ok' }, status: 'passed' });
    expect(candidate.sizeBytes).toBeGreaterThan(0);
    expect(candidate.conversion.ms).toBeGreaterThanOrEqual(0);
    expect(candidate.correctness.outputs[0]).toMatchObject({ passed: true, maxAbsError: 0 });
    expect(candidate.performance.map((p) => p.batchSize)).toEqual([1]);
  });
});

