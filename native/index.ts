/**
 * The TensorRT addon's TypeScript face: its types, and `loadTensorRT()`, which loads the addon that
 * `native/build.js` built at install time, or says why there is none. See docs/tensorrt.md.
 */
import * as fs from 'fs';
import * as path from 'path';

export type TensorRTPrecision = 'fp32' | 'tf32' | 'fp16' | 'bf16' | 'int8' | 'fp8';

/** Element types, named as onnxruntime names them. bfloat16 and float8 data travel as raw bits. */
export type TensorRTDataType =
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'int8'
  | 'uint8'
  | 'int32'
  | 'int64'
  | 'bool'
  | 'float8e4m3';

export interface ShapeRange {
  min: number[];
  opt: number[];
  max: number[];
}

/** One TensorRT optimization profile: the shape range of each dynamic input. */
export interface TensorRTProfile {
  inputs: Record<string, ShapeRange>;
}

export interface BuildEngineOptions {
  onnxPath: string;
  /** Written through a temporary file and a rename, so that readers never see half an engine. */
  enginePath: string;
  /** Read if it exists, updated after the build (merged with what another build wrote meanwhile). */
  timingCachePath?: string;
  /**
   * fp32 clears TF32; tf32, fp16 and bf16 each also allow the precisions above them. int8 and fp8
   * need QuantizeLinear/DequantizeLinear nodes in the model and build a strongly typed network. With
   * TensorRT 11 every network is strongly typed, so fp16/bf16 need a model that is fp16/bf16 already.
   */
  precision: TensorRTPrecision;
  /** One optimization profile each; required when the model has dynamic inputs. */
  profiles?: TensorRTProfile[];
  /** Workspace memory pool limit; TensorRT's default (all device memory) when absent. */
  workspaceBytes?: number;
  /** Builder optimization level 0-5; TensorRT's default (3) when absent. */
  optimizationLevel?: number;
}

export interface BuildEngineResult {
  engineBytes: number;
  buildMs: number;
  profiles: TensorRTProfile[];
  stronglyTyped: boolean;
  /** Layers of the parsed network, before TensorRT fuses them. */
  networkLayers: number;
  timingCacheBytes: number;
  /** Things worth logging, e.g. a timing cache dropped because it came from another GPU. */
  notes: string[];
}

export interface TensorInfo {
  name: string;
  dtype: TensorRTDataType;
  /** -1 on dynamic axes. */
  shape: number[];
}

/** The typed array of each data type: float16 and bfloat16 as Uint16Array, int64 as BigInt64Array. */
export type HostData = Float32Array | Uint16Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

export interface HostTensor {
  data: HostData;
  dims: readonly number[];
}

export interface EngineOutput {
  data: HostData;
  dims: number[];
  dtype: TensorRTDataType;
}

/** A deserialized engine with one execution context; runs take turns. */
export interface TensorRTEngine {
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
  readonly profiles: TensorRTProfile[];
  /** Picks the first profile the shapes fit, copies in, runs and copies out, off the JS thread. */
  run(inputs: Record<string, HostTensor>): Promise<Record<string, EngineOutput>>;
  /** Frees the engine and its GPU memory now; a run in flight finishes first. */
  release(): void;
}

export interface TensorRTInfo {
  /** Of the library loaded. */
  tensorrtVersion: string;
  /** Of the headers the addon was compiled with. */
  tensorrtHeaderVersion: string;
  cudaRuntimeVersion?: string;
  cudaDriverVersion?: string;
  deviceCount: number;
  /** Why there is no device, when cudaGetDeviceCount failed. */
  cudaError?: string;
  device?: { name: string; computeCapability: string; totalMemoryBytes: number };
}

/**
 * The addon itself. Its errors carry a `code`: TRT_BAD_ARGUMENT, TRT_PARSE_FAILED,
 * TRT_PRECISION_NOT_IN_MODEL, TRT_NO_PROFILE, TRT_UNSUPPORTED, TRT_CALL_FAILED, CUDA_CALL_FAILED,
 * TRT_IO_FAILED, TRT_ADDON_ERROR (any other exception off the JS thread). Messages name the failed
 * call and end with TensorRT's last error messages.
 */
export interface TensorRTAddon {
  info(): TensorRTInfo;
  /** Throws at once on bad options; the build itself runs off the JS thread. */
  buildEngine(options: BuildEngineOptions): Promise<BuildEngineResult>;
  Engine: new (enginePath: string) => TensorRTEngine;
}

/** native/build/status.json, as native/build.js writes it. */
export interface BuildStatus {
  built: boolean;
  reason?: string;
  tensorrtVersion?: string;
  tensorrtRoot?: string;
  addon?: string;
  [key: string]: unknown;
}

export type LoadResult = { addon: TensorRTAddon; status: BuildStatus } | { unavailable: string };

export interface LoadOptions {
  /** The folder holding package.json and native/; found from this file's location by default. */
  packageRoot?: string;
}

const BUILD_HINT =
  'run `npx model-navigator-build-addon` (in this repository: `npm run build:addon`) with TENSORRT_ROOT (or TRT_ROOT) set to a TensorRT 10+ install and CUDA_HOME to the CUDA toolkit';

/** The package root: the first folder above this file with a package.json (native/ under ts-jest, dist/native once built). */
export function packageRoot(from: string = __dirname): string {
  for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, '..');
  }
}

/** The addon where it was built and loads, or why not. Never throws. */
export function loadTensorRT(options: LoadOptions = {}): LoadResult {
  try {
    const root = options.packageRoot ?? packageRoot();
    const statusFile = path.join(root, 'native', 'build', 'status.json');
    if (!fs.existsSync(statusFile)) {
      return { unavailable: `the TensorRT addon has not been built (no ${statusFile}; npm 11 runs a dependency's install script only once approved): ${BUILD_HINT}` };
    }
    let status: BuildStatus;
    try {
      status = JSON.parse(fs.readFileSync(statusFile, 'utf8')) as BuildStatus;
    } catch (error) {
      return { unavailable: `the TensorRT addon's ${statusFile} is unreadable (${String(error)}): ${BUILD_HINT}` };
    }
    if (!status.built) {
      return { unavailable: status.reason ?? `the TensorRT addon was not built: ${BUILD_HINT}` };
    }
    const addonFile = path.join(root, 'native', 'build', 'Release', 'trt_addon.node');
    try {
      const addon = require(addonFile) as TensorRTAddon;
      return { addon, status };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return {
        unavailable:
          `the TensorRT addon ${addonFile} (built against TensorRT ${status.tensorrtVersion ?? '?'}) failed to load: ${message}. ` +
          `Make TensorRT's and CUDA's libraries findable (LD_LIBRARY_PATH), or ${BUILD_HINT}`,
      };
    }
  } catch (error) {
    return { unavailable: `loading the TensorRT addon failed: ${String(error)}; ${BUILD_HINT}` };
  }
}

/** The addon a load function gave and its info(), or why there is none. */
export type TensorRTProbe = { addon: TensorRTAddon; info: TensorRTInfo } | { unavailable: string };

const probes = new WeakMap<() => LoadResult, TensorRTProbe>();

/**
 * `load()` and the addon's info(), once per load function (tests pass fakes of their own): the
 * runner and every trt-* format ask. Throws what info() throws, and then remembers nothing.
 */
export function probeTensorRT(load: () => LoadResult = loadTensorRT): TensorRTProbe {
  let probe = probes.get(load);
  if (!probe) {
    const loaded = load();
    probe = 'unavailable' in loaded ? { unavailable: loaded.unavailable } : { addon: loaded.addon, info: loaded.addon.info() };
    probes.set(load, probe);
  }
  return probe;
}
