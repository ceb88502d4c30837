/**
 * Plain TypeScript shapes of the ONNX protobuf messages, as decoded by codec.ts.
 *
 * Conventions:
 * - camelCase names of the onnx.proto fields; every field is optional, as in proto2. A field that
 *   is present in the file is present here, even when it holds the default (0, ''), so that
 *   re-encoding reproduces the file.
 * - int64 fields are numbers; decoding fails with a clear error beyond Number.MAX_SAFE_INTEGER.
 *   Exceptions: AttributeProto.i/ints are `number | bigint` (bigint only for values that are not safe
 *   integers, e.g. INT64_MAX), and TensorProto.int64Data/uint64Data are BigInt64Array/BigUint64Array.
 * - bytes fields (rawData, AttributeProto.s, ...) are Uint8Array views into the decoded buffer:
 *   nothing is copied, so the buffer stays alive as long as the model does.
 * - unknownFields holds fields this schema does not know, as raw bytes (tag included); they are
 *   written back after the known fields, so newer ONNX additions survive a round trip.
 */

export interface UnknownFields {
  unknownFields?: Uint8Array[];
}

/** A message kept in its encoded form (TrainingInfoProto, DeviceConfigurationProto, ...). */
export type EncodedMessage = Uint8Array;

export interface ModelProto extends UnknownFields {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  opsetImport?: OperatorSetIdProto[];
  metadataProps?: StringStringEntryProto[];
  trainingInfo?: EncodedMessage[];
  functions?: FunctionProto[];
  configuration?: EncodedMessage[];
}

export interface GraphProto extends UnknownFields {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  docString?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
  quantizationAnnotation?: TensorAnnotation[];
  sparseInitializer?: SparseTensorProto[];
  metadataProps?: StringStringEntryProto[];
}

export interface NodeProto extends UnknownFields {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  attribute?: AttributeProto[];
  docString?: string;
  domain?: string;
  overload?: string;
  metadataProps?: StringStringEntryProto[];
  deviceConfigurations?: EncodedMessage[];
}

/** AttributeProto.AttributeType. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

export interface AttributeProto extends UnknownFields {
  name?: string;
  f?: number;
  i?: number | bigint;
  /** UTF-8 bytes of a STRING attribute. */
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: (number | bigint)[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  docString?: string;
  tp?: TypeProto;
  typeProtos?: TypeProto[];
  /** One of AttributeType. */
  type?: number;
  refAttrName?: string;
  sparseTensor?: SparseTensorProto;
  sparseTensors?: SparseTensorProto[];
}

export interface ValueInfoProto extends UnknownFields {
  name?: string;
  type?: TypeProto;
  docString?: string;
  metadataProps?: StringStringEntryProto[];
}

/** TensorProto.DataLocation. */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

export interface TensorProto extends UnknownFields {
  dims?: number[];
  /** One of DataType (data-types.ts). */
  dataType?: number;
  segment?: TensorSegment;
  floatData?: Float32Array;
  /** Also holds int8/uint8/int16/uint16/bool/float16/bfloat16/float8/int4 values, one per element. */
  int32Data?: Int32Array;
  stringData?: Uint8Array[];
  int64Data?: BigInt64Array;
  name?: string;
  /** Little-endian element bytes: the usual place for weights. A view into the decoded buffer. */
  rawData?: Uint8Array;
  doubleData?: Float64Array;
  /** Also holds uint32 values. */
  uint64Data?: BigUint64Array;
  docString?: string;
  /** With dataLocation EXTERNAL: keys 'location' (relative path), 'offset', 'length', 'checksum'. */
  externalData?: StringStringEntryProto[];
  /** One of DataLocation. */
  dataLocation?: number;
  metadataProps?: StringStringEntryProto[];
}

export interface TensorSegment extends UnknownFields {
  begin?: number;
  end?: number;
}

export interface SparseTensorProto extends UnknownFields {
  values?: TensorProto;
  indices?: TensorProto;
  dims?: number[];
}

export interface TensorShapeProto extends UnknownFields {
  dim?: Dimension[];
}

/** TensorShapeProto.Dimension: dimValue and dimParam are a oneof; set at most one. */
export interface Dimension extends UnknownFields {
  dimValue?: number;
  dimParam?: string;
  denotation?: string;
}

/** TypeProto: tensorType, sequenceType, mapType, optionalType, sparseTensorType, opaqueType are a oneof. */
export interface TypeProto extends UnknownFields {
  tensorType?: TypeTensor;
  sequenceType?: TypeSequence;
  mapType?: TypeMap;
  denotation?: string;
  opaqueType?: TypeOpaque;
  sparseTensorType?: TypeTensor;
  optionalType?: TypeOptional;
}

/** TypeProto.Tensor, and TypeProto.SparseTensor which has the same fields. */
export interface TypeTensor extends UnknownFields {
  elemType?: number;
  shape?: TensorShapeProto;
}

export interface TypeSequence extends UnknownFields {
  elemType?: TypeProto;
}

export interface TypeOptional extends UnknownFields {
  elemType?: TypeProto;
}

export interface TypeMap extends UnknownFields {
  keyType?: number;
  valueType?: TypeProto;
}

export interface TypeOpaque extends UnknownFields {
  domain?: string;
  name?: string;
}

export interface OperatorSetIdProto extends UnknownFields {
  domain?: string;
  version?: number;
}

export interface StringStringEntryProto extends UnknownFields {
  key?: string;
  value?: string;
}

export interface TensorAnnotation extends UnknownFields {
  tensorName?: string;
  quantParameterTensorNames?: StringStringEntryProto[];
}

export interface FunctionProto extends UnknownFields {
  name?: string;
  input?: string[];
  output?: string[];
  attribute?: string[];
  node?: NodeProto[];
  docString?: string;
  opsetImport?: OperatorSetIdProto[];
  domain?: string;
  attributeProto?: AttributeProto[];
  valueInfo?: ValueInfoProto[];
  overload?: string;
  metadataProps?: StringStringEntryProto[];
}
