/**
 * ONNX tensor element types (TensorProto.DataType) and their names in onnxruntime-node.
 *
 * Type strings are those of onnxruntime-common's Tensor.Type ('float32', 'float16', 'int64', ...).
 * ONNX types that onnxruntime's JS API cannot hold as tensors (bfloat16, float8, complex, ...) get a
 * lowercase name of their own here so that code can still name them; `ortTypeOf` refuses them.
 */
import { NavigatorError } from '../core/errors';

export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;

/** Element types of onnxruntime-node tensors (onnxruntime-common Tensor.Type). */
export type OrtTensorType =
  | 'float32' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'int32' | 'int64' | 'string' | 'bool'
  | 'float16' | 'float64' | 'uint32' | 'uint64' | 'uint4' | 'int4';

/** An element type string: one of onnxruntime's, or the name of an ONNX type it lacks. */
export type ElementType =
  | OrtTensorType
  | 'bfloat16' | 'complex64' | 'complex128' | 'float8e4m3fn' | 'float8e4m3fnuz' | 'float8e5m2'
  | 'float8e5m2fnuz' | 'float4e2m1' | 'float8e8m0' | 'uint2' | 'int2';

interface DataTypeInfo {
  code: number;
  type: ElementType;
  /** Bits per element in raw_data; undefined for strings. */
  bits?: number;
  ort: boolean;
}

const INFO: DataTypeInfo[] = [
  { code: DataType.FLOAT, type: 'float32', bits: 32, ort: true },
  { code: DataType.UINT8, type: 'uint8', bits: 8, ort: true },
  { code: DataType.INT8, type: 'int8', bits: 8, ort: true },
  { code: DataType.UINT16, type: 'uint16', bits: 16, ort: true },
  { code: DataType.INT16, type: 'int16', bits: 16, ort: true },
  { code: DataType.INT32, type: 'int32', bits: 32, ort: true },
  { code: DataType.INT64, type: 'int64', bits: 64, ort: true },
  { code: DataType.STRING, type: 'string', ort: true },
  { code: DataType.BOOL, type: 'bool', bits: 8, ort: true },
  { code: DataType.FLOAT16, type: 'float16', bits: 16, ort: true },
  { code: DataType.DOUBLE, type: 'float64', bits: 64, ort: true },
  { code: DataType.UINT32, type: 'uint32', bits: 32, ort: true },
  { code: DataType.UINT64, type: 'uint64', bits: 64, ort: true },
  { code: DataType.COMPLEX64, type: 'complex64', bits: 64, ort: false },
  { code: DataType.COMPLEX128, type: 'complex128', bits: 128, ort: false },
  { code: DataType.BFLOAT16, type: 'bfloat16', bits: 16, ort: false },
  { code: DataType.FLOAT8E4M3FN, type: 'float8e4m3fn', bits: 8, ort: false },
  { code: DataType.FLOAT8E4M3FNUZ, type: 'float8e4m3fnuz', bits: 8, ort: false },
  { code: DataType.FLOAT8E5M2, type: 'float8e5m2', bits: 8, ort: false },
  { code: DataType.FLOAT8E5M2FNUZ, type: 'float8e5m2fnuz', bits: 8, ort: false },
  { code: DataType.UINT4, type: 'uint4', bits: 4, ort: true },
  { code: DataType.INT4, type: 'int4', bits: 4, ort: true },
  { code: DataType.FLOAT4E2M1, type: 'float4e2m1', bits: 4, ort: false },
  { code: DataType.FLOAT8E8M0, type: 'float8e8m0', bits: 8, ort: false },
  { code: DataType.UINT2, type: 'uint2', bits: 2, ort: false },
  { code: DataType.INT2, type: 'int2', bits: 2, ort: false },
];

const BY_CODE = new Map(INFO.map((info) => [info.code, info]));
const BY_TYPE = new Map<string, DataTypeInfo>(INFO.map((info) => [info.type, info]));

/** The element type string of an ONNX data type code, e.g. 1 → 'float32', 16 → 'bfloat16'. */
export function elementTypeOf(code: number): ElementType {
  const info = BY_CODE.get(code);
  if (info === undefined) {
    throw new NavigatorError(`unknown ONNX tensor data type ${code}`, { fix: 'the model may need a newer ONNX version than this tool knows (up to INT2 = 26)' });
  }
  return info.type;
}

/** The onnxruntime-node tensor type of an ONNX data type code; throws for types its JS API lacks. */
export function ortTypeOf(code: number): OrtTensorType {
  const type = elementTypeOf(code);
  if (!BY_CODE.get(code)!.ort) {
    throw new NavigatorError(`ONNX data type ${type} (${code}) has no onnxruntime-node tensor type`, {
      fix: 'convert the value to a supported type (e.g. float32) with a Cast node at the model boundary',
    });
  }
  return type as OrtTensorType;
}

/** The ONNX data type code of an element type string ('float32' → 1); also accepts 'float' and 'double'. */
export function dataTypeOf(type: string): number {
  const info = BY_TYPE.get(type === 'float' ? 'float32' : type === 'double' ? 'float64' : type);
  if (info === undefined) {
    throw new NavigatorError(`unknown tensor element type "${type}"`, {
      fix: `use one of ${INFO.map((entry) => entry.type).join(', ')}`,
    });
  }
  return info.code;
}

/** Bits per element in raw_data (4 for int4, 16 for float16, ...); undefined for strings. */
export function elementBits(code: number): number | undefined {
  elementTypeOf(code);
  return BY_CODE.get(code)!.bits;
}

/** Bytes of raw_data for a tensor of this type and element count (sub-byte types are packed, rounded up). */
export function rawByteLength(code: number, elementCount: number): number | undefined {
  const bits = elementBits(code);
  return bits === undefined ? undefined : Math.ceil((elementCount * bits) / 8);
}
