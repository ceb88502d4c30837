import type { ModelProto } from '../onnx/messages';
import type { ModuleConfig } from './config';
import type { Feeds, RecordedCall } from './feeds';
import type { Precision } from './precision';
import type { ModuleSignature } from './signature';

/**
 * The plug-in surface: what a format and a runner are. Adding either is one file that exports an
 * object of these shapes and one registration line (src/plugins.ts, or `registerFormat` /
 * `registerRunner` from user code).
 */

/** A model file produced by a format: what runners load. */
export interface ModelArtifact {
  /** The format's name, e.g. 'onnx', 'onnx-int8', 'trt-fp16'. */
  format: string;
  /** Absolute path of the file runners load (an ONNX model or a TensorRT engine). */
  path: string;
  precision: Precision;
  sizeBytes: number;
  /** Set when the artifact only accepts these exact input shapes (e.g. static-shape specialization). */
  fixedShapes?: Record<string, number[]>;
}

export interface ConversionContext<Options extends object = object> {
  module: string;
  /** The user's model, as given. */
  source: ModelArtifact;
  /** An empty directory of this format's own in the module's run folder. */
  outputDir: string;
  /** A folder the workspace keeps across runs and modules, for caches (e.g. TensorRT's timing cache). */
  cacheDir: string;
  signature: ModuleSignature;
  config: ModuleConfig;
  /** This format's options: `config.formatOptions[name]`, validated, with the defaults of the format's options class. */
  options: Options;
  /**
   * The source model, decoded afresh on each call (a conversion may change what it gets) over bytes
   * read once for all of a module's conversions, so that a large model is not in memory twice.
   */
  readSource(): ModelProto;
  /** The module's recorded calls (inputs and the source's outputs): calibration data for static quantization. */
  samples(): readonly RecordedCall[];
  log(message: string): void;
}

export type ConversionResult = { artifact: ModelArtifact; notes?: string } | { notApplicable: string };

/**
 * A way of turning the source model into another file that runners can load.
 * A format that does not apply to a model returns `{ notApplicable: reason }`; one that fails throws.
 */
export interface Format<Options extends object = object> {
  readonly name: string;
  readonly precision: Precision;
  readonly description: string;
  /** Runner names, or runner kinds (`Runner.kinds`, e.g. 'onnxruntime-cpu'), that can load this format's files. */
  readonly loadedBy: readonly string[];
  /**
   * The class of this format's options, decorated for class-validator: users set them as
   * `formatOptions: { [name]: {...} }` in a module's config, and a plain `new options()` gives the defaults.
   */
  readonly options?: new () => Options;
  convert(context: ConversionContext<Options>): Promise<ConversionResult>;
}

export type Availability = { available: true; detail?: string } | { available: false; reason: string };

/** Runner settings as the status file stores them: plain values only. */
export type VariantSettings = Record<string, string | number | boolean>;

/** One set of runner settings worth trying (threads, layout, graph capture...), stored in the status. */
export interface RunnerVariant<Settings extends VariantSettings = VariantSettings> {
  /** Short and stable: part of the candidate key, e.g. 'default', 'threads-1'. */
  id: string;
  settings: Settings;
}

export interface VariantContext {
  module: string;
  signature: ModuleSignature;
  artifact: ModelArtifact;
  config: ModuleConfig;
}

export interface SessionContext {
  module: string;
  signature: ModuleSignature;
  /** The module's run folder, for files a runner keeps (optimized graphs, caches). */
  workDir: string;
}

/** A loaded model on a runner: what a rebound module calls. */
export interface RunnerSession {
  run(feeds: Feeds): Promise<Feeds>;
  /** False when these inputs are outside what the session can take (a fixed shape, an engine profile). */
  accepts(feeds: Feeds): boolean;
  release(): Promise<void>;
  /** Where it takes only these input shapes (a fixed-shape model, a captured GPU graph): what `accepts` checks. */
  readonly fixedShapes?: Record<string, number[]>;
}

/** A way of executing model artifacts: an onnxruntime execution provider, or the TensorRT addon. */
export interface Runner<Settings extends VariantSettings = VariantSettings> {
  /** Any name not taken; the config's `runners` and the candidate keys use it. */
  readonly name: string;
  /** What formats may name in `loadedBy` instead of this runner's name, e.g. ['onnxruntime', 'onnxruntime-cpu']. */
  readonly kinds: readonly string[];
  readonly device: 'cpu' | 'gpu';
  /** Whether this machine can run it; probed once and cached. Never throws. */
  availability(): Promise<Availability>;
  /** The settings worth profiling for this artifact; the first is the runner's defaults. */
  variants(context: VariantContext): RunnerVariant<Settings>[];
  createSession(artifact: ModelArtifact, variant: RunnerVariant<Settings>, context: SessionContext): Promise<RunnerSession>;
}

/** Whether a runner can load a format's files: the format names the runner or one of its kinds. */
export function loads(runner: Pick<Runner, 'name' | 'kinds'>, format: Pick<Format, 'loadedBy'>): boolean {
  return format.loadedBy.includes(runner.name) || runner.kinds.some((kind) => format.loadedBy.includes(kind));
}

/** The runner kinds the built-in runners declare, for formats' `loadedBy`. */
export const RUNNER_KINDS = {
  /** Any onnxruntime execution provider. */
  onnxruntime: 'onnxruntime',
  /** onnxruntime's CPU provider: int8/int4 kernels, its saved CPU graph optimizations. */
  onnxruntimeCpu: 'onnxruntime-cpu',
  /** onnxruntime's GPU providers (WebGPU, CUDA, TensorRT): float16 kernels. */
  onnxruntimeGpu: 'onnxruntime-gpu',
  /** Serialized TensorRT engines (the addon in native/). */
  tensorrtEngine: 'tensorrt-engine',
} as const;
