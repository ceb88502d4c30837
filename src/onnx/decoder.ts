/**
 * The decoding half of the codec (see codec.ts): bytes fields become views into the input, unknown
 * fields are kept as raw bytes, repeated numbers are accepted packed or not.
 *
 * One simplification: a non-repeated message field that occurs twice replaces the first occurrence
 * instead of being merged into it, as protobuf would. Serializers never write that.
 */
import type { FieldDef, Message, MessageSchema } from './schema';
import { decodeUtf8, joinBigInt64, joinInt64, LITTLE_ENDIAN_HOST, WIRE_LENGTH_DELIMITED, WireError, WireReader } from './wire';

export function decodeMessage(bytes: Uint8Array, schema: MessageSchema): Message {
  // A Node Buffer's slice() is a view, not a copy; decode from a plain Uint8Array view instead so
  // every bytes field is a plain Uint8Array with the usual semantics.
  const plain = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reader = new WireReader(plain);
  return readMessage(reader, plain.length, schema);
}

function readMessage(r: WireReader, end: number, schema: MessageSchema): Message {
  const msg: Message = {};
  let field: FieldDef | undefined;
  try {
    while (r.pos < end) {
      field = undefined;
      const tagStart = r.pos;
      const tag = r.readLength();
      const wireType = tag & 7;
      field = schema.byNumber[tag >>> 3];
      if (field !== undefined && (wireType === field.wireType || (field.repeated && wireType === WIRE_LENGTH_DELIMITED))) {
        readField(r, end, field, wireType, msg);
      } else {
        // Unknown field, or a known number with an unexpected wire type: keep it verbatim.
        field = undefined;
        r.skip(wireType, tag >>> 3, end);
        (msg.unknownFields ??= []).push(r.buf.subarray(tagStart, r.pos));
      }
      if (r.pos > end) throw new WireError(`field runs past the end of its ${schema.name}`);
    }
    for (const typed of schema.typedArrayFields) {
      const pending = msg[typed.name];
      if (Array.isArray(pending)) msg[typed.name] = toTypedArray(typed, pending);
    }
  } catch (error) {
    if (error instanceof WireError) {
      if (field !== undefined) {
        const list = msg[field.name] as unknown[] | undefined;
        error.within(field.repeated && field.kind === 'message' ? `${field.name}[${list?.length ?? 0}]` : field.name);
      }
      if (typeof msg.name === 'string') error.within(`("${msg.name}")`);
    }
    throw error;
  }
  return msg;
}

function readField(r: WireReader, end: number, field: FieldDef, wireType: number, msg: Message): void {
  let value: unknown;
  switch (field.kind) {
    case 'message': {
      const childEnd = r.delimitedEnd(end);
      value = readMessage(r, childEnd, field.message!);
      break;
    }
    case 'string': {
      const stringEnd = r.delimitedEnd(end);
      value = decodeUtf8(r.buf, r.pos, stringEnd);
      r.pos = stringEnd;
      break;
    }
    case 'bytes': {
      const bytesEnd = r.delimitedEnd(end);
      value = r.buf.subarray(r.pos, bytesEnd);
      r.pos = bytesEnd;
      break;
    }
    default:
      if (wireType === WIRE_LENGTH_DELIMITED && field.wireType !== WIRE_LENGTH_DELIMITED) {
        readPackedRun(r, r.delimitedEnd(end), field, msg);
        return;
      }
      value = readScalar(r, field);
  }
  if (!field.repeated) msg[field.name] = value;
  else appendValue(msg, field, value);
}

function appendValue(msg: Message, field: FieldDef, value: unknown): void {
  const current = msg[field.name];
  if (current === undefined) msg[field.name] = [value];
  else if (Array.isArray(current)) current.push(value);
  // A typed array decoded from an earlier packed run: continue as a plain array, converted at the end.
  else msg[field.name] = [...(current as Iterable<unknown>), value];
}

function readScalar(r: WireReader, field: FieldDef): number | bigint {
  switch (field.kind) {
    case 'float':
    case 'float32Array':
      return r.readFixed32Float();
    case 'double':
    case 'float64Array':
      return r.readFixed64Double();
    case 'int32':
    case 'int32Array':
      r.readVarint();
      return r.lo | 0;
    case 'int64': {
      r.readVarint();
      const value = joinInt64(r.lo, r.hi);
      if (Number.isNaN(value)) {
        throw new WireError(`int64 value ${joinBigInt64(r.lo, r.hi, true)} is outside JavaScript's safe integer range (±2^53-1)`);
      }
      return value;
    }
    case 'int64OrBigInt': {
      r.readVarint();
      const value = joinInt64(r.lo, r.hi);
      return Number.isNaN(value) ? joinBigInt64(r.lo, r.hi, true) : value;
    }
    case 'int64Array':
      r.readVarint();
      return joinBigInt64(r.lo, r.hi, true);
    case 'uint64Array':
      r.readVarint();
      return joinBigInt64(r.lo, r.hi, false);
    default:
      throw new WireError(`field ${field.name} of kind ${field.kind} is not a number`);
  }
}

function readPackedRun(r: WireReader, runEnd: number, field: FieldDef, msg: Message): void {
  const existing = msg[field.name];
  const start = r.pos;
  if (existing === undefined && (field.kind === 'float32Array' || field.kind === 'float64Array') && LITTLE_ENDIAN_HOST) {
    // Fast path for weights stored as float_data/double_data: one copy into an aligned buffer.
    const width = field.kind === 'float32Array' ? 4 : 8;
    if ((runEnd - start) % width !== 0) throw new WireError(`packed ${field.name} of ${runEnd - start} bytes is not a multiple of ${width}`);
    const copy = r.buf.slice(start, runEnd).buffer; // r.buf is a plain Uint8Array: slice copies
    msg[field.name] = width === 4 ? new Float32Array(copy) : new Float64Array(copy);
    r.pos = runEnd;
    return;
  }
  const values: unknown[] = Array.isArray(existing) ? existing : existing === undefined ? [] : [...(existing as Iterable<unknown>)];
  while (r.pos < runEnd) values.push(readScalar(r, field));
  if (r.pos !== runEnd) throw new WireError(`packed ${field.name} ends inside a value`);
  msg[field.name] = values;
}

function toTypedArray(field: FieldDef, values: unknown[]): unknown {
  switch (field.kind) {
    case 'float32Array': return Float32Array.from(values as number[]);
    case 'float64Array': return Float64Array.from(values as number[]);
    case 'int32Array': return Int32Array.from(values as number[]);
    case 'int64Array': return BigInt64Array.from(values as bigint[]);
    case 'uint64Array': return BigUint64Array.from(values as bigint[]);
    default: return values;
  }
}

