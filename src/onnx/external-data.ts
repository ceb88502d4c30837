/**
 * Tensors whose bytes live outside the .onnx file (TensorProto.data_location = EXTERNAL).
 *
 * ONNX stores them as key/value pairs in external_data: 'location' (a path relative to the model's
 * directory), 'offset' and 'length' in bytes (both optional: whole file from 0), and 'checksum'.
 * Models over 2 GB (a protobuf's limit) must use them, so nothing here reads more than one tensor.
 */
import * as fs from 'fs';
import * as path from 'path';
import { NavigatorError } from '../core/errors';
import { DataLocation, type StringStringEntryProto, type TensorProto } from './messages';

export interface ExternalDataInfo {
  location: string;
  offset: number;
  /** Undefined when the entry is absent: the tensor runs to the end of the file. */
  length?: number;
  checksum?: string;
}

export function isExternalTensor(tensor: TensorProto): boolean {
  return tensor.dataLocation === DataLocation.EXTERNAL;
}

export function externalDataInfo(tensor: TensorProto): ExternalDataInfo {
  const entries = new Map((tensor.externalData ?? []).map((entry) => [entry.key ?? '', entry.value ?? '']));
  const location = entries.get('location');
  const subject = tensor.name;
  if (!location) {
    throw new NavigatorError('external tensor has no "location" entry in external_data', {
      subject,
      fix: 'the model file is damaged or was written by a broken tool; re-export it',
    });
  }
  const number = (key: string): number | undefined => {
    const text = entries.get(key);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new NavigatorError(`external_data "${key}" is "${text}", not a byte count`, { subject, fix: 're-export the model' });
    }
    return value;
  };
  return { location, offset: number('offset') ?? 0, length: number('length'), checksum: entries.get('checksum') };
}

/** The external_data entries for bytes at offset/length of location, keeping any other keys (checksum). */
export function externalDataEntries(location: string, offset: number, length: number, previous: StringStringEntryProto[] = []): StringStringEntryProto[] {
  const others = previous.filter((entry) => !['location', 'offset', 'length'].includes(entry.key ?? ''));
  return [
    { key: 'location', value: location },
    { key: 'offset', value: String(offset) },
    { key: 'length', value: String(length) },
    ...others.map((entry) => ({ key: entry.key, value: entry.value })),
  ];
}

/**
 * The absolute path of an external data file. Locations must stay inside the model's directory, as
 * the ONNX spec and onnxruntime require; anything else is refused rather than read.
 */
export function resolveExternalPath(modelDir: string, location: string, tensorName?: string): string {
  const resolved = path.resolve(modelDir, location);
  const relative = path.relative(path.resolve(modelDir), resolved);
  if (path.isAbsolute(location) || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new NavigatorError(`external data location "${location}" points outside the model directory ${modelDir}`, {
      subject: tensorName,
      fix: 'keep external data files next to the .onnx file and give their location as a relative path',
    });
  }
  return resolved;
}

/** Byte range of an external tensor inside its file, with the length resolved against the file size. */
export function externalByteRange(modelDir: string, tensor: TensorProto): { file: string; offset: number; length: number } {
  const info = externalDataInfo(tensor);
  const file = resolveExternalPath(modelDir, info.location, tensor.name);
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (cause) {
    throw new NavigatorError(`cannot open the external data file "${info.location}"`, {
      subject: tensor.name,
      cause,
      fix: `put it in ${modelDir}; when writing a model that readModel did not read, pass writeModel's sourceDir option`,
    });
  }
  const length = info.length ?? size - info.offset;
  if (info.offset + length > size) {
    throw new NavigatorError(`external data ${info.location} is ${size} bytes, too short for offset ${info.offset} + length ${length}`, {
      subject: tensor.name,
      fix: 'the data file is truncated or belongs to another version of the model; copy it again',
    });
  }
  return { file, offset: info.offset, length };
}

/** Reads one external tensor's bytes (offset/length only, not the whole file). */
export function loadExternalTensor(modelDir: string, tensor: TensorProto): Uint8Array {
  const { file, offset, length } = externalByteRange(modelDir, tensor);
  const bytes = new Uint8Array(length);
  const fd = fs.openSync(file, 'r');
  try {
    readFully(fd, bytes, offset);
  } finally {
    fs.closeSync(fd);
  }
  return bytes;
}

/** fs.readSync may return fewer bytes than asked; loop until the buffer is full. */
export function readFully(fd: number, into: Uint8Array, position: number): void {
  let done = 0;
  while (done < into.length) {
    const read = fs.readSync(fd, into, done, into.length - done, position + done);
    if (read === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += read;
  }
}
