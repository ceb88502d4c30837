/**
 * Protobuf wire format, the low level: varints, fixed-width numbers, UTF-8 strings and tags.
 * Nothing here knows about ONNX; codec.ts drives it from the message tables in schema.ts.
 *
 * 64-bit varints are handled as two unsigned 32-bit halves (lo, hi) so that the hot path never
 * allocates a BigInt; callers turn the halves into a number or a bigint as the field requires.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH_DELIMITED = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

const TWO_POW_32 = 4294967296;

/** Whether typed arrays on this machine are little-endian, as protobuf and raw_data are. */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Raised for malformed input or values a field cannot hold; codec.ts adds the field path. */
export class WireError extends Error {
  /** Outermost first, e.g. ['graph', 'node[3]', '("Conv_3")', 'attribute[0]']. */
  readonly path: string[] = [];
  constructor(readonly problem: string) {
    super(problem);
    this.name = 'WireError';
  }
  /** Prepends a path element and refreshes the message. */
  within(element: string): this {
    this.path.unshift(element);
    this.message = `${this.pathText()}: ${this.problem}`;
    return this;
  }
  pathText(): string {
    return this.path.reduce((text, part) => (part.startsWith('(') || text === '' ? text + part : `${text}.${part}`), '');
  }
}

export class WireReader {
  pos: number;
  /** Halves of the last varint read, both unsigned. */
  lo = 0;
  hi = 0;
  private readonly view: DataView;

  constructor(readonly buf: Uint8Array, start = 0) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Reads a varint of up to 64 bits into lo/hi. */
  readVarint(): void {
    const buf = this.buf;
    let pos = this.pos;
    let b = buf[pos++];
    let lo = b & 0x7f;
    let hi = 0;
    if (b >= 0x80) {
      b = buf[pos++]; lo |= (b & 0x7f) << 7;
      if (b >= 0x80) {
        b = buf[pos++]; lo |= (b & 0x7f) << 14;
        if (b >= 0x80) {
          b = buf[pos++]; lo |= (b & 0x7f) << 21;
          if (b >= 0x80) {
            b = buf[pos++]; lo |= (b & 0x0f) << 28; hi = (b & 0x7f) >>> 4;
            let shift = 3;
            while (b >= 0x80 && shift < 32) {
              b = buf[pos++]; hi |= (b & 0x7f) << shift; shift += 7;
            }
            if (b >= 0x80) throw new WireError(`varint longer than 10 bytes at offset ${this.pos}`);
          }
        }
      }
    }
    if (pos > buf.length || b === undefined) throw new WireError(`input ends inside a varint at offset ${this.pos}`);
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** A varint used as a length, a tag or an unsigned 32-bit count. */
  readLength(): number {
    this.readVarint();
    if (this.hi !== 0) throw new WireError(`length ${this.hi * TWO_POW_32 + this.lo} at offset ${this.pos} is too large`);
    return this.lo;
  }

  readFixed32Float(): number {
    this.need(4);
    const value = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return value;
  }

  readFixed64Double(): number {
    this.need(8);
    const value = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return value;
  }

  /** Returns the end offset of a length-delimited payload that starts at the current position. */
  delimitedEnd(limit: number): number {
    const length = this.readLength();
    const end = this.pos + length;
    if (end > limit) throw new WireError(`field of ${length} bytes at offset ${this.pos} runs past the end of its message`);
    return end;
  }

  /** Skips the payload of a field whose tag was just read; groups are skipped to their end tag. */
  skip(wireType: number, fieldNumber: number, limit: number): void {
    switch (wireType) {
      case WIRE_VARINT: this.readVarint(); return;
      case WIRE_FIXED64: this.need(8); this.pos += 8; return;
      case WIRE_LENGTH_DELIMITED: this.pos = this.delimitedEnd(limit); return;
      case WIRE_FIXED32: this.need(4); this.pos += 4; return;
      case WIRE_START_GROUP:
        for (;;) {
          if (this.pos >= limit) throw new WireError(`group ${fieldNumber} is not closed`);
          const tag = this.readLength();
          if ((tag & 7) === WIRE_END_GROUP) {
            if (tag >>> 3 !== fieldNumber) throw new WireError(`group ${fieldNumber} closed by end tag ${tag >>> 3}`);
            return;
          }
          this.skip(tag & 7, tag >>> 3, limit);
        }
      default:
        throw new WireError(`unsupported wire type ${wireType} for field ${fieldNumber} at offset ${this.pos}`);
    }
  }

  private need(bytes: number): void {
    if (this.pos + bytes > this.buf.length) throw new WireError(`input ends inside a ${bytes}-byte value at offset ${this.pos}`);
  }
}

/** Splits a safe integer (possibly negative) into the unsigned halves of its 64-bit two's complement. */
export function splitInt64(value: number): [lo: number, hi: number] {
  if (value >= 0) return [value % TWO_POW_32 >>> 0, Math.floor(value / TWO_POW_32) >>> 0];
  const magnitude = -value;
  let lo = magnitude % TWO_POW_32 >>> 0;
  let hi = Math.floor(magnitude / TWO_POW_32) >>> 0;
  lo = (~lo + 1) >>> 0;
  hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
  return [lo, hi];
}

export function splitBigInt64(value: bigint): [lo: number, hi: number] {
  const unsigned = BigInt.asUintN(64, value);
  return [Number(unsigned & 0xffffffffn), Number(unsigned >> 32n)];
}

/** Joins unsigned halves as a signed 64-bit number; NaN when it does not fit a safe integer. */
export function joinInt64(lo: number, hi: number): number {
  if (hi === 0) return lo;
  const value = (hi >= 0x80000000 ? hi - TWO_POW_32 : hi) * TWO_POW_32 + lo;
  return Number.isSafeInteger(value) ? value : NaN;
}

export function joinBigInt64(lo: number, hi: number, signed: boolean): bigint {
  const unsigned = (BigInt(hi) << 32n) | BigInt(lo);
  return signed ? BigInt.asIntN(64, unsigned) : unsigned;
}

export function varintSize32(value: number): number {
  // Negative int32 values are sign-extended to 64 bits on the wire, as protobuf requires.
  if (value < 0) return 10;
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

export function varintSize64(lo: number, hi: number): number {
  if (hi === 0) return varintSize32(lo);
  let size = 5;
  for (let rest = hi >>> 3; rest !== 0; rest >>>= 7) size++;
  return size;
}

/** UTF-8 byte length of a JS string, without encoding it; lone surrogates count as U+FFFD. */
export function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) length += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      length += 2;
      i++;
    } else length += 2;
  }
  return length;
}

const textDecoder = new TextDecoder('utf-8');
const textEncoder = new TextEncoder();

export function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  // Most ONNX strings are short ASCII names; building them by hand avoids the decoder call overhead.
  if (end - start <= 48) {
    let text = '';
    for (let i = start; i < end; i++) {
      const c = buf[i];
      if (c >= 0x80) return textDecoder.decode(buf.subarray(start, end));
      text += String.fromCharCode(c);
    }
    return text;
  }
  return textDecoder.decode(buf.subarray(start, end));
}

export class WireWriter {
  pos = 0;
  readonly buf: Uint8Array;
  private readonly view: DataView;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  writeVarint32(value: number): void {
    if (value < 0) {
      this.writeVarint64(value >>> 0, 0xffffffff);
      return;
    }
    const buf = this.buf;
    while (value >= 0x80) {
      buf[this.pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[this.pos++] = value;
  }

  writeVarint64(lo: number, hi: number): void {
    if (hi === 0) {
      this.writeVarint32(lo);
      return;
    }
    const buf = this.buf;
    for (let i = 0; i < 4; i++) {
      buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    // Fifth byte: the top 4 bits of lo and the low 3 bits of hi.
    let byte = lo | ((hi & 0x07) << 4);
    hi >>>= 3;
    while (hi !== 0) {
      buf[this.pos++] = byte | 0x80;
      byte = hi & 0x7f;
      hi >>>= 7;
    }
    buf[this.pos++] = byte;
  }

  writeFloat(value: number): void {
    this.view.setFloat32(this.pos, value, true);
    this.pos += 4;
  }

  writeDouble(value: number): void {
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  writeBytes(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Writes a string whose UTF-8 length was computed by utf8Length. */
  writeUtf8(text: string, byteLength: number): void {
    if (byteLength === text.length) {
      const buf = this.buf;
      for (let i = 0; i < text.length; i++) buf[this.pos++] = text.charCodeAt(i);
      return;
    }
    textEncoder.encodeInto(text, this.buf.subarray(this.pos, this.pos + byteLength));
    this.pos += byteLength;
  }
}
