import * as fs from 'fs';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { StoredSample } from '../../src/capture/sample-store';
import type { ModuleSignature, TensorSpec } from '../../src/core/signature';
import type { ModuleConfig, Tolerance } from '../../src/core/config';
import { defaultCalibration, defaultProfiling, defaultTolerances } from '../../src/config/resolve';
import { strategies } from '../../src/config/strategy';
import type { ConversionContext, ConversionResult, Format, ModelArtifact } from '../../src/core/plugin';
import { opCounts } from '../../src/onnx/graph';
import { readModel } from '../../src/onnx/model-io';
import type { Feeds } from '../../src/core/feeds';
import { compareTensors } from '../../src/tensors';
import { type OutputError } from '../../src/core/status';
import { tempDir } from './models';

/** Run a model once: the one helper, kept in ./models (light to import). */
export { runModel } from './models';

/** A signature as capture would record it from calls with these input shapes. */
export function signatureOf(inputs: { name: string; dtype?: string; shapes: number[][] }[]): ModuleSignature {
  const specs: TensorSpec[] = inputs.map(({ name, dtype = 'float32', shapes }) => {
    const rank = shapes[0].length;
    const min = Array.from({ length: rank }, (_, axis) => Math.min(...shapes.map((s) => s[axis])));
    const max = Array.from({ length: rank }, (_, axis) => Math.max(...shapes.map((s) => s[axis])));
    const dynamicAxes = min.flatMap((size, axis) => (axis === 0 || size !== max[axis] ? [axis] : []));
    return { name, dtype, shape: min.map((size, axis) => (dynamicAxes.includes(axis) ? null : size)), dynamicAxes, min, opt: shapes[0], max };
  });
  const batchSizes: Record<string, number> = {};
  for (const shape of inputs[0]?.shapes ?? []) batchSizes[shape[0]] = (batchSizes[shape[0]] ?? 0) + 1;
  return { inputs: specs, outputs: [], batching: true, batchSizes, calls: inputs[0]?.shapes.length ?? 0 };
}

export function moduleConfig(overrides: Partial<ModuleConfig> = {}): ModuleConfig {
  return {
    targetFormats: [],
    runners: ['OnnxCPU'],
    batchSizes: [],
    maxBatchSize: undefined,
    sampleCount: 2,
    tolerances: { ...defaultTolerances },
    strategy: strategies.observedLatency(),
    verifyFunc: undefined,
    profiling: defaultProfiling,
    formatOptions: {},
    calibration: defaultCalibration,
    ...overrides,
  };
}

/** Runs a format on a model file into a fresh directory, as the optimizer would. */
export async function convertWith<Options extends object>(
  format: Format<Options>,
  sourcePath: string,
  options: { signature?: ModuleSignature; config?: Partial<ModuleConfig>; options?: Options; logs?: string[]; samples?: readonly StoredSample[] } = {},
): Promise<ConversionResult> {
  const source: ModelArtifact = { format: 'onnx', path: sourcePath, precision: 'fp32', sizeBytes: fs.statSync(sourcePath).size };
  const context: ConversionContext<Options> = {
    module: 'test_module',
    source,
    outputDir: tempDir(`${format.name}-`),
    cacheDir: tempDir('cache-'),
    options: options.options ?? (format.options ? new format.options() : ({} as Options)),
    signature: options.signature ?? signatureOf([]),
    config: moduleConfig(options.config),
    readSource: () => readModel(sourcePath),
    samples: () => options.samples ?? [],
    log: (message) => options.logs?.push(message),
  };
  return format.convert(context);
}

/** The artifact of a conversion that must have applied. */
export function artifactOf(result: ConversionResult): ModelArtifact & { notes?: string } {
  if ('notApplicable' in result) throw new Error(`expected a conversion, got notApplicable: ${result.notApplicable}`);
  return { ...result.artifact, notes: result.notes };
}

/** Per output: the error figures and whether they are within the tolerance (max |c - s| <= atol + rtol · max |s|). */
export function errorsWithin(candidate: Feeds, source: Feeds, tolerance: Tolerance): (OutputError & { limit: number; passed: boolean })[] {
  return Object.keys(source).map((name) => {
    const error = compareTensors(name, candidate[name], source[name]);
    const limit = tolerance.atol + tolerance.rtol * error.sourceMaxAbs;
    return { ...error, limit, passed: !error.nonFinite && !error.shapeMismatch && error.maxAbsError <= limit };
  });
}

/** Op counts of the graph onnxruntime runs after its optimizations (saved with optimizedModelFilePath). */
export async function optimizedOpCounts(modelPath: string): Promise<Record<string, number>> {
  const saved = path.join(tempDir('ort-optimized-'), 'optimized.onnx');
  const session = await InferenceSession.create(modelPath, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', optimizedModelFilePath: saved, logSeverityLevel: 3 });
  await session.release();
  return opCounts(readModel(saved).graph!);
}

/** Deterministic float32 input: element i = sin(i · 0.7 + seed). */
export function floatInput(dims: number[], seed = 0, scale = 1): Tensor {
  const size = dims.reduce((a, b) => a * b, 1);
  return new Tensor('float32', Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.7 + seed) * scale), dims);
}

/** Token ids for the tiny encoders (vocab 100). */
export function tokenIds(batch: number, sequence: number, vocab = 100): Tensor {
  return new Tensor('int64', BigInt64Array.from({ length: batch * sequence }, (_, i) => BigInt((i * 37 + 11) % vocab)), [batch, sequence]);
}
