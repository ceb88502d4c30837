/**
 * The encoding half of the codec (see codec.ts): a measuring pass records the size of every nested
 * message, string and packed run in pre-order; the writing pass fills one buffer of the exact final
 * size, so large payloads (raw_data) are copied once.
 */
import type { FieldDef, Message, MessageSchema } from './schema';
import {
  LITTLE_ENDIAN_HOST,
  splitBigInt64,
  splitInt64,
  utf8Length,
  varintSize32,
  varintSize64,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WireError,
  WireWriter,
} from './wire';

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
        if (field.wireType === WIRE_FIXED32 || field.wireType === WIRE_FIXED64) {
          // float_data, double_data (whole weights): measured without visiting each element.
          payload = list.length * (field.wireType === WIRE_FIXED32 ? 4 : 8);
          index = list.length; // where the loop below leaves it: a later field's error path names it
        } else {
          for (index = 0; index < list.length; index++) payload += measureElement(field, list[index]);
        }
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
    case WIRE_FIXED32: return 4;
    case WIRE_FIXED64: return 8;
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
  if (field.wireType === WIRE_FIXED32) w.writeFloat(value as number);
  else if (field.wireType === WIRE_FIXED64) w.writeDouble(value as number);
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
