import * as fs from 'fs';
import { Tensor } from 'onnxruntime-node';
import { NavigatorError } from '../core/errors';
import type { Feeds, RecordedCall } from '../core/feeds';
import { writeFileAtomic } from '../workspace/atomic';

/** One recorded call: the inputs the module got and the outputs the source model gave. */
export type Sample = RecordedCall;

/** A sample read back, with the file it came from. */
export interface StoredSample extends Sample {
  file: string;
}

interface TensorEntry {
  name: string;
  type: Tensor.Type;
  dims: number[];
  offset: number;
  length: number;
}

type ArrayCtor = { new (buffer: ArrayBuffer, offset: number, length: number): Tensor['data'] & ArrayBufferView; BYTES_PER_ELEMENT: number };

const arrayTypes: Partial<Record<Tensor.Type, ArrayCtor>> = {
  float32: Float32Array as unknown as ArrayCtor,
  float64: Float64Array as unknown as ArrayCtor,
  float16: Uint16Array as unknown as ArrayCtor,
  int8: Int8Array as unknown as ArrayCtor,
  uint8: Uint8Array as unknown as ArrayCtor,
  bool: Uint8Array as unknown as ArrayCtor,
  int16: Int16Array as unknown as ArrayCtor,
  uint16: Uint16Array as unknown as ArrayCtor,
  int32: Int32Array as unknown as ArrayCtor,
  uint32: Uint32Array as unknown as ArrayCtor,
  int64: BigInt64Array as unknown as ArrayCtor,
  uint64: BigUint64Array as unknown as ArrayCtor,
};

/**
 * Sample file layout: 4-byte little-endian header length, a JSON header listing each tensor's name,
 * type, dims and byte range, then the raw tensor bytes (each at an 8-byte aligned offset).
 */
export function writeSample(file: string, sample: Sample, module: string): void {
  const entries: { inputs: TensorEntry[]; outputs: TensorEntry[] } = { inputs: [], outputs: [] };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const side of ['inputs', 'outputs'] as const) {
    for (const [name, tensor] of Object.entries(sample[side])) {
      const data = tensor.data;
      if (!ArrayBuffer.isView(data) || !arrayTypes[tensor.type]) {
        throw new NavigatorError(`cannot record ${side.slice(0, -1)} of type ${tensor.type}`, {
          module,
          subject: name,
          fix: 'only numeric and bool tensors can be recorded; keep string processing outside the module',
        });
      }
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      entries[side].push({ name, type: tensor.type, dims: [...tensor.dims], offset, length: bytes.length });
      const padding = (8 - (bytes.length % 8)) % 8;
      chunks.push(bytes, new Uint8Array(padding));
      offset += bytes.length + padding;
    }
  }
  const header = Buffer.from(JSON.stringify(entries));
  const headerLength = Buffer.alloc(4);
  headerLength.writeUInt32LE(header.length);
  const headerPadding = new Uint8Array((8 - ((4 + header.length) % 8)) % 8);
  writeFileAtomic(file, [headerLength, header, headerPadding, ...chunks]);
}

export function readSample(file: string): Sample {
  const buffer = fs.readFileSync(file);
  const headerLength = buffer.readUInt32LE(0);
  const entries = JSON.parse(buffer.subarray(4, 4 + headerLength).toString()) as Record<'inputs' | 'outputs', TensorEntry[]>;
  const dataStart = 4 + headerLength + ((8 - ((4 + headerLength) % 8)) % 8);
  const toFeeds = (list: TensorEntry[]): Feeds =>
    Object.fromEntries(
      list.map((entry) => {
        const Ctor = arrayTypes[entry.type] as ArrayCtor;
        // Copy into a fresh buffer: typed arrays need aligned offsets, and tensors outlive the file buffer.
        const copy = new Uint8Array(entry.length);
        copy.set(buffer.subarray(dataStart + entry.offset, dataStart + entry.offset + entry.length));
        const data = new Ctor(copy.buffer, 0, entry.length / Ctor.BYTES_PER_ELEMENT);
        return [entry.name, new Tensor(entry.type, data as Float32Array, entry.dims)];
      }),
    );
  return { inputs: toFeeds(entries.inputs), outputs: toFeeds(entries.outputs) };
}
