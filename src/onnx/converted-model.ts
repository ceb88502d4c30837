/**
 * What the model-rewriting formats (fp16, int8, int4, static shapes) share around their graph
 * rewrite: reading the source, declaring the opsets new nodes need, and writing the result.
 */
import * as fs from 'fs';
import * as path from 'path';
import { isExternalTensor } from './external-data';
import { findOpset } from './graph';
import type { ModelProto } from './messages';
import { modelSourceDir, writeModel } from './model-io';
import { rawByteLength } from './data-types';
import { elementCount } from './tensor-data';
import { forEachTensor } from './tensor-walk';

/**
 * Above this many bytes of initializers a converted model keeps its weights in an external data file:
 * they are then written tensor by tensor rather than encoded into one more model-sized buffer, which
 * keeps optimize's peak memory down (and a protobuf cannot pass 2 GB at all).
 */
export const EXTERNAL_DATA_ABOVE_BYTES = 64 * 2 ** 20;
/** In such a model, initializers larger than this go to the external data file. */
export const EXTERNAL_TENSOR_THRESHOLD = 1024;

/** What a graph rewrite (fp16, int8, int4) returns: the new model and what it changed, or why it does not apply. */
export type RewriteResult = { model: ModelProto; notes: string } | { notApplicable: string };

export interface SavedModel {
  /** Absolute path of the .onnx file. */
  path: string;
  /** The .onnx file plus its external data file, if any. */
  sizeBytes: number;
  externalDataPath?: string;
}

/**
 * The model with `domain` imported at `version` or later (a model that imports it already keeps its
 * version). The model is not changed; a copy with a new opset list is returned when needed.
 */
export function withOpset(model: ModelProto, domain: string, version: number): ModelProto {
  const found = findOpset(model, domain);
  if (found && (found.version ?? 0) >= version) return model;
  const others = (model.opsetImport ?? []).filter((entry) => entry !== found);
  return { ...model, opsetImport: [...others, { ...found, domain, version }] };
}

/**
 * Whether a model written from `model` keeps its weights in an external data file: when `model` or
 * its `source` holds external tensors, or its initializers exceed EXTERNAL_DATA_ABOVE_BYTES. Every
 * format that writes a model decides this way, so none writes a protobuf past 2 GiB.
 */
export function keepsWeightsExternal(model: ModelProto, source: ModelProto = model): boolean {
  let external = false;
  let bytes = 0;
  forEachTensor(model, (tensor, site) => {
    if (isExternalTensor(tensor)) external = true;
    else if (site === 'initializer' && tensor.dataType) bytes += rawByteLength(tensor.dataType, elementCount(tensor.dims)) ?? 0;
  });
  if (source !== model) forEachTensor(source, (tensor) => (external ||= isExternalTensor(tensor)));
  return external || bytes > EXTERNAL_DATA_ABOVE_BYTES;
}

/**
 * Writes a converted model as `<outputDir>/model.onnx` (atomically). Weights stay in an external
 * data file when the source kept them in one or when they exceed EXTERNAL_DATA_ABOVE_BYTES, so a
 * converted model is never over protobuf's 2 GiB limit; external tensors the conversion left alone
 * are copied from the source's data file in chunks. `source` is the model readModel returned, whose
 * directory external locations are relative to.
 */
export function saveConvertedModel(model: ModelProto, outputDir: string, source: ModelProto = model): SavedModel {
  const target = path.join(outputDir, 'model.onnx');
  const external = keepsWeightsExternal(model, source);
  const result = writeModel(target, model, {
    sourceDir: modelSourceDir(source),
    externalDataThreshold: external ? EXTERNAL_TENSOR_THRESHOLD : undefined,
  });
  const sizeBytes = result.modelBytes + (result.externalDataPath ? fs.statSync(result.externalDataPath).size : 0);
  return { path: target, sizeBytes, externalDataPath: result.externalDataPath };
}
