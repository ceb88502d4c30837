/**
 * A generic protobuf decoder and encoder driven by the message tables of schema.ts.
 *
 * Decoding keeps bytes fields as views into the input (no copy) and unknown fields as raw bytes.
 * Encoding runs two passes: the first measures every nested message, string and packed run and
 * records the sizes in pre-order; the second writes into one buffer of the exact final size, so
 * large payloads (raw_data) are copied exactly once. Fields are written in field-number order,
 * unknown fields last: the order protobuf's own serializers use, which makes re-encoding a decoded
 * file reproduce it byte for byte.
 *
 * One simplification: a non-repeated message field that occurs twice replaces the first occurrence
 * instead of being merged into it, as protobuf would. Serializers never write that.
 */
import type { FieldDef, MessageSchema } from './schema';
import {
  decodeUtf8,
  joinBigInt64,
  joinInt64,
  splitBigInt64,
  splitInt64,
  utf8Length,
  varintSize32,
  varintSize64,
  WIRE_LENGTH_DELIMITED,
  WireError,
  WireReader,
  WireWriter,
} from './wire';

/** A decoded message: field values by camelCase name (see messages.ts for the typed shapes). */
export type Message = { [field: string]: unknown; unknownFields?: Uint8Array[] };

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

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

// ---- encoding -------------------------------------------------------------------------------

/** Sizes recorded by the measuring pass in pre-order, consumed in the same order by the writing pass. */
let sizes: number[] = [];
let cursor = 0;

/** Raised before allocating when the encoded message would exceed the caller's limit. */
export class MessageTooLargeError extends WireError {}

export function encodeMessage(msg: Message, schema: MessageSchema, maxBytes = Infinity): Uint8Array {
  sizes = [];
  cursor = 0;
  try {
    const total = measureMessage(msg, schema);
    if (total > maxBytes) throw new MessageTooLargeError(`the encoded ${schema.name} would be ${total} bytes, over the limit of ${maxBytes}`);
    const writer = new WireWriter(total);
    writeMessage(writer, msg, schema);
    if (writer.pos !== total) throw new Error(`internal error: wrote ${writer.pos} of ${total} bytes for ${schema.name}`);
    return writer.buf;
  } finally {
    sizes = [];
  }
}

function measureMessage(msg: Message, schema: MessageSchema): number {
  let size = 0;
  let field: FieldDef | undefined;
  let index = 0;
  try {
    for (field of schema.fields) {
      const value = msg[field.name];
      if (value === undefined || value === null) continue;
      if (!field.repeated) {
        size += field.tagSize + measureValue(field, value);
        continue;
      }
      const list = asList(value, field);
      if (list.length === 0) continue;
      if (field.packed) {
        let payload = 0;
        for (index = 0; index < list.length; index++) payload += measureElement(field, list[index]);
        sizes.push(payload);
        size += field.packedTagSize + varintSize32(payload) + payload;
      } else {
        for (index = 0; index < list.length; index++) size += field.tagSize + measureValue(field, list[index]);
      }
    }
    for (const raw of msg.unknownFields ?? []) size += raw.length;
  } catch (error) {
    if (error instanceof WireError) {
      if (field !== undefined) error.within(field.repeated ? `${field.name}[${index}]` : field.name);
      if (typeof msg.name === 'string') error.within(`("${msg.name}")`);
    }
    throw error;
  }
  return size;
}

/** Size of one value after its tag: length prefix included for delimited kinds. */
function measureValue(field: FieldDef, value: unknown): number {
  switch (field.kind) {
    case 'message': {
      if (typeof value !== 'object') throw new WireError(`expected a ${field.message!.name} object, got ${typeof value}`);
      const slot = sizes.length;
      sizes.push(0);
      const length = measureMessage(value as Message, field.message!);
      sizes[slot] = length;
      return varintSize32(length) + length;
    }
    case 'string': {
      if (typeof value !== 'string') throw new WireError(`expected a string, got ${typeof value}`);
      const length = utf8Length(value);
      sizes.push(length);
      return varintSize32(length) + length;
    }
    case 'bytes': {
      if (!(value instanceof Uint8Array)) throw new WireError(`expected a Uint8Array, got ${describe(value)}`);
      return varintSize32(value.length) + value.length;
    }
    default:
      return measureElement(field, value);
  }
}

function measureElement(field: FieldDef, value: unknown): number {
  switch (field.wireType) {
    case 5: return 4;
    case 1: return 8;
    default: {
      const [lo, hi] = varintHalves(field, value);
      return varintSize64(lo, hi);
    }
  }
}

/** The two halves of a varint-encoded value, after checking it fits the field. */
function varintHalves(field: FieldDef, value: unknown): [number, number] {
  if (typeof value === 'bigint') {
    if (field.kind === 'int32' || field.kind === 'int32Array' || field.kind === 'int64') {
      throw new WireError(`expected a number, got the bigint ${value}`);
    }
    return splitBigInt64(value);
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new WireError(`expected an integer, got ${describe(value)}`);
  if (field.kind === 'int32' || field.kind === 'int32Array') {
    if (value < -0x80000000 || value > 0x7fffffff) throw new WireError(`${value} does not fit int32`);
    return value < 0 ? [value >>> 0, 0xffffffff] : [value, 0];
  }
  if (!Number.isSafeInteger(value)) throw new WireError(`${value} is not a safe integer; pass a bigint where the field allows one`);
  return splitInt64(value);
}

function writeMessage(w: WireWriter, msg: Message, schema: MessageSchema): void {
  for (const field of schema.fields) {
    const value = msg[field.name];
    if (value === undefined || value === null) continue;
    if (!field.repeated) {
      w.writeVarint32(field.tag);
      writeValue(w, field, value);
      continue;
    }
    const list = value as ArrayLike<unknown>;
    if (list.length === 0) continue;
    if (field.packed) {
      w.writeVarint32(field.packedTag);
      w.writeVarint32(sizes[cursor++]);
      writePackedRun(w, field, list);
    } else {
      for (let i = 0; i < list.length; i++) {
        w.writeVarint32(field.tag);
        writeValue(w, field, list[i]);
      }
    }
  }
  for (const raw of msg.unknownFields ?? []) w.writeBytes(raw);
}

function writeValue(w: WireWriter, field: FieldDef, value: unknown): void {
  switch (field.kind) {
    case 'message': {
      w.writeVarint32(sizes[cursor++]);
      writeMessage(w, value as Message, field.message!);
      return;
    }
    case 'string': {
      const length = sizes[cursor++];
      w.writeVarint32(length);
      w.writeUtf8(value as string, length);
      return;
    }
    case 'bytes':
      w.writeVarint32((value as Uint8Array).length);
      w.writeBytes(value as Uint8Array);
      return;
    default:
      writeElement(w, field, value);
  }
}

function writePackedRun(w: WireWriter, field: FieldDef, list: ArrayLike<unknown>): void {
  const wholeArray =
    (field.kind === 'float32Array' && list instanceof Float32Array) || (field.kind === 'float64Array' && list instanceof Float64Array);
  if (wholeArray && LITTLE_ENDIAN_HOST) {
    const typed = list as Float32Array | Float64Array;
    w.writeBytes(new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength));
    return;
  }
  for (let i = 0; i < list.length; i++) writeElement(w, field, list[i]);
}

function writeElement(w: WireWriter, field: FieldDef, value: unknown): void {
  if (field.wireType === 5) w.writeFloat(value as number);
  else if (field.wireType === 1) w.writeDouble(value as number);
  else {
    const [lo, hi] = varintHalves(field, value);
    w.writeVarint64(lo, hi);
  }
}

function asList(value: unknown, field: FieldDef): ArrayLike<unknown> {
  if (Array.isArray(value) || ArrayBuffer.isView(value)) return value as ArrayLike<unknown>;
  throw new WireError(`expected a list for repeated field ${field.name}, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return `${typeof value} ${String(value).slice(0, 40)}`;
}
