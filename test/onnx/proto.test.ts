import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/onnx/builder';
import { encodeMessage, MessageTooLargeError, type Message } from '../../src/onnx/codec';
import { opCounts, tensorRawBytes, tensorToArray, tensorToFloat32 } from '../../src/onnx/graph';
import { SCHEMAS } from '../../src/onnx/schema';
import { mapModelTensors } from '../../src/onnx/tensor-walk';
import {
  DataType,
  dataTypeOf,
  decodeModel,
  decodeTensor,
  encodeModel,
  encodeTensor,
  ortTypeOf,
  type ModelProto,
  type TensorProto,
} from '../../src/onnx/proto';
import { runModel } from '../helpers/models';
import { ONNX_TESTDATA, describeWithTestdata } from '../helpers/testdata';

const TEST_DATA = ONNX_TESTDATA;
/** Ops whose outputs differ from run to run; their reference outputs cannot be compared. */
const RANDOM_OPS = new Set(['Bernoulli', 'Multinomial', 'RandomNormal', 'RandomNormalLike', 'RandomUniform', 'RandomUniformLike']);

/** Protobuf varint bytes of a non-negative integer, written independently of the code under test. */
function varint(value: number): number[] {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return bytes;
}

function float32Bytes(values: number[]): number[] {
  return Array.from(new Uint8Array(new Float32Array(values).buffer));
}

function smallModel(): ModelProto {
  const b = new GraphBuilder('small');
  const x = b.input('x', 'float32', ['batch', 2]);
  b.node('Add', [x, b.initializer('w', new Float32Array([1.5, -2]), [2])], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', 2]);
  return b.build();
}

describe('ONNX protobuf codec', () => {
  it('re-encodes models built by the builder byte for byte', () => {
    const bytes = encodeModel(smallModel());
    expect(Buffer.from(encodeModel(decodeModel(bytes))).equals(Buffer.from(bytes))).toBe(true);
  });

  it('decodes raw_data as a view into the input, not a copy', () => {
    const bytes = encodeModel(smallModel());
    const raw = decodeModel(bytes).graph!.initializer![0].rawData!;
    expect(raw.buffer).toBe(bytes.buffer);
    expect(Array.from(new Float32Array(raw.slice().buffer))).toEqual([1.5, -2]);
  });

  it('keeps unknown fields and writes them back', () => {
    const model = smallModel();
    // Field 100, varint 7 on a node; field 1000, bytes "hi" on the model.
    model.graph!.node![0].unknownFields = [new Uint8Array([...varint((100 << 3) | 0), 7])];
    const bytes = encodeModel(model);
    const withTrailer = new Uint8Array([...bytes, ...varint((1000 << 3) | 2), 2, 0x68, 0x69]);
    const decoded = decodeModel(withTrailer);
    expect(decoded.unknownFields).toEqual([new Uint8Array([...varint((1000 << 3) | 2), 2, 0x68, 0x69])]);
    expect(decoded.graph!.node![0].unknownFields).toEqual([new Uint8Array([0xa0, 0x06, 7])]);
    expect(Buffer.from(encodeModel(decoded)).equals(Buffer.from(withTrailer))).toBe(true);
  });

  it('decodes packed and unpacked repeated scalars alike', () => {
    const packed: TensorProto = { dims: [2, 300], dataType: DataType.FLOAT, floatData: new Float32Array([0.5, -3]), int64Data: new BigInt64Array([5n, -1n]) };
    const packedBytes = encodeTensor(packed);
    // dims are unpacked in onnx.proto (proto2): one tag per element, as protobuf itself writes them.
    expect(Array.from(packedBytes.slice(0, 5))).toEqual([0x08, 2, 0x08, 0xac, 0x02]);
    const unpacked = new Uint8Array([
      0x0a, 3, 2, 0xac, 0x02, // dims [2, 300], packed this time
      0x10, 1, // data_type FLOAT
      0x25, ...float32Bytes([0.5]), 0x25, ...float32Bytes([-3]), // float_data, one tag per element
      0x38, 5, // int64_data 5
      0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // int64_data -1: ten bytes
    ]);
    const decoded = decodeTensor(unpacked);
    expect(decoded).toEqual(decodeTensor(packedBytes));
    expect(decoded.floatData).toBeInstanceOf(Float32Array);
    expect(Buffer.from(encodeTensor(decoded)).equals(Buffer.from(packedBytes))).toBe(true);
  });

  it('round-trips int32 and int64 extremes', () => {
    const tensor: TensorProto = {
      name: 'extremes',
      dims: [3],
      dataType: DataType.INT64,
      int32Data: new Int32Array([-1, -2147483648, 2147483647]),
      int64Data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, -1n]),
      uint64Data: new BigUint64Array([2n ** 64n - 1n]),
      doubleData: new Float64Array([Math.PI]),
    };
    const decoded = decodeTensor(encodeTensor(tensor));
    expect(decoded).toEqual(tensor);
    const model = smallModel();
    model.graph!.node![0].attribute = [{ name: 'ends', type: 7, ints: [-1, 2 ** 53 - 1, 2n ** 63n - 1n] }];
    expect(decodeModel(encodeModel(model)).graph!.node![0].attribute![0].ints).toEqual([-1, 2 ** 53 - 1, 2n ** 63n - 1n]);
  });

  it('names the field when a value does not fit', () => {
    const model = smallModel();
    model.graph!.initializer![0].dims = [2 ** 60];
    expect(() => encodeModel(model)).toThrow(/graph\("small"\)\.initializer\[0\]\("w"\)\.dims\[0\]: 1152921504606847000 is not a safe integer/);
    model.graph!.initializer![0].dims = [1.5];
    expect(() => encodeModel(model)).toThrow(/initializer\[0\]\("w"\)\.dims\[0\]: expected an integer, got number 1.5/);
    const tooBig = new Uint8Array([0x08, ...varint(2 ** 60)]);
    expect(() => decodeTensor(tooBig)).toThrow(/dims: int64 value 1152921504606846976 is outside JavaScript's safe integer range/);
  });

  it('refuses truncated input with a clear error', () => {
    const bytes = encodeModel(smallModel());
    expect(() => decodeModel(bytes.subarray(0, bytes.length - 3))).toThrow(/cannot decode ONNX ModelProto at opsetImport\[0\]: field of 4 bytes at offset \d+ runs past the end/);
  });

  it('refuses, before allocating, a message over the size limit', () => {
    expect(() => encodeMessage(smallModel() as Message, SCHEMAS.ModelProto, 10)).toThrow(MessageTooLargeError);
    expect(() => encodeMessage(smallModel() as Message, SCHEMAS.ModelProto, 10)).toThrow(/would be \d+ bytes, over the limit of 10/);
  });

  it('keeps non-ASCII names', () => {
    const model = smallModel();
    model.graph!.name = 'größe 😀 模型';
    expect(decodeModel(encodeModel(model)).graph!.name).toBe('größe 😀 模型');
  });

  it('maps ONNX data types to onnxruntime type strings', () => {
    expect([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.FLOAT8E4M3FN, DataType.UINT4, DataType.INT4, DataType.FLOAT4E2M1]).toEqual([1, 10, 16, 17, 21, 22, 23]);
    expect(['float32', 'float16', 'int64', 'int32', 'int8', 'uint8', 'bool', 'float64', 'int4'].map(dataTypeOf)).toEqual([1, 10, 7, 6, 3, 2, 9, 11, 22]);
    expect(ortTypeOf(DataType.FLOAT16)).toBe('float16');
    expect(ortTypeOf(DataType.BOOL)).toBe('bool');
    expect(() => ortTypeOf(DataType.BFLOAT16)).toThrow(/bfloat16 \(16\) has no onnxruntime-node tensor type/);
    expect(() => dataTypeOf('float17')).toThrow(/unknown tensor element type "float17"/);
  });
});

describeWithTestdata('libonnx-testdata round trip', () => {
  const dirs = fs.existsSync(TEST_DATA) ? fs.readdirSync(TEST_DATA).filter((d) => fs.existsSync(path.join(TEST_DATA, d, 'model.onnx'))) : [];
  /** Each dir's model.onnx, read once for the tests below (about 0.5 MB in all). */
  let files: Buffer[] = [];
  beforeAll(() => {
    files = dirs.map((dir) => fs.readFileSync(path.join(TEST_DATA, dir, 'model.onnx')));
  });

  it('finds the test data (apt-get install libonnx-testdata)', () => {
    expect(dirs.length).toBeGreaterThan(500);
  });

  it('re-encodes every model byte for byte, in well under 10 s', () => {
    const started = performance.now();
    const different = dirs.filter((dir, i) => !Buffer.from(encodeModel(decodeModel(files[i]))).equals(files[i]));
    const elapsed = performance.now() - started;
    expect(different).toEqual([]);
    expect(elapsed).toBeLessThan(10_000);
    console.log(`libonnx-testdata: ${files.length} models decoded and re-encoded in ${elapsed.toFixed(0)} ms`);
  });

  it('runs re-encoded models (tensor values moved between raw_data and typed fields) in onnxruntime with the outputs of the originals', async () => {
    const ran: string[] = [];
    let changed = 0;
    // Every 12th model, and every model whose tensors the re-encoding changes.
    for (const [i, dir] of dirs.entries()) {
      const original = files[i];
      const decoded = decodeModel(original);
      const changes = swapTensorEncodings(decoded) !== decoded;
      if (!changes && i % 12 !== 0) continue;
      if ((await compareWithOriginal(path.join(TEST_DATA, dir), original)) === 'ran') {
        ran.push(dir);
        if (changes) changed++;
      }
    }
    console.log(`onnxruntime ran ${ran.length} libonnx models, original and re-encoded (${changed} with tensors re-encoded differently)`);
    expect(ran.length).toBeGreaterThan(100);
    expect(changed).toBeGreaterThan(50);
  });
});

/** Runs the original (dir's model.onnx, as read) and the re-encoded model on test_data_set_0; 'skipped' when ORT cannot run the original. */
async function compareWithOriginal(dir: string, original: Buffer): Promise<'ran' | 'skipped'> {
  const model = decodeModel(original);
  const initializers = new Set(model.graph!.initializer?.map((t) => t.name));
  const inputs = (model.graph!.input ?? []).filter((input) => !initializers.has(input.name));
  if (!inputs.every((input) => input.type?.tensorType)) return 'skipped'; // sequence/optional inputs
  const dataDir = path.join(dir, 'test_data_set_0');
  const feeds: Record<string, ort.Tensor> = {};
  for (let i = 0; i < inputs.length; i++) {
    const file = path.join(dataDir, `input_${i}.pb`);
    if (!fs.existsSync(file)) return 'skipped';
    feeds[inputs[i].name!] = toOrtTensor(decodeTensor(fs.readFileSync(file)));
  }
  let expected: Record<string, ort.Tensor>;
  try {
    expected = await runModel(original, feeds);
  } catch {
    return 'skipped'; // an op or type this onnxruntime build does not support
  }
  const changed = swapTensorEncodings(decodeModel(original));
  const actual = await runModel(encodeModel(changed), feeds);
  for (const [name, tensor] of Object.entries(expected)) {
    expect({ dir, name, dims: actual[name].dims }).toEqual({ dir, name, dims: tensor.dims });
    expect({ dir, name, data: Array.from(actual[name].data as ArrayLike<unknown>, String) }).toEqual({ dir, name, data: Array.from(tensor.data as ArrayLike<unknown>, String) });
  }
  // The reference outputs, decoded by decodeTensor: checks the TensorProto side of the codec too.
  const outputs = model.graph!.output ?? [];
  if (Object.keys(opCounts(model.graph!)).some((op) => RANDOM_OPS.has(op))) return 'ran';
  for (let i = 0; i < outputs.length; i++) {
    const file = path.join(dataDir, `output_${i}.pb`);
    if (!fs.existsSync(file) || !outputs[i].type?.tensorType) continue;
    const reference = toOrtTensor(decodeTensor(fs.readFileSync(file)));
    const got = actual[outputs[i].name!];
    expect({ dir, dims: got.dims }).toEqual({ dir, dims: reference.dims });
    expectNear(dir, got.data as ArrayLike<number | bigint | string>, reference.data as ArrayLike<number | bigint | string>);
  }
  return 'ran';
}

function expectNear(dir: string, actual: ArrayLike<number | bigint | string>, expected: ArrayLike<number | bigint | string>): void {
  expect({ dir, length: actual.length }).toEqual({ dir, length: expected.length });
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i], expected[i]];
    const close = typeof a === 'number' && typeof e === 'number' ? (Number.isNaN(a) && Number.isNaN(e)) || Math.abs(a - e) <= 1e-3 * (1 + Math.abs(e)) : a === e;
    if (!close) throw new Error(`${dir}: element ${i} is ${a}, the reference output_*.pb says ${e}`);
  }
}

/**
 * The model with every tensor's values moved to the other place they may be stored: float raw_data
 * to float_data, typed fields (float_data, int32_data, int64_data, ...) to raw_data. Running it
 * checks that the codec and tensor-data agree with onnxruntime on both encodings.
 */
function swapTensorEncodings(model: ModelProto): ModelProto {
  return mapModelTensors(model, (tensor) => {
    const { rawData, floatData, int32Data, int64Data, doubleData, uint64Data, ...rest } = tensor;
    if (rawData !== undefined && tensor.dataType === DataType.FLOAT) return { ...rest, floatData: tensorToFloat32(tensor) };
    const typed = [floatData, int32Data, int64Data, doubleData, uint64Data].some((field) => field !== undefined);
    if (typed && tensor.dataType !== DataType.STRING) return { ...rest, rawData: tensorRawBytes(tensor) };
    return tensor;
  });
}

function toOrtTensor(tensor: TensorProto): ort.Tensor {
  const type = ortTypeOf(tensor.dataType!);
  const dims = tensor.dims ?? [];
  if (type === 'string') return new ort.Tensor('string', (tensor.stringData ?? []).map((s) => new TextDecoder().decode(s)), dims);
  return new ort.Tensor(type, tensorToArray(tensor) as ort.Tensor.DataTypeMap[typeof type], dims);
}
