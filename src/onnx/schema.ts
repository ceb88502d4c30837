/**
 * The ONNX messages as tables of fields: number, camelCase name, kind, cardinality.
 * Field numbers are those of the official onnx.proto (proto2). codec.ts decodes and encodes any
 * message from its table, so supporting a new field is one line here plus one in messages.ts.
 *
 * Cardinality follows onnx.proto exactly, because encoding must reproduce what protobuf writes:
 * 'packed' only where onnx.proto says [packed = true] (the TensorProto data arrays); plain
 * 'repeated' scalars (dims, AttributeProto.floats/ints) are written one tag per element, as every
 * protobuf library does for proto2. The decoder accepts both encodings for every repeated scalar.
 */
import { varintSize32, WIRE_FIXED32, WIRE_FIXED64, WIRE_LENGTH_DELIMITED, WIRE_VARINT } from './wire';

/** A decoded message: field values by camelCase name (see messages.ts for the typed shapes). */
export type Message = { [field: string]: unknown; unknownFields?: Uint8Array[] };

export type ScalarKind =
  | 'int32' // varint, also used for enums
  | 'int64' // varint decoded to a number; values beyond Number.MAX_SAFE_INTEGER are an error
  | 'int64OrBigInt' // varint decoded to a number when safe, else a bigint (attribute ints such as INT64_MAX)
  | 'float'
  | 'double'
  | 'string'
  | 'bytes' // decoded as a Uint8Array view into the input, never copied
  // Repeated numeric data decoded into typed arrays (TensorProto payloads, which can be large):
  | 'float32Array'
  | 'float64Array'
  | 'int32Array'
  | 'int64Array' // BigInt64Array: int64_data can hold any int64, e.g. INT64_MAX as a Slice end
  | 'uint64Array'; // BigUint64Array

type Cardinality = 'optional' | 'repeated' | 'packed';

export interface FieldDef {
  readonly no: number;
  readonly name: string;
  readonly kind: ScalarKind | 'message';
  readonly repeated: boolean;
  /** Encoded as one length-delimited run (only numeric kinds). */
  readonly packed: boolean;
  /** Wire type of one element (a packed run is always length-delimited). */
  readonly wireType: number;
  /** The encoded tag of one element, and of a packed run, with their sizes in bytes. */
  readonly tag: number;
  readonly tagSize: number;
  readonly packedTag: number;
  readonly packedTagSize: number;
  /** The nested message's schema when kind is 'message'. */
  message?: MessageSchema;
}

export interface MessageSchema {
  readonly name: string;
  /** Sorted by field number: the order in which protobuf serializers emit fields. */
  readonly fields: FieldDef[];
  /** fields indexed by number, for decoding. */
  readonly byNumber: (FieldDef | undefined)[];
  /** Fields decoded into typed arrays, which need a final step when they arrive in pieces. */
  readonly typedArrayFields: FieldDef[];
}

/** kind: a ScalarKind or the name of another table (checked when the schemas are built). */
type Row = readonly [no: number, name: string, kind: string, cardinality?: Cardinality];

const TABLES = {
  ModelProto: [
    [1, 'irVersion', 'int64'],
    [2, 'producerName', 'string'],
    [3, 'producerVersion', 'string'],
    [4, 'domain', 'string'],
    [5, 'modelVersion', 'int64'],
    [6, 'docString', 'string'],
    [7, 'graph', 'GraphProto'],
    [8, 'opsetImport', 'OperatorSetIdProto', 'repeated'],
    [14, 'metadataProps', 'StringStringEntryProto', 'repeated'],
    // TrainingInfoProto and DeviceConfigurationProto are kept as their encoded bytes.
    [20, 'trainingInfo', 'bytes', 'repeated'],
    [25, 'functions', 'FunctionProto', 'repeated'],
    [26, 'configuration', 'bytes', 'repeated'],
  ],
  GraphProto: [
    [1, 'node', 'NodeProto', 'repeated'],
    [2, 'name', 'string'],
    [5, 'initializer', 'TensorProto', 'repeated'],
    [10, 'docString', 'string'],
    [11, 'input', 'ValueInfoProto', 'repeated'],
    [12, 'output', 'ValueInfoProto', 'repeated'],
    [13, 'valueInfo', 'ValueInfoProto', 'repeated'],
    [14, 'quantizationAnnotation', 'TensorAnnotation', 'repeated'],
    [15, 'sparseInitializer', 'SparseTensorProto', 'repeated'],
    [16, 'metadataProps', 'StringStringEntryProto', 'repeated'],
  ],
  NodeProto: [
    [1, 'input', 'string', 'repeated'],
    [2, 'output', 'string', 'repeated'],
    [3, 'name', 'string'],
    [4, 'opType', 'string'],
    [5, 'attribute', 'AttributeProto', 'repeated'],
    [6, 'docString', 'string'],
    [7, 'domain', 'string'],
    [8, 'overload', 'string'],
    [9, 'metadataProps', 'StringStringEntryProto', 'repeated'],
    // NodeDeviceConfigurationProto, kept as its encoded bytes.
    [10, 'deviceConfigurations', 'bytes', 'repeated'],
  ],
  AttributeProto: [
    [1, 'name', 'string'],
    [2, 'f', 'float'],
    [3, 'i', 'int64OrBigInt'],
    [4, 's', 'bytes'],
    [5, 't', 'TensorProto'],
    [6, 'g', 'GraphProto'],
    [7, 'floats', 'float', 'repeated'],
    [8, 'ints', 'int64OrBigInt', 'repeated'],
    [9, 'strings', 'bytes', 'repeated'],
    [10, 'tensors', 'TensorProto', 'repeated'],
    [11, 'graphs', 'GraphProto', 'repeated'],
    [13, 'docString', 'string'],
    [14, 'tp', 'TypeProto'],
    [15, 'typeProtos', 'TypeProto', 'repeated'],
    [20, 'type', 'int32'],
    [21, 'refAttrName', 'string'],
    [22, 'sparseTensor', 'SparseTensorProto'],
    [23, 'sparseTensors', 'SparseTensorProto', 'repeated'],
  ],
  ValueInfoProto: [
    [1, 'name', 'string'],
    [2, 'type', 'TypeProto'],
    [3, 'docString', 'string'],
    [4, 'metadataProps', 'StringStringEntryProto', 'repeated'],
  ],
  TensorProto: [
    [1, 'dims', 'int64', 'repeated'],
    [2, 'dataType', 'int32'],
    [3, 'segment', 'TensorSegment'],
    [4, 'floatData', 'float32Array', 'packed'],
    [5, 'int32Data', 'int32Array', 'packed'],
    [6, 'stringData', 'bytes', 'repeated'],
    [7, 'int64Data', 'int64Array', 'packed'],
    [8, 'name', 'string'],
    [9, 'rawData', 'bytes'],
    [10, 'doubleData', 'float64Array', 'packed'],
    [11, 'uint64Data', 'uint64Array', 'packed'],
    [12, 'docString', 'string'],
    [13, 'externalData', 'StringStringEntryProto', 'repeated'],
    [14, 'dataLocation', 'int32'],
    [16, 'metadataProps', 'StringStringEntryProto', 'repeated'],
  ],
  TensorSegment: [
    [1, 'begin', 'int64'],
    [2, 'end', 'int64'],
  ],
  SparseTensorProto: [
    [1, 'values', 'TensorProto'],
    [2, 'indices', 'TensorProto'],
    [3, 'dims', 'int64', 'repeated'],
  ],
  TensorShapeProto: [[1, 'dim', 'Dimension', 'repeated']],
  Dimension: [
    [1, 'dimValue', 'int64'],
    [2, 'dimParam', 'string'],
    [3, 'denotation', 'string'],
  ],
  TypeProto: [
    [1, 'tensorType', 'TypeTensor'],
    [4, 'sequenceType', 'TypeSequence'],
    [5, 'mapType', 'TypeMap'],
    [6, 'denotation', 'string'],
    [7, 'opaqueType', 'TypeOpaque'],
    [8, 'sparseTensorType', 'TypeTensor'],
    [9, 'optionalType', 'TypeOptional'],
  ],
  // TypeProto.Tensor and TypeProto.SparseTensor have the same fields.
  TypeTensor: [
    [1, 'elemType', 'int32'],
    [2, 'shape', 'TensorShapeProto'],
  ],
  TypeSequence: [[1, 'elemType', 'TypeProto']],
  TypeOptional: [[1, 'elemType', 'TypeProto']],
  TypeMap: [
    [1, 'keyType', 'int32'],
    [2, 'valueType', 'TypeProto'],
  ],
  TypeOpaque: [
    [1, 'domain', 'string'],
    [2, 'name', 'string'],
  ],
  OperatorSetIdProto: [
    [1, 'domain', 'string'],
    [2, 'version', 'int64'],
  ],
  StringStringEntryProto: [
    [1, 'key', 'string'],
    [2, 'value', 'string'],
  ],
  TensorAnnotation: [
    [1, 'tensorName', 'string'],
    [2, 'quantParameterTensorNames', 'StringStringEntryProto', 'repeated'],
  ],
  FunctionProto: [
    [1, 'name', 'string'],
    [4, 'input', 'string', 'repeated'],
    [5, 'output', 'string', 'repeated'],
    [6, 'attribute', 'string', 'repeated'],
    [7, 'node', 'NodeProto', 'repeated'],
    [8, 'docString', 'string'],
    [9, 'opsetImport', 'OperatorSetIdProto', 'repeated'],
    [10, 'domain', 'string'],
    [11, 'attributeProto', 'AttributeProto', 'repeated'],
    [12, 'valueInfo', 'ValueInfoProto', 'repeated'],
    [13, 'overload', 'string'],
    [14, 'metadataProps', 'StringStringEntryProto', 'repeated'],
  ],
} as const satisfies Record<string, readonly Row[]>;

type MessageName = keyof typeof TABLES;

const TYPED_ARRAY_KINDS = new Set<string>(['float32Array', 'float64Array', 'int32Array', 'int64Array', 'uint64Array']);
const SCALAR_KINDS = new Set<string>(['int32', 'int64', 'int64OrBigInt', 'float', 'double', 'string', 'bytes', ...TYPED_ARRAY_KINDS]);

function buildSchemas(): Record<MessageName, MessageSchema> {
  const schemas = {} as Record<MessageName, MessageSchema>;
  for (const [name, rows] of Object.entries(TABLES) as [MessageName, readonly Row[]][]) {
    const fields = rows
      .map(([no, fieldName, kind, cardinality = 'optional']): FieldDef => {
        const isMessage = kind in TABLES;
        if (!isMessage && !SCALAR_KINDS.has(kind)) throw new Error(`schema ${name}.${fieldName}: unknown kind "${kind}"`);
        const wireType = isMessage ? WIRE_LENGTH_DELIMITED : wireTypeOf(kind as ScalarKind);
        const tag = (no << 3) | wireType;
        const packedTag = (no << 3) | WIRE_LENGTH_DELIMITED;
        return {
          no,
          name: fieldName,
          kind: isMessage ? 'message' : (kind as ScalarKind),
          repeated: cardinality !== 'optional',
          packed: cardinality === 'packed',
          wireType,
          tag,
          tagSize: varintSize32(tag),
          packedTag,
          packedTagSize: varintSize32(packedTag),
        };
      })
      .sort((a, b) => a.no - b.no);
    const byNumber: (FieldDef | undefined)[] = [];
    for (const field of fields) byNumber[field.no] = field;
    const typedArrayFields = fields.filter((field) => TYPED_ARRAY_KINDS.has(field.kind));
    schemas[name] = { name, fields, byNumber, typedArrayFields };
  }
  // Second pass: link nested message fields now that every schema exists (messages are recursive).
  for (const [name, rows] of Object.entries(TABLES) as [MessageName, readonly Row[]][]) {
    for (const [no, , kind] of rows) {
      if (kind in TABLES) schemas[name].byNumber[no]!.message = schemas[kind as MessageName];
    }
  }
  return schemas;
}

function wireTypeOf(kind: ScalarKind): number {
  switch (kind) {
    case 'float':
    case 'float32Array':
      return WIRE_FIXED32;
    case 'double':
    case 'float64Array':
      return WIRE_FIXED64;
    case 'string':
    case 'bytes':
      return WIRE_LENGTH_DELIMITED;
    default:
      return WIRE_VARINT;
  }
}

export const SCHEMAS = buildSchemas();
