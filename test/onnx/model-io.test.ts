import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/onnx/builder';
import { externalDataInfo, isExternalTensor } from '../../src/onnx/external-data';
import { findInitializer, tensorRawBytes } from '../../src/onnx/graph';
import { loadExternalTensor, readModel, writeModel } from '../../src/onnx/model-io';
import { DataLocation, decodeModel, encodeModel, type ModelProto, type TensorProto } from '../../src/onnx/proto';
import { runModel, tempDir } from '../helpers/models';

/** A fresh folder per test, under the test file's own temporary folder. */
let tmp: string;
beforeEach(() => {
  tmp = tempDir('model-io-');
});

/** x [1, 64] → MatMul w1 [64, 64] (16 KiB) → Add b1 [64] (256 B) → MatMul w2 [64, 32] (8 KiB) → y. */
function mlp(): ModelProto {
  const b = new GraphBuilder('mlp', { seed: 11 });
  const x = b.input('x', 'float32', [1, 64]);
  const h = b.op('Add', [b.op('MatMul', [x, b.randomWeight('w1', [64, 64])]), b.randomWeight('b1', [64])]);
  b.node('MatMul', [h, b.randomWeight('w2', [64, 32])], {}, { outputs: ['y'] });
  b.output('y', 'float32', [1, 32]);
  return b.build();
}

const input = new ort.Tensor('float32', Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)), [1, 64]);

async function outputOf(model: string | Uint8Array): Promise<Float32Array> {
  return (await runModel(model, { x: input })).y.data as Float32Array;
}

function initializer(model: ModelProto, name: string): TensorProto {
  const tensor = findInitializer(model.graph!, name);
  if (!tensor) throw new Error(`no initializer ${name}`);
  return tensor;
}

function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'));
}

describe('writeModel / readModel with external data', () => {
  it('moves large initializers to an aligned external file that onnxruntime loads', async () => {
    const model = mlp();
    const file = path.join(tmp, 'a', 'model.onnx');
    const result = writeModel(file, model, { externalDataThreshold: 1024 });
    expect(result).toMatchObject({ externalDataPath: `${file}.data`, externalTensors: 2, externalBytes: 64 * 64 * 4 + 64 * 32 * 4 });
    expect(leftovers(path.dirname(file))).toEqual([]);

    const stored = decodeModel(fs.readFileSync(file));
    expect(isExternalTensor(initializer(stored, 'w1'))).toBe(true);
    expect(isExternalTensor(initializer(stored, 'b1'))).toBe(false); // 256 bytes: under the threshold
    const offsets = ['w1', 'w2'].map((name) => externalDataInfo(initializer(stored, name)));
    expect(offsets.map((info) => [info.location, info.offset % 4096, info.length])).toEqual([
      ['model.onnx.data', 0, 16384],
      ['model.onnx.data', 0, 8192],
    ]);
    expect(initializer(stored, 'w1').rawData).toBeUndefined();
    // The caller's model is not modified.
    expect(isExternalTensor(initializer(model, 'w1'))).toBe(false);

    expect(await outputOf(file)).toEqual(await outputOf(encodeModel(model)));
  });

  it('reads a model without reading its external data, and loads tensors on demand', () => {
    const model = mlp();
    const file = path.join(tmp, 'model.onnx');
    writeModel(file, model, { externalDataThreshold: 1024 });
    // With the data file gone, reading must still work: readModel never touches it.
    fs.renameSync(`${file}.data`, path.join(tmp, 'elsewhere'));
    const lazy = readModel(file);
    expect(initializer(lazy, 'w1')).toMatchObject({ dataLocation: DataLocation.EXTERNAL });
    expect(initializer(lazy, 'w1').rawData).toBeUndefined();
    expect(() => readModel(file, { loadExternalData: true })).toThrow(/"w1".*cannot open the external data file "model.onnx.data"/s);
    fs.renameSync(path.join(tmp, 'elsewhere'), `${file}.data`);

    expect(loadExternalTensor(tmp, initializer(lazy, 'w1'))).toEqual(initializer(model, 'w1').rawData);
    expect(tensorRawBytes(initializer(lazy, 'w2'), tmp)).toEqual(initializer(model, 'w2').rawData);
    expect(() => tensorRawBytes(initializer(lazy, 'w2'))).toThrow(/"w2".*stored in an external data file/s);

    const loaded = readModel(file, { loadExternalData: true });
    expect(initializer(loaded, 'w1').rawData).toEqual(initializer(model, 'w1').rawData);
    expect(initializer(loaded, 'w1').dataLocation).toBeUndefined();
    expect(initializer(loaded, 'w1').externalData).toBeUndefined();
  });

  it('copies still-external tensors when writing the model elsewhere', async () => {
    const source = path.join(tmp, 'source', 'model.onnx');
    writeModel(source, mlp(), { externalDataThreshold: 1024 });
    const expected = await outputOf(source);

    const copy = path.join(tmp, 'copy', 'renamed.onnx');
    const result = writeModel(copy, readModel(source), { externalDataFile: 'weights.bin' });
    expect(result).toMatchObject({ externalDataPath: path.join(tmp, 'copy', 'weights.bin'), externalTensors: 2 });
    fs.rmSync(path.join(tmp, 'source'), { recursive: true });
    expect(await outputOf(copy)).toEqual(expected);

    // Writing over itself reads the old data file while writing the new one under a temporary name.
    writeModel(copy, readModel(copy), { externalDataFile: 'weights.bin' });
    expect(await outputOf(copy)).toEqual(expected);
    expect(leftovers(path.join(tmp, 'copy'))).toEqual([]);

    // Everything back inline: no data file needed.
    const inline = path.join(tmp, 'inline.onnx');
    expect(writeModel(inline, readModel(copy)).externalTensors).toBe(2);
    expect(writeModel(inline, readModel(copy, { loadExternalData: true })).externalTensors).toBe(0);
    expect(await outputOf(inline)).toEqual(expected);
  });

  it('copies a tensor larger than the copy chunk exactly', () => {
    const b = new GraphBuilder('big');
    const values = Float32Array.from({ length: 5_000_000 }, (_, i) => i * 0.25);
    b.input('x', 'float32', [1]);
    b.initializer('big', values, [5_000_000]);
    b.node('Identity', ['x'], {}, { outputs: ['y'] });
    b.output('y', 'float32', [1]);
    const first = path.join(tmp, 'first.onnx');
    writeModel(first, b.build(), { externalDataThreshold: 0 });
    const second = path.join(tmp, 'second', 'model.onnx');
    // A model decoded in memory has no source directory of its own: say where its data is.
    writeModel(second, decodeModel(fs.readFileSync(first)), { sourceDir: tmp });
    const copied = loadExternalTensor(path.dirname(second), initializer(readModel(second), 'big'));
    expect(Buffer.from(copied).equals(Buffer.from(values.buffer))).toBe(true);
  });

  it('fails cleanly, naming the tensor, when external data is missing', () => {
    const file = path.join(tmp, 'model.onnx');
    writeModel(file, mlp(), { externalDataThreshold: 1024 });
    const model = readModel(file);
    fs.rmSync(`${file}.data`);
    const target = path.join(tmp, 'out', 'model.onnx');
    expect(() => writeModel(target, model)).toThrow(/"w1".*cannot open the external data file/s);
    expect(fs.readdirSync(path.join(tmp, 'out'))).toEqual([]);
    expect(() => readModel(path.join(tmp, 'absent.onnx'))).toThrow(/absent.onnx.*cannot read the ONNX model file/s);
  });
});
