/** Inputs and model conversions the GPU benchmarks share. */
import { Tensor } from 'onnxruntime-node';
import { convertToFloat16 } from '../src/onnx/float16';
import { decodeModel, encodeModel } from '../src/onnx/proto';

/** float32 values uniform in [-0.5, 0.5) from a seeded LCG: the same seed gives the same tensor on every machine. */
export function floats(dims: number[], seed: number): Tensor {
  let s = seed >>> 0;
  const data = Float32Array.from({ length: dims.reduce((p, d) => p * d, 1) }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
  return new Tensor('float32', data, dims);
}

/** int64 token ids [batch, sequence] below `vocab`, varied by `seed`. */
export function ids(dims: number[], vocab: number, seed: number): Tensor {
  return new Tensor('int64', BigInt64Array.from({ length: dims[0] * dims[1] }, (_, i) => BigInt((i * 37 + seed * 101) % vocab)), dims);
}

/** The onnx-fp16 conversion of a model, as the navigator makes it. */
export function toFloat16(bytes: Uint8Array): Uint8Array {
  const converted = convertToFloat16(decodeModel(bytes));
  if ('notApplicable' in converted) throw new Error(`onnx-fp16 does not apply: ${converted.notApplicable}`);
  return encodeModel(converted.model);
}
