/**
 * TensorProto values as typed arrays, and back.
 *
 * A tensor's values may sit in raw_data (little-endian bytes, what exporters write for weights) or
 * in one of the typed fields (float_data, int32_data, int64_data, double_data, uint64_data) whose
 * use depends on the data type; int32_data for instance holds float16 bit patterns and packed
 * 4-bit pairs. Everything here goes through one canonical form, the little-endian raw bytes.
 */
import { NavigatorError } from '../core/errors';
import { dataTypeOf, DataType, elementBits, elementTypeOf, rawByteLength } from './data-types';
import { isExternalTensor, loadExternalTensor } from './external-data';
import type { TensorProto } from './messages';
import { LITTLE_ENDIAN_HOST } from './wire';

export type TensorArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export function elementCount(dims: readonly number[] = []): number {
  return dims.reduce((product, dim) => product * dim, 1);
}

/**
 * The tensor's values as little-endian raw bytes. A view of raw_data when that is where they are
 * (no copy); built from the typed fields otherwise. External tensors need modelDir to be read.
 */
export function tensorRawBytes(tensor: TensorProto, modelDir?: string): Uint8Array {
  const code = tensor.dataType ?? DataType.UNDEFINED;
  if (code === DataType.STRING) throw fail(tensor, 'is a STRING tensor, which has no raw bytes', 'read tensor.stringData instead');
  if (isExternalTensor(tensor)) {
    if (modelDir === undefined) {
      throw fail(tensor, 'is stored in an external data file', 'pass the model directory, or read the model with readModel(path, { loadExternalData: true })');
    }
    return checkedLength(tensor, loadExternalTensor(modelDir, tensor));
  }
  if (tensor.rawData !== undefined) return checkedLength(tensor, tensor.rawData);
  const bits = elementBits(code)!;
  if (tensor.floatData !== undefined) return checkedLength(tensor, littleEndianBytes(tensor.floatData));
  if (tensor.doubleData !== undefined) return checkedLength(tensor, littleEndianBytes(tensor.doubleData));
  if (tensor.int64Data !== undefined) return checkedLength(tensor, littleEndianBytes(tensor.int64Data));
  if (tensor.uint64Data !== undefined) {
    // uint32 values are stored widened to uint64.
    const values = bits === 32 ? Uint32Array.from(tensor.uint64Data, Number) : tensor.uint64Data;
    return checkedLength(tensor, littleEndianBytes(values));
  }
  if (tensor.int32Data !== undefined) {
    const values = tensor.int32Data;
    // int32_data holds one element per entry, except sub-byte types: one packed byte per entry.
    if (bits === 32) return checkedLength(tensor, littleEndianBytes(values));
    if (bits === 16) return checkedLength(tensor, littleEndianBytes(Uint16Array.from(values, (v) => v & 0xffff)));
    return checkedLength(tensor, Uint8Array.from(values, (v) => v & 0xff));
  }
  // No data field at all: an empty tensor, or zero-size dims.
  return checkedLength(tensor, new Uint8Array(0));
}

/**
 * A copy of the tensor's values in the typed array that matches its data type: Float32Array for
 * FLOAT, Uint16Array of bit patterns for FLOAT16/BFLOAT16, BigInt64Array for INT64, Uint8Array for
 * BOOL, interleaved Float32Array/Float64Array for COMPLEX64/128, and the packed raw bytes
 * (Uint8Array) for float8, 4-bit and 2-bit types.
 */
export function tensorToArray(tensor: TensorProto, modelDir?: string): TensorArray {
  const bytes = tensorRawBytes(tensor, modelDir);
  // A fresh, aligned buffer, which typed array views need (and callers may modify). External data
  // is read into such a buffer already: copying it would hold a large weight twice.
  const buffer = isExternalTensor(tensor) ? (bytes.buffer as ArrayBuffer) : copyBytes(bytes).buffer;
  const code = tensor.dataType ?? DataType.UNDEFINED;
  const array = viewAs(code, buffer);
  if (!LITTLE_ENDIAN_HOST) swapBytesInPlace(array);
  return array;
}

function viewAs(code: number, buffer: ArrayBuffer): TensorArray {
  switch (code) {
    case DataType.FLOAT: case DataType.COMPLEX64: return new Float32Array(buffer);
    case DataType.DOUBLE: case DataType.COMPLEX128: return new Float64Array(buffer);
    case DataType.INT8: return new Int8Array(buffer);
    case DataType.INT16: return new Int16Array(buffer);
    case DataType.UINT16: case DataType.FLOAT16: case DataType.BFLOAT16: return new Uint16Array(buffer);
    case DataType.INT32: return new Int32Array(buffer);
    case DataType.UINT32: return new Uint32Array(buffer);
    case DataType.INT64: return new BigInt64Array(buffer);
    case DataType.UINT64: return new BigUint64Array(buffer);
    default: return new Uint8Array(buffer);
  }
}

/** The values as float32, converting from float16, bfloat16, float64 and integer types. */
export function tensorToFloat32(tensor: TensorProto, modelDir?: string): Float32Array {
  const values = tensorToArray(tensor, modelDir);
  switch (tensor.dataType) {
    case DataType.FLOAT: return values as Float32Array;
    case DataType.FLOAT16: return Float32Array.from(values as Uint16Array, float16BitsToFloat32);
    case DataType.BFLOAT16: return Float32Array.from(values as Uint16Array, bfloat16BitsToFloat32);
    case DataType.INT64: case DataType.UINT64: return Float32Array.from(values as BigInt64Array, Number);
    case DataType.DOUBLE: case DataType.INT8: case DataType.UINT8: case DataType.INT16: case DataType.UINT16:
    case DataType.INT32: case DataType.UINT32: case DataType.BOOL:
      return Float32Array.from(values as Float64Array);
    default:
      throw fail(tensor, `has data type ${elementTypeOf(tensor.dataType ?? 0)}, which has no float32 conversion here`, 'decode its raw bytes with tensorToArray');
  }
}

export type ArrayData = TensorArray;

/** The element type a typed array stands for when none is given (Uint16Array: float16 bit patterns). */
function defaultElementType(data: ArrayData): string {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'float16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof BigInt64Array) return 'int64';
  return 'uint64';
}

/**
 * A TensorProto holding a copy of `data` in raw_data. `dtype` is an element type string ('float32',
 * 'float16', 'bool', 'int4', ...); the array's element width must match it, sub-byte types come
 * packed in a Uint8Array (two 4-bit values per byte, low nibble first).
 */
export function tensorFromArray(name: string, data: ArrayData, dims: readonly number[], dtype = defaultElementType(data)): TensorProto {
  const code = dataTypeOf(dtype);
  const bits = elementBits(code);
  const count = elementCount(dims);
  if (bits === undefined) throw new NavigatorError('string tensors cannot be built from a typed array', { subject: name, fix: 'set stringData yourself' });
  const expected = rawByteLength(code, count)!;
  const fix = `give ${expected} bytes of ${dtype} data for dims [${dims.join(', ')}]`;
  if (bits >= 8 && data.BYTES_PER_ELEMENT * 8 !== bits) {
    throw new NavigatorError(`a ${data.constructor.name} cannot hold ${dtype} values (${bits}-bit)`, { subject: name, fix });
  }
  if (data.byteLength !== expected) {
    throw new NavigatorError(`has ${data.byteLength} bytes of data but dims [${dims.join(', ')}] of ${dtype} need ${expected}`, { subject: name, fix });
  }
  const rawData = copyBytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (!LITTLE_ENDIAN_HOST) swapBytesInPlace(viewAs(code, rawData.buffer));
  const tensor: TensorProto = { dims: [...dims], dataType: code, rawData };
  if (name) tensor.name = name;
  return tensor;
}

// ---- half precision --------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** float32 → float16 bits, rounding to nearest even; overflow gives ±Infinity. */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0);
  const halfExponent = exponent - 112; // rebias 127 → 15
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the mantissa, with its implicit bit, into place.
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    let half = mantissa >>> shift;
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = sign | (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return half;
}

export function bfloat16BitsToFloat32(bits: number): number {
  u32[0] = bits << 16;
  return f32[0];
}

export function float32ToBfloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40; // keep NaN a NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---- helpers ---------------------------------------------------------------------------------

function littleEndianBytes(values: Exclude<TensorArray, Uint8Array | Int8Array>): Uint8Array {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const copy = copyBytes(bytes);
  swapBytesInPlace(viewAs(0, copy.buffer), values.BYTES_PER_ELEMENT);
  return copy;
}

/** A copy in a new ArrayBuffer of its own (Buffer.prototype.slice would return a view). */
function copyBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/** Reverses the bytes of each element (only ever needed on big-endian hosts). */
function swapBytesInPlace(array: TensorArray, width = array.BYTES_PER_ELEMENT): void {
  if (width === 1) return;
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

function checkedLength(tensor: TensorProto, bytes: Uint8Array): Uint8Array {
  const expected = rawByteLength(tensor.dataType ?? DataType.UNDEFINED, elementCount(tensor.dims));
  if (expected !== undefined && bytes.length !== expected) {
    throw fail(tensor, `holds ${bytes.length} bytes, but dims [${(tensor.dims ?? []).join(', ')}] of ${elementTypeOf(tensor.dataType ?? 0)} need ${expected}`, 'the tensor is damaged; re-export the model');
  }
  return bytes;
}

function fail(tensor: TensorProto, problem: string, fix: string): NavigatorError {
  return new NavigatorError(problem, { subject: tensor.name ?? '(unnamed tensor)', fix });
}
