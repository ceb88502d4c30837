/**
 * Reading and writing .onnx files, with external data.
 *
 * readModel decodes the file in place (bytes fields are views into the file's buffer) and leaves
 * external tensors unread unless asked: a diffusion UNet keeps gigabytes there. writeModel writes
 * atomically (temporary files in the target directory, then rename), can move large initializers
 * into one external data file, and copies tensors that are still external from their source file
 * in chunks, so a model is never loaded whole to be re-written elsewhere.
 */
import * as fs from 'fs';
import * as path from 'path';
import { NavigatorError } from '../core/errors';
import { writeFileAtomic } from '../workspace/atomic';
import { DataType } from './data-types';
import {
  externalByteRange,
  externalDataEntries,
  isExternalTensor,
  loadExternalTensor,
  readFully,
  resolveExternalPath,
} from './external-data';
import { DataLocation, type ModelProto, type TensorProto } from './messages';
import { decodeModel, encodeModel } from './proto';
import { tensorRawBytes } from './tensor-data';
import { mapModelTensors } from './tensor-walk';

export { loadExternalTensor } from './external-data';

export interface ReadModelOptions {
  /** Read every external tensor into rawData (and drop its external_data). Default false. */
  loadExternalData?: boolean;
  /** The file's bytes, already read: decoding shares them (the result's tensors are views into them). */
  bytes?: Uint8Array;
}

export interface WriteModelOptions {
  /** Initializers with more data bytes than this go to the external data file. Default: none moved. */
  externalDataThreshold?: number;
  /** External data file name, relative to the model's directory. Default `<model file name>.data`. */
  externalDataFile?: string;
  /** Directory that this model's external data locations are relative to. Default: where readModel read it. */
  sourceDir?: string;
}

export interface WriteModelResult {
  modelBytes: number;
  /** Absolute path of the external data file, when any tensor is stored externally. */
  externalDataPath?: string;
  externalTensors: number;
  externalBytes: number;
}

/** Directory each model returned by readModel was read from, for copying its external data later. */
const sourceDirs = new WeakMap<ModelProto, string>();

const COPY_CHUNK_BYTES = 16 * 1024 * 1024;
/** Offset alignment of tensors in the external data file. */
const EXTERNAL_DATA_ALIGNMENT = 4096;

export function readModel(filePath: string, options: ReadModelOptions = {}): ModelProto {
  let bytes: Uint8Array;
  try {
    bytes = options.bytes ?? fs.readFileSync(filePath);
  } catch (cause) {
    throw new NavigatorError('cannot read the ONNX model file', { subject: filePath, cause, fix: 'check the path and its permissions' });
  }
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (cause) {
    // decodeModel reports bad bytes as a NavigatorError; anything else is a bug to surface as it is.
    if (!(cause instanceof NavigatorError)) throw cause;
    throw new NavigatorError('the file is not a valid ONNX model', { subject: filePath, cause, fix: 're-export the model, or check that the download is complete' });
  }
  const modelDir = path.dirname(path.resolve(filePath));
  if (options.loadExternalData) {
    model = mapModelTensors(model, (tensor) => (isExternalTensor(tensor) ? withRawData(tensor, loadExternalTensor(modelDir, tensor)) : tensor));
  }
  sourceDirs.set(model, modelDir);
  return model;
}

/** The directory readModel read this model from; undefined for models built or decoded in memory. */
export function modelSourceDir(model: ModelProto): string | undefined {
  return sourceDirs.get(model);
}

export function writeModel(filePath: string, model: ModelProto, options: WriteModelOptions = {}): WriteModelResult {
  const target = path.resolve(filePath);
  const dir = path.dirname(target);
  fs.mkdirSync(dir, { recursive: true });
  const dataName = options.externalDataFile ?? `${path.basename(target)}.data`;
  const data = new ExternalDataWriter(dir, dataName);
  const sourceDir = options.sourceDir ?? sourceDirs.get(model) ?? dir;
  const threshold = options.externalDataThreshold;
  try {
    const rewritten = mapModelTensors(model, (tensor, site) => {
      if (isExternalTensor(tensor)) return data.copyExternal(sourceDir, tensor);
      if (threshold === undefined || site !== 'initializer' || !hasFixedSizeData(tensor)) return tensor;
      const bytes = tensorRawBytes(tensor);
      return bytes.length > threshold ? data.append(tensor, bytes) : tensor;
    });
    // Throws, before allocating, when the model would exceed protobuf's 2 GiB limit.
    const encoded = encodeModel(rewritten);
    // Data first: a model file must never point at data that is not in place yet.
    const dataPath = data.commit();
    writeFileAtomic(target, encoded);
    return { modelBytes: encoded.length, externalDataPath: dataPath, externalTensors: data.tensors, externalBytes: data.bytes };
  } finally {
    data.abort();
  }
}

/** Appends tensors to one external data file, written under a temporary name until commit(). */
class ExternalDataWriter {
  tensors = 0;
  bytes = 0;
  private fd: number | undefined;
  private tempPath: string | undefined;
  private position = 0;
  private chunk: Uint8Array | undefined;
  private readonly finalPath: string;

  constructor(dir: string, private readonly location: string) {
    this.finalPath = resolveExternalPath(dir, location);
  }

  append(tensor: TensorProto, bytes: Uint8Array): TensorProto {
    const offset = this.reserve(bytes.length);
    writeFully(this.fd!, bytes, offset);
    return this.externalCopyOf(tensor, offset, bytes.length);
  }

  /** Copies an external tensor's bytes from its source file, one chunk at a time. */
  copyExternal(sourceDir: string, tensor: TensorProto): TensorProto {
    const source = externalByteRange(sourceDir, tensor);
    const offset = this.reserve(source.length);
    this.chunk ??= new Uint8Array(COPY_CHUNK_BYTES);
    const sourceFd = fs.openSync(source.file, 'r');
    try {
      for (let done = 0; done < source.length; ) {
        const piece = this.chunk.subarray(0, Math.min(this.chunk.length, source.length - done));
        readFully(sourceFd, piece, source.offset + done);
        writeFully(this.fd!, piece, offset + done);
        done += piece.length;
      }
    } finally {
      fs.closeSync(sourceFd);
    }
    return this.externalCopyOf(tensor, offset, source.length);
  }

  /** Closes the file and moves it into place; returns its path, or undefined when nothing was written. */
  commit(): string | undefined {
    if (this.fd === undefined) return undefined;
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.fd = undefined;
    fs.renameSync(this.tempPath!, this.finalPath);
    this.tempPath = undefined;
    return this.finalPath;
  }

  /** Removes the temporary file if commit() did not happen. */
  abort(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    if (this.tempPath !== undefined) fs.rmSync(this.tempPath, { force: true });
    this.fd = undefined;
    this.tempPath = undefined;
  }

  private reserve(length: number): number {
    if (this.fd === undefined) {
      fs.mkdirSync(path.dirname(this.finalPath), { recursive: true });
      this.tempPath = temporaryPath(this.finalPath);
      this.fd = fs.openSync(this.tempPath, 'w');
    }
    // Aligned offsets let runtimes map weights straight from the file; the gap stays zero.
    const offset = Math.ceil(this.position / EXTERNAL_DATA_ALIGNMENT) * EXTERNAL_DATA_ALIGNMENT;
    this.position = offset + length;
    this.tensors++;
    this.bytes += length;
    return offset;
  }

  private externalCopyOf(tensor: TensorProto, offset: number, length: number): TensorProto {
    const { rawData, floatData, int32Data, int64Data, doubleData, uint64Data, externalData, ...rest } = tensor;
    return { ...rest, externalData: externalDataEntries(this.location, offset, length, externalData), dataLocation: DataLocation.EXTERNAL };
  }
}

function withRawData(tensor: TensorProto, rawData: Uint8Array): TensorProto {
  const { externalData, dataLocation, ...rest } = tensor;
  return { ...rest, rawData };
}

function hasFixedSizeData(tensor: TensorProto): boolean {
  return tensor.dataType !== undefined && tensor.dataType !== DataType.STRING && tensor.dataType !== DataType.UNDEFINED;
}

function temporaryPath(finalPath: string): string {
  const random = Math.random().toString(36).slice(2, 10);
  return path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.${process.pid}.${random}.tmp`);
}

function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
}
