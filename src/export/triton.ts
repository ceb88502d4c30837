import * as fs from 'fs';
import * as path from 'path';
import { readSample } from '../capture/sample-store';
import type { TensorSpec } from '../core/signature';
import { NavigatorError } from '../core/errors';
import { CandidateStatus, ModuleStatus, baselineCandidate, selectedCandidate } from '../core/status';
import { hashModel } from '../workspace/hash';
import { Workspace } from '../workspace/workspace';
import { PbMessage, enumValue, toPbtxt } from './pbtxt';
import { assertValidTritonConfig } from './triton-validate';

/**
 * Export to a Triton Inference Server model repository: per module `<repo>/<name>/config.pbtxt`,
 * `<repo>/<name>/1/model.onnx` and `<repo>/<name>/warmup/<input>` (a recorded call), served by
 * Triton's onnxruntime backend with the settings that reproduce the selection.
 */

export interface TritonExportOptions {
  /** The optimize workspace (its <module>/status.json files). */
  workspace: string;
  /** The model repository folder to write; created where missing. */
  repository: string;
  /** Only these modules. @default every module with a status in the workspace */
  modules?: string[];
  /** Source model files by module, where a status does not record one or it moved. */
  sources?: Record<string, string>;
}

export interface ExportedModel {
  name: string;
  /** <repository>/<name> */
  dir: string;
  /** The candidate it reproduces. */
  selected: string;
  /** Which model file went in, and the settings that reproduce the selection, in words. */
  notes: string[];
}

const DATA_TYPES: Record<string, string> = {
  float32: 'TYPE_FP32', float16: 'TYPE_FP16', float64: 'TYPE_FP64', bfloat16: 'TYPE_BF16', int8: 'TYPE_INT8', uint8: 'TYPE_UINT8', int16: 'TYPE_INT16',
  uint16: 'TYPE_UINT16', int32: 'TYPE_INT32', uint32: 'TYPE_UINT32', int64: 'TYPE_INT64', uint64: 'TYPE_UINT64', bool: 'TYPE_BOOL', string: 'TYPE_STRING',
};

/** TensorRT engine formats map onto the TensorRT execution accelerator's precision_mode (FP32, FP16 or INT8). */
const TRT_PRECISION: Record<string, string> = { fp32: 'FP32', tf32: 'FP32', fp16: 'FP16', bf16: 'FP16', int8: 'INT8', fp8: 'FP16' };

/** Writes the repository and checks each written config with the validator; returns what went where. */
export function exportTriton(options: TritonExportOptions): ExportedModel[] {
  const workspace = new Workspace(options.workspace);
  const names = options.modules ?? moduleNames(workspace.root);
  if (names.length === 0) {
    throw new NavigatorError('holds no optimized module (no <module>/status.json)', { subject: workspace.root, fix: 'run optimize first, or name the workspace it wrote' });
  }
  return names.map((name) => {
    const status = workspace.readStatus(name);
    if (!status) throw new NavigatorError('has no readable status.json in the workspace', { module: name, subject: workspace.moduleDir(name), fix: 'run optimize again' });
    return exportModule(status, workspace.moduleDir(name), path.resolve(options.repository), options.sources?.[name]);
  });
}

/** The modules of a workspace: its folders holding a status.json. */
export function moduleNames(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).filter((entry) => fs.existsSync(path.join(root, entry, 'status.json'))).sort();
}

function exportModule(status: ModuleStatus, moduleDir: string, repository: string, sourceOverride: string | undefined): ExportedModel {
  const selected = selectedCandidate(status) ?? baselineCandidate(status);
  const dir = path.join(repository, status.module);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, '1'), { recursive: true });
  const placement = placementOf(selected);
  const notes = [...placement.notes];
  if (placement.runsSource || !selected.file) {
    const source = sourceFile(status, moduleDir, sourceOverride);
    fs.copyFileSync(source, path.join(dir, '1', 'model.onnx'));
    notes.unshift(`model.onnx: the source model (${source})`);
  } else {
    copyConverted(path.join(moduleDir, selected.file), path.join(dir, '1'));
    notes.unshift(`model.onnx: the selected ${selected.format} model (${selected.file})`);
  }
  const config = tritonConfig(status, selected, placement);
  const warmup = writeWarmup(status, moduleDir, dir);
  if (warmup) config.model_warmup = warmup;
  const file = path.join(dir, 'config.pbtxt');
  fs.writeFileSync(file, `${toPbtxt(config)}\n`);
  assertValidTritonConfig(file);
  return { name: status.module, dir, selected: selected.key, notes };
}

interface Placement {
  kind: 'KIND_CPU' | 'KIND_GPU';
  /** The selection is a TensorRT engine: Triton's onnxruntime backend builds it from the source. */
  runsSource: boolean;
  accelerator?: { name: string; parameters: Record<string, string> };
  parameters: Record<string, string>;
  notes: string[];
}

/** Where and how Triton's onnxruntime backend reproduces the selected candidate. */
function placementOf(c: CandidateStatus): Placement {
  const settings = c.variant.settings;
  if (c.runner === 'OnnxCPU') {
    const parameters: Record<string, string> = {};
    if (typeof settings.intraOpNumThreads === 'number') parameters.intra_op_thread_count = String(settings.intraOpNumThreads);
    if (typeof settings.interOpNumThreads === 'number') parameters.inter_op_thread_count = String(settings.interOpNumThreads);
    if (settings.executionMode === 'parallel') parameters.execution_mode = '1';
    const notes = Object.entries(parameters).map(([k, v]) => `${k} ${v} (variant ${c.variant.id})`);
    const unmapped = Object.keys(settings).filter((k) => !['intraOpNumThreads', 'interOpNumThreads', 'executionMode'].includes(k));
    if (unmapped.length) notes.push(`not carried over (no onnxruntime backend parameter): ${unmapped.join(', ')}`);
    return { kind: 'KIND_CPU', runsSource: false, parameters, notes };
  }
  if (c.runner === 'TensorRT') {
    const precision = TRT_PRECISION[c.precision] ?? 'FP32';
    const notes = [`TensorRT engine ${c.format}: Triton's onnxruntime backend builds it from the source with the TensorRT accelerator, precision_mode ${precision}`];
    if (c.precision === 'fp8' || c.precision === 'bf16') notes.push(`${c.precision} has no precision_mode: FP16 is the closest`);
    return { kind: 'KIND_GPU', runsSource: true, accelerator: { name: 'tensorrt', parameters: { precision_mode: precision } }, parameters: {}, notes };
  }
  if (c.runner === 'OnnxTensorRT') {
    const precision = c.precision === 'fp16' ? 'FP16' : 'FP32';
    return { kind: 'KIND_GPU', runsSource: false, accelerator: { name: 'tensorrt', parameters: { precision_mode: precision } }, parameters: {}, notes: [`TensorRT accelerator, precision_mode ${precision}`] };
  }
  const notes = c.runner === 'OnnxWebGPU' ? ["selected on WebGPU, which Triton's onnxruntime backend lacks: it runs on the GPU through CUDA"] : [];
  return { kind: 'KIND_GPU', runsSource: false, parameters: {}, notes };
}

function tritonConfig(status: ModuleStatus, selected: CandidateStatus, placement: Placement): PbMessage {
  const { signature } = status;
  const observed = Object.keys(signature.batchSizes).map(Number).sort((a, b) => a - b);
  const profiled = selected.performance.map((p) => p.batchSize);
  const maxBatch = signature.batching ? Math.max(1, ...observed, ...profiled) : 0;
  const tensor = (spec: TensorSpec): PbMessage => {
    const dims = tritonDims(spec, signature.batching);
    // A tensor of shape [batch] has no dims past the batch axis: Triton's convention is [1], reshaped to [].
    if (dims.length === 0 && maxBatch > 0) return { name: spec.name, data_type: enumValue(dataType(spec, status.module)), dims: [1], reshape: { shape: [] } };
    return { name: spec.name, data_type: enumValue(dataType(spec, status.module)), dims };
  };
  const config: PbMessage = {
    name: status.module,
    backend: 'onnxruntime',
    max_batch_size: maxBatch,
    input: signature.inputs.map(tensor),
    output: signature.outputs.map(tensor),
    instance_group: [{ count: 1, kind: enumValue(placement.kind) }],
  };
  if (maxBatch > 0) config.dynamic_batching = { preferred_batch_size: observed.filter((b) => b <= maxBatch), max_queue_delay_microseconds: 100 };
  if (placement.accelerator) {
    const { name, parameters } = placement.accelerator;
    const accelerator = { name, parameters: Object.entries(parameters).map(([key, value]) => ({ key, value })) };
    config.optimization = { execution_accelerators: { gpu_execution_accelerator: [accelerator] } };
  }
  const parameters = Object.entries(placement.parameters);
  if (parameters.length) config.parameters = parameters.map(([key, value]) => ({ key, value: { string_value: value } }));
  return config;
}

/** Dims past the batch axis (when batching), with -1 on every dynamic axis. */
function tritonDims(spec: TensorSpec, batching: boolean): number[] {
  const offset = batching ? 1 : 0;
  return spec.shape.slice(offset).map((d, i) => (d === null || spec.dynamicAxes.includes(i + offset) ? -1 : d));
}

function dataType(spec: TensorSpec, module: string): string {
  const type = DATA_TYPES[spec.dtype];
  if (!type) throw new NavigatorError(`has type ${spec.dtype}, which Triton has no data type for`, { module, subject: spec.name, fix: `use one of: ${Object.keys(DATA_TYPES).join(', ')}` });
  return type;
}

/** A warm-up request from the first recorded call: one batch row per input, under <model>/warmup/. */
function writeWarmup(status: ModuleStatus, moduleDir: string, dir: string): PbMessage[] | undefined {
  const samples = path.join(moduleDir, status.runDir, 'samples');
  const first = fs.existsSync(samples) ? fs.readdirSync(samples).filter((f) => f.endsWith('.bin')).sort()[0] : undefined;
  if (!first) return undefined;
  const { inputs } = readSample(path.join(samples, first));
  fs.mkdirSync(path.join(dir, 'warmup'), { recursive: true });
  const entries = status.signature.inputs.map((spec) => {
    const tensor = inputs[spec.name];
    const data = tensor.data as ArrayBufferView;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const rows = status.signature.batching ? tensor.dims[0] : 1;
    fs.writeFileSync(path.join(dir, 'warmup', spec.name), bytes.subarray(0, bytes.length / rows));
    const dims = [...(status.signature.batching ? tensor.dims.slice(1) : tensor.dims)];
    if (dims.length === 0 && status.signature.batching) dims.push(1); // the [1] of a [batch] input
    return { key: spec.name, value: { data_type: enumValue(dataType(spec, status.module)), dims, input_data_file: spec.name } };
  });
  return [{ name: `recorded call ${first}`, batch_size: 1, inputs: entries, count: 1 }];
}

function sourceFile(status: ModuleStatus, moduleDir: string, override: string | undefined): string {
  const bytesCopy = path.join(moduleDir, status.runDir, 'source.onnx');
  const file = override ?? (status.source && fs.existsSync(status.source) ? status.source : fs.existsSync(bytesCopy) ? bytesCopy : undefined);
  if (!file || !fs.existsSync(file)) {
    throw new NavigatorError('needs its source model, which the status does not locate', {
      module: status.module,
      subject: file ?? status.source ?? 'source model',
      fix: `pass it: --model ${status.module}=<path to the .onnx file> (sources in the API)`,
    });
  }
  if (hashModel(file) !== status.modelHash) {
    throw new NavigatorError('is not the model this module was optimized from (its hash differs)', { module: status.module, subject: file, fix: 'give the model file that optimize ran on, or optimize again' });
  }
  return file;
}

/** The converted model as model.onnx, with the files beside it (external weights keep their names). */
function copyConverted(file: string, versionDir: string): void {
  if (!fs.existsSync(file)) throw new NavigatorError('is missing from the workspace', { subject: file, fix: 'run optimize again' });
  const folder = path.dirname(file);
  for (const entry of fs.readdirSync(folder)) {
    const from = path.join(folder, entry);
    if (from !== file && fs.statSync(from).isFile()) fs.copyFileSync(from, path.join(versionDir, entry));
  }
  fs.copyFileSync(file, path.join(versionDir, 'model.onnx'));
}
