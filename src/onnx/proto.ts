/**
 * ONNX protobuf in and out, with no protobuf library: the public entry points of the codec.
 *
 * - decodeModel / encodeModel for ModelProto; decodeTensor / encodeTensor for TensorProto files
 *   (the input_*.pb / output_*.pb of ONNX test data sets).
 * - Message shapes are in messages.ts, field tables in schema.ts, the generic codec in codec.ts,
 *   data type codes and onnxruntime type names in data-types.ts; all are re-exported here.
 *
 * A decoded model is plain data: change it freely and encode it again. Bytes fields are views into
 * the decoded buffer, so do not modify that buffer while the model is in use.
 */
import { NavigatorError } from '../core/errors';
import { decodeMessage, encodeMessage, MessageTooLargeError, type Message } from './codec';
import type { ModelProto, TensorProto } from './messages';
import { SCHEMAS } from './schema';
import { WireError } from './wire';

export * from './messages';
export * from './data-types';

/** Protobuf messages must stay below 2 GiB: protobuf libraries (and onnxruntime) refuse larger ones. */
const MAX_PROTOBUF_BYTES = 2 ** 31 - 1;

type SchemaName = keyof typeof SCHEMAS;

export function decodeModel(bytes: Uint8Array): ModelProto {
  return decodeAs<ModelProto>('ModelProto', bytes);
}

/** Throws when the model would exceed protobuf's 2 GiB limit (see writeModel's externalDataThreshold). */
export function encodeModel(model: ModelProto): Uint8Array {
  return encodeAs('ModelProto', model, MAX_PROTOBUF_BYTES);
}

export function decodeTensor(bytes: Uint8Array): TensorProto {
  return decodeAs<TensorProto>('TensorProto', bytes);
}

export function encodeTensor(tensor: TensorProto): Uint8Array {
  return encodeAs('TensorProto', tensor);
}

function decodeAs<T>(schemaName: SchemaName, bytes: Uint8Array): T {
  try {
    return decodeMessage(bytes, SCHEMAS[schemaName]) as T;
  } catch (error) {
    if (!(error instanceof WireError)) throw error;
    throw new NavigatorError(`cannot decode ONNX ${schemaName}${error.path.length ? ` at ${error.pathText()}` : ''}: ${error.problem}`, {
      fix: 'check that the file is a complete ONNX protobuf (not truncated, not a Git LFS pointer, not another format)',
    });
  }
}

function encodeAs(schemaName: SchemaName, message: object, maxBytes = MAX_PROTOBUF_BYTES): Uint8Array {
  try {
    return encodeMessage(message as Message, SCHEMAS[schemaName], maxBytes);
  } catch (error) {
    if (error instanceof MessageTooLargeError) {
      throw new NavigatorError(`${error.problem}: protobuf messages cannot exceed 2 GiB`, {
        fix: 'write the model with writeModel(path, model, { externalDataThreshold: 1024 }), which stores large initializers in an external data file',
      });
    }
    if (!(error instanceof WireError)) throw error;
    throw new NavigatorError(`cannot encode ONNX ${schemaName}${error.path.length ? ` at ${error.pathText()}` : ''}: ${error.problem}`, {
      fix: 'set that field to a value of the type messages.ts declares',
    });
  }
}
