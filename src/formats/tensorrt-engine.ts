import * as fs from 'fs';
import * as path from 'path';
import {
  loadTensorRT,
  probeTensorRT,
  type BuildEngineResult,
  type LoadResult,
  type ShapeRange,
  type TensorRTPrecision,
  type TensorRTProfile,
} from '../../native';
import type { ModuleSignature } from '../core/signature';
import type { ModuleConfig } from '../core/config';
import { NavigatorError, errorText } from '../core/errors';
import { DataType } from '../onnx/data-types';
import type { ModelProto } from '../onnx/messages';
import { RUNNER_KINDS, type ConversionContext, type ConversionResult, type Format } from '../core/plugin';
import { onnxFp16Format } from './onnx-fp16';
import { createOnnxInt8StaticFormat } from './onnx-int8-static';

/**
 * One format per engine precision. fp32 to bf16 build from the source model as it is; int8 and fp8
 * only from a model that carries QuantizeLinear/DequantizeLinear nodes (TensorRT does no calibration
 * here), e.g. one quantized with NVIDIA's ModelOpt.
 */
const PRECISIONS = ['fp32', 'tf32', 'fp16', 'bf16', 'int8', 'fp8'] as const satisfies readonly TensorRTPrecision[];

export const TENSORRT_FORMAT_NAMES = PRECISIONS.map((precision) => `trt-${precision}`);

/**
 * The one optimization profile an engine gets: the captured min/opt/max of each input. When the
 * module batches, axis 0 ranges from 1 to the largest batch size that profiling will try (the
 * largest seen, `maxBatchSize`, or a configured batch size), so that every profiled batch fits.
 */
export function profileFromSignature(
  signature: ModuleSignature,
  config: Pick<ModuleConfig, 'maxBatchSize' | 'batchSizes'>,
  module?: string,
): TensorRTProfile {
  const inputs: Record<string, ShapeRange> = {};
  for (const spec of signature.inputs) {
    const range = { min: [...spec.min], opt: [...spec.opt], max: [...spec.max] };
    if (range.min.length !== spec.shape.length || range.opt.length !== spec.shape.length || range.max.length !== spec.shape.length) {
      throw new NavigatorError(`the captured min/opt/max shapes do not have the input's ${spec.shape.length} axes`, {
        module,
        subject: spec.name,
        fix: 'capture the module again',
      });
    }
    if (signature.batching && range.min.length > 0) {
      range.max[0] = Math.max(range.max[0], config.maxBatchSize ?? 0, ...config.batchSizes);
      range.min[0] = 1;
      range.opt[0] = Math.min(Math.max(range.opt[0], 1), range.max[0]);
    }
    range.min.forEach((min, axis) => {
      if (!(min <= range.opt[axis] && range.opt[axis] <= range.max[axis])) {
        throw new NavigatorError(`min <= opt <= max does not hold on axis ${axis} of the captured shapes`, {
          module,
          subject: spec.name,
          fix: 'capture the module again',
        });
      }
    });
    inputs[spec.name] = range;
  }
  return { inputs };
}

/**
 * Where engines of one TensorRT version and GPU share their timing cache: in the workspace's cache
 * folder, one per workspace, kept across runs. A cache only fits the TensorRT version and GPU that
 * wrote it, so both are in its name.
 */
export function timingCachePath(cacheDir: string, tensorrtVersion: string, computeCapability: string): string {
  const tag = `${tensorrtVersion}-sm${computeCapability.replace('.', '')}`;
  return path.join(cacheDir, `trt-timing-${tag}.cache`);
}

/**
 * Why a model cannot give an int8 or fp8 engine, or undefined when it can: it needs Q/DQ nodes whose
 * zero points are of that type (float8 for fp8; int8, or none, for int8). Checked before TensorRT
 * parses the model, which the addon then checks again on the parsed network.
 */
export function missingQuantization(model: ModelProto, precision: 'int8' | 'fp8'): string | undefined {
  const graph = model.graph;
  // Zero points are initializers or Constant nodes.
  const zeroPointTypes = new Map<string | undefined, number | undefined>((graph?.initializer ?? []).map((t) => [t.name, t.dataType]));
  for (const node of graph?.node ?? []) {
    const value = node.opType === 'Constant' ? node.attribute?.find((a) => a.name === 'value')?.t : undefined;
    if (value && node.output?.[0]) zeroPointTypes.set(node.output[0], value.dataType);
  }
  const FLOAT8 = new Set<number>([DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ, DataType.FLOAT8E5M2, DataType.FLOAT8E5M2FNUZ]);
  const quantizers = (graph?.node ?? []).filter((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear');
  const ofPrecision = quantizers.filter((n) => {
    const zeroPoint = n.input?.[2] ? zeroPointTypes.get(n.input[2]) : undefined;
    const isFloat8 = zeroPoint !== undefined && FLOAT8.has(zeroPoint);
    return precision === 'fp8' ? isFloat8 : !isFloat8;
  });
  if (ofPrecision.length > 0) return undefined;
  return (
    `the model has ${quantizers.length === 0 ? 'no' : `no ${precision}`} QuantizeLinear/DequantizeLinear nodes: TensorRT builds ` +
    `trt-${precision} only from a model quantized ahead (no calibration here); quantize it, e.g. with NVIDIA ModelOpt, and give that model`
  );
}

const NOT_IN_MODEL = 'TRT_PRECISION_NOT_IN_MODEL';
const notInModel = (error: unknown) => (error as { code?: unknown }).code === NOT_IN_MODEL;

/** The source converted by onnx-fp16 into the format's own folder, for TensorRT versions that build only in the model's types. */
async function fp16Model(context: ConversionContext): Promise<{ path: string } | { notApplicable: string }> {
  const outputDir = path.join(context.outputDir, 'onnx-fp16');
  fs.mkdirSync(outputDir, { recursive: true });
  const converted = await onnxFp16Format.convert({ ...context, outputDir });
  return 'notApplicable' in converted ? converted : { path: converted.artifact.path };
}

/** The source quantized by onnx-int8-static for TensorRT (symmetric int8) into the format's own folder. */
async function int8StaticModel(context: ConversionContext): Promise<{ path: string } | { notApplicable: string }> {
  const outputDir = path.join(context.outputDir, 'onnx-int8-static');
  fs.mkdirSync(outputDir, { recursive: true });
  const converted = await createOnnxInt8StaticFormat('tensorrt').convert({ ...context, outputDir });
  return 'notApplicable' in converted ? converted : { path: converted.artifact.path };
}

/** Formats that build a TensorRT engine (`model.plan`) from the source ONNX model. */
export function createTensorRTFormat(
  precision: TensorRTPrecision,
  load: () => LoadResult = loadTensorRT,
): Format {
  const name = `trt-${precision}`;
  return {
    name,
    precision,
    loadedBy: [RUNNER_KINDS.tensorrtEngine],
    description:
      `TensorRT engine built with ${precision} precision` +
      (precision === 'fp16'
        ? ' (TensorRT 11: from the onnx-fp16 conversion)'
        : precision === 'bf16'
          ? ' (TensorRT 11: only from a model already in bf16)'
          : precision === 'int8'
            ? " (from the model's Q/DQ nodes, else from onnx-int8-static calibrated on the recorded calls)"
            : ''),
    async convert(context: ConversionContext): Promise<ConversionResult> {
      const loaded = probeTensorRT(load);
      if ('unavailable' in loaded) return { notApplicable: loaded.unavailable };
      const info = loaded.info;
      if (info.deviceCount === 0 || !info.device) {
        return {
          notApplicable: `TensorRT ${info.tensorrtVersion} is here, but no CUDA device is visible (${info.cudaError ?? 'none found'})`,
        };
      }
      if (!context.source.path.endsWith('.onnx')) {
        return { notApplicable: `TensorRT engines are built from ONNX models, and ${context.source.path} is not one` };
      }
      let onnxPath = context.source.path;
      if (precision === 'int8' || precision === 'fp8') {
        const missing = missingQuantization(context.readSource(), precision);
        if (missing && precision === 'fp8') return { notApplicable: missing };
        if (missing) {
          // No Q/DQ of its own: quantize it here, calibrated on the recorded calls.
          const int8 = await int8StaticModel(context);
          if ('notApplicable' in int8) return { notApplicable: `${missing}; and onnx-int8-static does not apply: ${int8.notApplicable}` };
          context.log(`the model has no Q/DQ nodes: building ${name} from the onnx-int8-static conversion (calibrated on the recorded calls)`);
          onnxPath = int8.path;
        }
      }
      const enginePath = path.join(context.outputDir, 'model.plan');
      const timingCache = timingCachePath(context.cacheDir, info.tensorrtVersion, info.device.computeCapability);
      const profile = profileFromSignature(context.signature, context.config, context.module);
      context.log(`building the ${name} TensorRT engine (TensorRT ${info.tensorrtVersion}, ${info.device.name})`);
      const build = (onnxPath: string) =>
        loaded.addon.buildEngine({ onnxPath, enginePath, timingCachePath: timingCache, precision, profiles: [profile] });
      let result: BuildEngineResult;
      try {
        result = await build(onnxPath).catch(async (error: unknown) => {
          // TensorRT 11 builds every network in the types its model carries: an fp16 engine needs an
          // fp16 model, which the onnx-fp16 conversion makes (IO types kept, unsafe ops in fp32).
          if (!notInModel(error) || precision !== 'fp16') throw error;
          const fp16 = await fp16Model(context);
          if ('notApplicable' in fp16) throw Object.assign(new Error(`${errorText(error)}; and onnx-fp16 does not apply: ${fp16.notApplicable}`), { code: NOT_IN_MODEL });
          context.log(`TensorRT builds in the model's own types: building ${name} from the onnx-fp16 conversion`);
          return build(fp16.path);
        });
      } catch (error) {
        // A precision the model does not carry (TensorRT 11 takes types from the model) is a format
        // that does not apply, not a failure.
        if (notInModel(error)) return { notApplicable: errorText(error) };
        throw new NavigatorError(`building the ${name} TensorRT engine failed`, {
          module: context.module,
          subject: name,
          fix: `leave "${name}" out of targetFormats, or set NAVIGATOR_TRT_LOG=verbose to see TensorRT's whole log`,
          cause: error,
        });
      }
      for (const note of result.notes) context.log(note);
      return {
        artifact: { format: name, path: enginePath, precision, sizeBytes: fs.statSync(enginePath).size },
        notes:
          `built in ${(result.buildMs / 1000).toFixed(1)} s from ${result.networkLayers} layers` +
          `${result.stronglyTyped ? ', strongly typed' : ''}; timing cache ${timingCache}`,
      };
    },
  };
}

export const tensorRTFormats: Format[] = PRECISIONS.map((precision) => createTensorRTFormat(precision));
