/**
 * The TensorRT runner, formats and addon loader. CI has neither a GPU nor TensorRT, so the real
 * addon is tested on its skip path; the TypeScript around it runs against a fake addon.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import {
  loadTensorRT,
  packageRoot,
  type BuildEngineOptions,
  type HostTensor,
  type LoadResult,
  type TensorRTAddon,
  type TensorRTEngine,
  type TensorRTInfo,
  type TensorRTProfile,
} from '../../native';
import type { StoredSample } from '../../src/capture/sample-store';
import type { ModuleSignature } from '../../src/core/signature';
import type { ModuleConfig } from '../../src/core/config';
import { NavigatorError } from '../../src/core/errors';
import { loads, type ConversionContext } from '../../src/core/plugin';
import { formatRegistry } from '../../src/plugins';
import {
  TENSORRT_FORMAT_NAMES,
  createTensorRTFormat,
  missingQuantization,
  profileFromSignature,
  tensorRTFormats,
  timingCachePath,
} from '../../src/formats/tensorrt-engine';
import type { Feeds } from '../../src/core/feeds';
import { readModel } from '../../src/onnx/model-io';
import { tensorToArray } from '../../src/onnx/graph';
import { GraphBuilder } from '../../src/onnx/builder';
import { moduleConfig as fullModuleConfig } from '../helpers/format-check';
import { mlpModel, tempDir, writeModel } from '../helpers/models';
import { createTensorRTRunner, feedMismatch, fitsProfile, pickProfile, tensorRTRunner } from '../../src/runners/tensorrt';

const REPO = path.resolve(__dirname, '..', '..');
const tmp = tempDir('nav-trt-');

function folder(...parts: string[]): string {
  const dir = path.join(tmp, ...parts);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function write(file: string, text = ''): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

const signature: ModuleSignature = {
  inputs: [
    { name: 'x', dtype: 'float32', shape: [null, 3, null], dynamicAxes: [0, 2], min: [2, 3, 8], opt: [4, 3, 16], max: [4, 3, 32] },
    { name: 'mask', dtype: 'int64', shape: [null, 5], dynamicAxes: [0], min: [2, 5], opt: [4, 5], max: [4, 5] },
  ],
  outputs: [{ name: 'y', dtype: 'float32', shape: [null, 3], dynamicAxes: [0], min: [2, 3], opt: [4, 3], max: [4, 3] }],
  batching: true,
  batchSizes: { '2': 3, '4': 5 },
  calls: 8,
};

/** Only the properties the TensorRT format reads. */
function moduleConfig(maxBatchSize: number | undefined, batchSizes: number[] = []): ModuleConfig {
  return fullModuleConfig({ maxBatchSize, batchSizes });
}

describe('loadTensorRT', () => {
  it('on a machine without TensorRT says why, naming TensorRT and the variable that points at it', () => {
    const loaded = loadTensorRT();
    expect('addon' in loaded).toBe(false);
    const reason = (loaded as { unavailable: string }).unavailable;
    expect(reason).toMatch(/TensorRT/);
    expect(reason).toMatch(/TENSORRT_ROOT/);
  });

  it('finds the package root from native/ (ts-jest) and from dist/native (compiled)', () => {
    const root = folder('pkg-root');
    write(path.join(root, 'package.json'), '{}');
    expect(packageRoot(folder('pkg-root', 'native'))).toBe(root);
    expect(packageRoot(folder('pkg-root', 'dist', 'native'))).toBe(root);
    expect(packageRoot()).toBe(REPO);
  });

  it('without status.json tells how to build the addon', () => {
    const loaded = loadTensorRT({ packageRoot: folder('no-status') });
    expect(loaded).toEqual({ unavailable: expect.stringContaining('has not been built') });
    expect((loaded as { unavailable: string }).unavailable).toMatch(/npx model-navigator-build-addon.*TENSORRT_ROOT/);
  });

  it('gives the reason build.js recorded', () => {
    const root = folder('not-built');
    write(path.join(root, 'native', 'build', 'status.json'), JSON.stringify({ built: false, reason: 'TensorRT not found (x)' }));
    expect(loadTensorRT({ packageRoot: root })).toEqual({ unavailable: 'TensorRT not found (x)' });
  });

  it('gives the load error when the built addon does not load', () => {
    const root = folder('built-missing');
    write(path.join(root, 'native', 'build', 'status.json'), JSON.stringify({ built: true, tensorrtVersion: '10.16.1' }));
    const reason = (loadTensorRT({ packageRoot: root }) as { unavailable: string }).unavailable;
    expect(reason).toContain(path.join(root, 'native', 'build', 'Release', 'trt_addon.node'));
    expect(reason).toMatch(/TensorRT 10\.16\.1\) failed to load: .*LD_LIBRARY_PATH.*TENSORRT_ROOT/s);
  });

  it('does not throw on a corrupt status.json', () => {
    const root = folder('corrupt');
    write(path.join(root, 'native', 'build', 'status.json'), '{ built: tru');
    expect((loadTensorRT({ packageRoot: root }) as { unavailable: string }).unavailable).toMatch(/unreadable.*TENSORRT_ROOT/s);
  });
});

describe('native/build.js', () => {
  const BUILD_ENV = ['TENSORRT_ROOT', 'TRT_ROOT', 'CUDA_HOME', 'CUDA_PATH', 'NAVIGATOR_SKIP_TENSORRT', 'npm_config_node_gyp'];

  /** Runs a copy of native/ in a package of its own, so that the project's native/build stays as it is. */
  function runBuild(name: string, env: Record<string, string>, args: string[] = []) {
    const root = folder('build', name);
    const buildDir = path.join(REPO, 'native', 'build');
    fs.cpSync(path.join(REPO, 'native'), path.join(root, 'native'), {
      recursive: true,
      filter: (source) => source !== buildDir && !source.startsWith(buildDir + path.sep),
    });
    write(path.join(root, 'package.json'), '{}');
    if (!fs.existsSync(path.join(root, 'node_modules'))) fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(root, 'node_modules'));
    const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !BUILD_ENV.includes(key)));
    const result = spawnSync(process.execPath, [path.join('native', 'build.js'), ...args], {
      cwd: root,
      env: { ...cleanEnv, ...env },
      encoding: 'utf8',
      timeout: 600_000,
    });
    const statusFile = path.join(root, 'native', 'build', 'status.json');
    const status = fs.existsSync(statusFile) ? (JSON.parse(fs.readFileSync(statusFile, 'utf8')) as Record<string, unknown>) : undefined;
    return { code: result.status, stdout: result.stdout, status, root };
  }

  /** A folder shaped like a TensorRT install; its headers are placeholders that do not compile. */
  function fakeTensorRT(name: string, major: number): string {
    const root = folder('fake', name);
    write(path.join(root, 'include', 'NvInfer.h'), '#error "placeholder, not TensorRT"\n');
    write(path.join(root, 'include', 'NvOnnxParser.h'), '#error "placeholder, not TensorRT"\n');
    write(
      path.join(root, 'include', 'NvInferVersion.h'),
      `#define TRT_MAJOR_ENTERPRISE ${major}\n#define NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE\n#define NV_TENSORRT_MINOR 16\n#define NV_TENSORRT_PATCH 1\n`,
    );
    write(path.join(root, 'lib', 'libnvinfer.so'));
    write(path.join(root, 'lib', 'libnvonnxparser.so'));
    return root;
  }

  function fakeCuda(): string {
    const root = folder('fake', 'cuda');
    write(path.join(root, 'include', 'cuda_runtime_api.h'), '#error "placeholder, not CUDA"\n');
    write(path.join(root, 'lib64', 'libcudart.so'));
    return root;
  }

  it('without TensorRT exits 0, prints one line and records built:false with a reason', () => {
    const run = runBuild('none', {});
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(run.stdout).toMatch(/TensorRT addon not built: .*The TensorRT runner will be skipped\./);
    expect(run.status).toEqual(expect.objectContaining({ built: false }));
    expect(run.status?.reason).toMatch(/TensorRT not found .*TENSORRT_ROOT/);
    expect(fs.existsSync(path.join(run.root, 'native', 'build', 'Release', 'trt_addon.node'))).toBe(false);
  });

  it('searches only TENSORRT_ROOT when it is set, and says so', () => {
    const empty = folder('empty-root');
    const run = runBuild('explicit', { TENSORRT_ROOT: empty });
    expect(run.code).toBe(0);
    expect(run.status?.built).toBe(false);
    expect(run.status?.reason).toContain(`looked in TENSORRT_ROOT=${empty}`);
  });

  it('refuses TensorRT older than 10', () => {
    const run = runBuild('old', { TRT_ROOT: fakeTensorRT('trt8', 8), CUDA_HOME: fakeCuda() });
    expect(run.code).toBe(0);
    expect(run.status?.reason).toMatch(/TensorRT 8\.16\.1 in .*needs TensorRT 10 or newer/);
  });

  it('can be skipped with NAVIGATOR_SKIP_TENSORRT', () => {
    const run = runBuild('skip', { NAVIGATOR_SKIP_TENSORRT: '1', TENSORRT_ROOT: fakeTensorRT('trt10-skip', 10) });
    expect(run.code).toBe(0);
    expect(run.status?.reason).toMatch(/skipped \(NAVIGATOR_SKIP_TENSORRT is set\)/);
  });

  it('tells binding.gyp the folders it found, and nothing without TensorRT', () => {
    const trt = fakeTensorRT('trt10-print', 10);
    const cuda = fakeCuda();
    expect(runBuild('print', { TENSORRT_ROOT: trt, CUDA_HOME: cuda }, ['--print', 'trt_include']).stdout).toBe(path.join(trt, 'include'));
    expect(runBuild('print', { TENSORRT_ROOT: trt, CUDA_HOME: cuda }, ['--print', 'cuda_lib']).stdout).toBe(path.join(cuda, 'lib64'));
    expect(runBuild('print', { TENSORRT_ROOT: folder('empty-root') }, ['--print', 'trt_include']).stdout).toBe('');
  });

  it('exits 0 with built:false when TensorRT is found but the build fails', () => {
    const run = runBuild('fails', { TENSORRT_ROOT: fakeTensorRT('trt10', 10), CUDA_HOME: fakeCuda() });
    expect(run.code).toBe(0);
    expect(run.status?.built).toBe(false);
    // node-gyp compiles against the placeholder headers and fails; a machine without node-gyp stops earlier.
    expect(run.status?.reason).toMatch(/^TensorRT 10\.16\.1 found in .*(building the addon failed|node-gyp was not)/);
    expect(run.stdout).toMatch(/The TensorRT runner will be skipped\./);
  });
});

describe('TensorRT profiles', () => {
  it('come from the captured min/opt/max, with the batch axis from 1 to the largest batch profiled', () => {
    expect(profileFromSignature(signature, moduleConfig(16))).toEqual({
      inputs: {
        x: { min: [1, 3, 8], opt: [4, 3, 16], max: [16, 3, 32] },
        mask: { min: [1, 5], opt: [4, 5], max: [16, 5] },
      },
    });
    expect(profileFromSignature(signature, moduleConfig(undefined, [2, 32])).inputs.x.max).toEqual([32, 3, 32]);
    expect(profileFromSignature(signature, moduleConfig(undefined)).inputs.x).toEqual({ min: [1, 3, 8], opt: [4, 3, 16], max: [4, 3, 32] });
  });

  it('keep the captured shapes as they are when the module does not batch', () => {
    const unbatched = { ...signature, batching: false };
    expect(profileFromSignature(unbatched, moduleConfig(64)).inputs.x).toEqual({ min: [2, 3, 8], opt: [4, 3, 16], max: [4, 3, 32] });
  });

  it('reject captured shapes that do not fit the input', () => {
    const broken = { ...signature, inputs: [{ ...signature.inputs[0], min: [2, 3] }] };
    expect(() => profileFromSignature(broken, moduleConfig(undefined), 'unet')).toThrow(NavigatorError);
    expect(() => profileFromSignature(broken, moduleConfig(undefined), 'unet')).toThrow(/module "unet", "x"/);
  });

  const small: TensorRTProfile = { inputs: { x: { min: [1, 3, 8], opt: [1, 3, 8], max: [2, 3, 16] } } };
  const large: TensorRTProfile = { inputs: { x: { min: [1, 3, 8], opt: [8, 3, 32], max: [16, 3, 64] } } };

  it('accept the shapes within min..max on every axis', () => {
    expect(fitsProfile(small, { x: [2, 3, 16] })).toBe(true);
    expect(fitsProfile(small, { x: [3, 3, 16] })).toBe(false);
    expect(fitsProfile(small, { x: [1, 3, 4] })).toBe(false);
    expect(fitsProfile(small, { x: [1, 3] })).toBe(false);
    expect(fitsProfile(small, { y: [1, 3, 8] })).toBe(false);
  });

  it('are picked first-fit, as the addon picks them', () => {
    expect(pickProfile([small, large], { x: [1, 3, 8] })).toBe(0);
    expect(pickProfile([small, large], { x: [4, 3, 8] })).toBe(1);
    expect(pickProfile([large, small], { x: [1, 3, 8] })).toBe(0);
    expect(pickProfile([small, large], { x: [32, 3, 8] })).toBe(-1);
  });
});

function fakeInfo(deviceCount = 1): TensorRTInfo {
  return deviceCount > 0
    ? {
        tensorrtVersion: '10.16.1',
        tensorrtHeaderVersion: '10.16.1',
        cudaRuntimeVersion: '13.0',
        deviceCount,
        device: { name: 'Fake GPU', computeCapability: '9.0', totalMemoryBytes: 80e9 },
      }
    : { tensorrtVersion: '10.16.1', tensorrtHeaderVersion: '10.16.1', deviceCount: 0, cudaError: 'cudaErrorNoDevice' };
}

function fakeAddon(parts: Partial<TensorRTAddon>): LoadResult {
  const addon: TensorRTAddon = {
    info: () => fakeInfo(),
    buildEngine: () => Promise.reject(new Error('not faked')),
    Engine: class {
      constructor() {
        throw new Error('not faked');
      }
    } as unknown as TensorRTAddon['Engine'],
    ...parts,
  };
  return { addon, status: { built: true } };
}

/** A conversion context for a TensorRT format over a stand-in file (the fp32-bf16 formats never decode it). */
function conversion(name: string): ConversionContext {
  const outputDir = folder('workspace', 'unet', name);
  const source = path.join(tmp, 'model.onnx');
  write(source, 'onnx');
  return {
    module: 'unet',
    source: { format: 'onnx', path: source, precision: 'fp32', sizeBytes: 4 },
    outputDir,
    cacheDir: folder('workspace', '.cache'),
    options: {},
    signature,
    config: moduleConfig(8),
    // The TensorRT formats hand the file to TensorRT's own parser and never decode it.
    readSource: () => {
      throw new Error('not read by TensorRT formats');
    },
    samples: () => [],
    log: () => undefined,
  };
}

describe('TensorRT formats', () => {
  it('are trt-fp32, trt-tf32, trt-fp16, trt-bf16, trt-int8 and trt-fp8', () => {
    expect(tensorRTFormats.map((format) => format.name)).toEqual(['trt-fp32', 'trt-tf32', 'trt-fp16', 'trt-bf16', 'trt-int8', 'trt-fp8']);
    expect(TENSORRT_FORMAT_NAMES).toEqual(tensorRTFormats.map((format) => format.name));
    expect(tensorRTFormats.map((format) => format.precision)).toEqual(['fp32', 'tf32', 'fp16', 'bf16', 'int8', 'fp8']);
  });

  it('do not apply where the addon is unavailable, and say why', async () => {
    const loaded = loadTensorRT();
    const reason = (loaded as { unavailable: string }).unavailable;
    expect(reason).toMatch(/TENSORRT_ROOT/);
    for (const format of tensorRTFormats) {
      await expect(format.convert(conversion(format.name))).resolves.toEqual({ notApplicable: reason });
    }
  });

  it('do not apply without a CUDA device', async () => {
    const format = createTensorRTFormat('fp16', () => fakeAddon({ info: () => fakeInfo(0) }));
    const result = await format.convert(conversion('trt-fp16'));
    expect(result).toEqual({ notApplicable: expect.stringMatching(/no CUDA device is visible \(cudaErrorNoDevice\)/) });
  });

  it('build one engine from the source ONNX model with the signature profile and the workspace timing cache', async () => {
    const calls: BuildEngineOptions[] = [];
    const format = createTensorRTFormat('fp16', () =>
      fakeAddon({
        buildEngine: async (options) => {
          calls.push(options);
          fs.writeFileSync(options.enginePath, Buffer.alloc(1234));
          return { engineBytes: 1234, buildMs: 2500, profiles: options.profiles ?? [], stronglyTyped: false, networkLayers: 7, timingCacheBytes: 10, notes: [] };
        },
      }),
    );
    const context = conversion('trt-fp16');
    const result = await format.convert(context);
    const timingCache = path.join(tmp, 'workspace', '.cache', 'trt-timing-10.16.1-sm90.cache');
    expect(calls).toEqual([
      {
        onnxPath: context.source.path,
        enginePath: path.join(context.outputDir, 'model.plan'),
        timingCachePath: timingCache,
        precision: 'fp16',
        profiles: [profileFromSignature(signature, context.config)],
      },
    ]);
    expect(timingCachePath(context.cacheDir, '10.16.1', '9.0')).toBe(timingCache);
    expect(result).toEqual({
      artifact: { format: 'trt-fp16', path: path.join(context.outputDir, 'model.plan'), precision: 'fp16', sizeBytes: 1234 },
      notes: expect.stringContaining('built in 2.5 s from 7 layers'),
    });
  });

  it('do not apply when the model lacks the precision (TensorRT 11 strong typing), and fail on other errors', async () => {
    const failing = (code: string) =>
      createTensorRTFormat('bf16', () =>
        fakeAddon({ buildEngine: () => Promise.reject(Object.assign(new Error(`${code}: details`), { code })) }),
      );
    await expect(failing('TRT_PRECISION_NOT_IN_MODEL').convert(conversion('trt-bf16'))).resolves.toEqual({
      notApplicable: 'TRT_PRECISION_NOT_IN_MODEL: details',
    });
    const error = await failing('TRT_PARSE_FAILED')
      .convert(conversion('trt-bf16'))
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NavigatorError);
    expect((error as NavigatorError).message).toMatch(/module "unet", "trt-bf16": building the trt-bf16 TensorRT engine failed\n {2}Reason: TRT_PARSE_FAILED: details\n {2}Fix: /);
  });
  it('build trt-fp16 from the onnx-fp16 conversion where TensorRT takes types from the model (TensorRT 11)', async () => {
    const source = writeModel(folder('fp16-source'), 'model.onnx', mlpModel({ seed: 5 }));
    const tried: string[] = [];
    const format = createTensorRTFormat('fp16', () =>
      fakeAddon({
        // As the addon on TensorRT 11: an fp16 build of a model without float16 tensors is refused.
        buildEngine: async (options) => {
          tried.push(options.onnxPath);
          const initializers = readModel(options.onnxPath).graph?.initializer ?? [];
          if (!initializers.some((t) => t.dataType === 10)) throw Object.assign(new Error('TRT_PRECISION_NOT_IN_MODEL: no float16 tensors'), { code: 'TRT_PRECISION_NOT_IN_MODEL' });
          fs.writeFileSync(options.enginePath, Buffer.alloc(10));
          return { engineBytes: 10, buildMs: 1, profiles: options.profiles ?? [], stronglyTyped: true, networkLayers: 3, timingCacheBytes: 0, notes: [] };
        },
      }),
    );
    const logs: string[] = [];
    const context = { ...conversion('trt-fp16'), source: { format: 'onnx', path: source, precision: 'fp32' as const, sizeBytes: 1 }, readSource: () => readModel(source), log: (m: string) => logs.push(m) };
    const result = await format.convert(context);
    expect(tried).toEqual([source, path.join(context.outputDir, 'onnx-fp16', 'model.onnx')]);
    expect(result).toMatchObject({ artifact: { format: 'trt-fp16', precision: 'fp16' }, notes: expect.stringContaining('strongly typed') });
    expect(logs).toContain("TensorRT builds in the model's own types: building trt-fp16 from the onnx-fp16 conversion");
  });
});

describe('TensorRT int8 and fp8 formats', () => {
  /** x -> Q/DQ (zero point of `zeroPointType`) -> MatMul: how a model quantized ahead carries its precision. */
  function qdqModel(zeroPointType?: 'int8' | 'float8e4m3fn'): string {
    const b = new GraphBuilder('qdq', { seed: 3, opset: 19 }); // 19: float8 zero points
    const x = b.input('x', 'float32', ['batch', 4]);
    let h = x;
    if (zeroPointType) {
      const scale = b.constant('scale', new Float32Array([0.05]), []);
      const zero = zeroPointType === 'int8' ? b.constant('zero', new Int8Array([0]), [], 'int8') : b.constant('zero', new Uint8Array([0]), [], 'float8e4m3fn');
      h = b.op('DequantizeLinear', [b.op('QuantizeLinear', [x, scale, zero]), scale, zero]);
    }
    b.node('MatMul', [h, b.randomWeight('w', [4, 2])], {}, { outputs: ['y'] });
    b.output('y', 'float32', ['batch', 2]);
    return writeModel(folder('qdq', zeroPointType ?? 'none'), 'model.onnx', b.toBytes());
  }

  it('are tested on models onnxruntime runs', async () => {
    for (const type of [undefined, 'int8', 'float8e4m3fn'] as const) {
      const session = await InferenceSession.create(qdqModel(type));
      const { y } = await session.run({ x: new Tensor('float32', new Float32Array([0.1, -0.2, 0.3, 0.4]), [1, 4]) });
      expect(y.dims).toEqual([1, 2]);
      await session.release();
    }
  });

  it('name what a model lacks for int8 or fp8, and nothing when it carries it', () => {
    const plain = readModel(qdqModel());
    expect(missingQuantization(plain, 'int8')).toMatch(/^the model has no QuantizeLinear\/DequantizeLinear nodes: TensorRT builds trt-int8 only from a model quantized ahead .*ModelOpt/);
    const int8 = readModel(qdqModel('int8'));
    expect(missingQuantization(int8, 'int8')).toBeUndefined();
    expect(missingQuantization(int8, 'fp8')).toMatch(/^the model has no fp8 QuantizeLinear\/DequantizeLinear nodes/);
    const fp8 = readModel(qdqModel('float8e4m3fn'));
    expect(missingQuantization(fp8, 'fp8')).toBeUndefined();
    expect(missingQuantization(fp8, 'int8')).toMatch(/no int8 QuantizeLinear/);
  });

  it('do not apply to a model without Q/DQ nodes, before TensorRT is asked; build from one that has them', async () => {
    const built: string[] = [];
    const format = createTensorRTFormat('int8', () =>
      fakeAddon({
        buildEngine: async (options) => {
          built.push(`${options.precision} ${options.onnxPath}`);
          fs.writeFileSync(options.enginePath, Buffer.alloc(8));
          return { engineBytes: 8, buildMs: 1, profiles: options.profiles ?? [], stronglyTyped: true, networkLayers: 4, timingCacheBytes: 0, notes: [] };
        },
      }),
    );
    const contextFor = (file: string) => ({ ...conversion('trt-int8'), source: { format: 'onnx', path: file, precision: 'fp32' as const, sizeBytes: 1 }, readSource: () => readModel(file) });
    await expect(format.convert(contextFor(qdqModel()))).resolves.toEqual({ notApplicable: expect.stringMatching(/no QuantizeLinear\/DequantizeLinear nodes/) });
    expect(built).toEqual([]);
    const quantized = qdqModel('int8');
    await expect(format.convert(contextFor(quantized))).resolves.toMatchObject({ artifact: { format: 'trt-int8', precision: 'int8' } });
    expect(built).toEqual([`int8 ${quantized}`]);
  });

  it('build trt-int8 from onnx-int8-static (symmetric int8, calibrated on the recorded calls) where the model has no Q/DQ', async () => {
    const built: string[] = [];
    const format = createTensorRTFormat('int8', () =>
      fakeAddon({
        buildEngine: async (options) => {
          built.push(options.onnxPath);
          fs.writeFileSync(options.enginePath, Buffer.alloc(8));
          return { engineBytes: 8, buildMs: 1, profiles: options.profiles ?? [], stronglyTyped: true, networkLayers: 4, timingCacheBytes: 0, notes: [] };
        },
      }),
    );
    const source = writeModel(folder('int8-static-source'), 'model.onnx', mlpModel({ seed: 6 }));
    const session = await InferenceSession.create(source);
    const samples: StoredSample[] = [];
    for (let i = 0; i < 3; i++) {
      const inputs = { x: new Tensor('float32', Float32Array.from({ length: 32 }, (_, j) => Math.sin(j + i)), [2, 16]) };
      samples.push({ file: `call-${i}`, inputs, outputs: (await session.run(inputs)) as Feeds });
    }
    await session.release();
    const logs: string[] = [];
    const context = { ...conversion('trt-int8'), source: { format: 'onnx', path: source, precision: 'fp32' as const, sizeBytes: 1 }, readSource: () => readModel(source), samples: () => samples, log: (m: string) => logs.push(m) };
    await expect(format.convert(context)).resolves.toMatchObject({ artifact: { format: 'trt-int8', precision: 'int8' } });
    const quantizedPath = path.join(context.outputDir, 'onnx-int8-static', 'model.onnx');
    expect(built).toEqual([quantizedPath]);
    expect(logs).toContain('the model has no Q/DQ nodes: building trt-int8 from the onnx-int8-static conversion (calibrated on the recorded calls)');
    // TensorRT takes symmetric quantization only: every zero point is int8 0.
    const quantized = readModel(quantizedPath);
    expect(missingQuantization(quantized, 'int8')).toBeUndefined();
    const zeroPoints = quantized.graph!.initializer!.filter((t) => t.name!.includes('zero_point'));
    expect(zeroPoints.length).toBeGreaterThan(0);
    for (const t of zeroPoints) expect([...tensorToArray(t)].every((v) => Number(v) === 0) && t.dataType === 3).toBe(true);
  });
});

describe('TensorRT runner', () => {
  const sessionContext = { module: 'unet', signature, workDir: tmp };
  const artifact = { format: 'trt-fp16', path: path.join(tmp, 'model.plan'), precision: 'fp16' as const, sizeBytes: 1 };

  it('is the GPU runner of the trt-* formats with one default variant', () => {
    expect(tensorRTRunner.name).toBe('TensorRT');
    expect(tensorRTRunner.device).toBe('gpu');
    expect(formatRegistry.all().filter((format) => loads(tensorRTRunner, format)).map((format) => format.name)).toEqual(['trt-fp32', 'trt-tf32', 'trt-fp16', 'trt-bf16', 'trt-int8', 'trt-fp8']);
    expect(tensorRTRunner.variants({} as never)).toEqual([{ id: 'default', settings: {} }]);
  });

  it('is unavailable where the addon is, with the same reason, probed once', async () => {
    const loaded = loadTensorRT() as { unavailable: string };
    await expect(tensorRTRunner.availability()).resolves.toEqual({ available: false, reason: loaded.unavailable });
    expect(tensorRTRunner.availability()).toBe(tensorRTRunner.availability());
  });

  it('refuses to create a session where it is unavailable, saying how to get TensorRT', async () => {
    await expect(tensorRTRunner.createSession(artifact, { id: 'default', settings: {} }, sessionContext)).rejects.toThrow(
      /module "unet", "TensorRT": the TensorRT runner is not available on this machine\n {2}Fix: .*TENSORRT_ROOT/s,
    );
  });

  it('is unavailable when the addon loads but no GPU is visible', async () => {
    const runner = createTensorRTRunner(() => fakeAddon({ info: () => fakeInfo(0) }));
    await expect(runner.availability()).resolves.toEqual({
      available: false,
      reason: 'TensorRT 10.16.1 is built, but no CUDA device is visible (cudaErrorNoDevice)',
    });
  });

  /** An engine with a dynamic float16 input, a static int64 input and two profiles. */
  function fakeEngine(outputs: TensorRTEngine['outputs'] = [{ name: 'y', dtype: 'float32', shape: [-1, 4] }]) {
    const runs: Record<string, HostTensor>[] = [];
    let released = false;
    const engine: TensorRTEngine = {
      inputs: [
        { name: 'x', dtype: 'float16', shape: [-1, 4] },
        { name: 'ids', dtype: 'int64', shape: [2] },
      ],
      outputs,
      profiles: [
        { inputs: { x: { min: [1, 4], opt: [1, 4], max: [2, 4] }, ids: { min: [2], opt: [2], max: [2] } } },
        { inputs: { x: { min: [3, 4], opt: [8, 4], max: [8, 4] }, ids: { min: [2], opt: [2], max: [2] } } },
      ],
      run: async (inputs) => {
        runs.push(inputs);
        const rows = inputs.x.dims[0];
        return {
          y: { data: new Float32Array(rows * 4).fill(0.5), dims: [rows, 4], dtype: 'float32' },
          h: { data: new Uint16Array([0x3c00]), dims: [1], dtype: 'float16' },
        };
      },
      release: () => {
        released = true;
      },
    };
    const Engine = function (this: unknown, enginePath: string) {
      expect(enginePath).toBe(artifact.path);
      return engine;
    } as unknown as TensorRTAddon['Engine'];
    return { runs, engine, addon: () => fakeAddon({ Engine }), released: () => released };
  }

  function feeds(rows: number, xType: 'float16' | 'float32' = 'float16'): Feeds {
    const x = xType === 'float16' ? new Tensor('float16', new Uint16Array(rows * 4), [rows, 4]) : new Tensor('float32', new Float32Array(rows * 4), [rows, 4]);
    return { x, ids: new Tensor('int64', new BigInt64Array([1n, 2n]), [2]) };
  }

  it('accepts the inputs that fit a profile with the right types, and says why not otherwise', async () => {
    const fake = fakeEngine();
    const session = await createTensorRTRunner(fake.addon).createSession(artifact, { id: 'default', settings: {} }, sessionContext);
    expect(session.accepts(feeds(1))).toBe(true);
    expect(session.accepts(feeds(5))).toBe(true);
    expect(session.accepts(feeds(9))).toBe(false);
    expect(feedMismatch(fake.engine, feeds(9))).toMatch(/shapes x \[9,4\], ids \[2\] fit none of the engine's profiles \(0: x \[1,4\]\.\.\[2,4\]/);
    expect(session.accepts(feeds(1, 'float32'))).toBe(false);
    expect(feedMismatch(fake.engine, feeds(1, 'float32'))).toBe('input "x" is float32, the engine takes float16');
    expect(session.accepts({ x: feeds(1).x })).toBe(false);
    expect(session.accepts({ ...feeds(1), extra: feeds(1).x })).toBe(false);
    expect(session.accepts({ ...feeds(1), ids: new Tensor('int64', new BigInt64Array(3), [3]) })).toBe(false);
  });

  it('runs onnxruntime Tensors through the engine and returns Tensors', async () => {
    const fake = fakeEngine();
    const session = await createTensorRTRunner(fake.addon).createSession(artifact, { id: 'default', settings: {} }, sessionContext);
    const input = feeds(3);
    const outputs = await session.run(input);
    expect(fake.runs).toHaveLength(1);
    expect(fake.runs[0].x.data).toBe(input.x.data);
    expect(fake.runs[0].x.dims).toEqual([3, 4]);
    expect(fake.runs[0].ids.data).toEqual(new BigInt64Array([1n, 2n]));
    expect(outputs.y).toBeInstanceOf(Tensor);
    expect(outputs.y.type).toBe('float32');
    expect(outputs.y.dims).toEqual([3, 4]);
    expect(Array.from(outputs.y.data as Float32Array)).toEqual(new Array(12).fill(0.5));
    expect(outputs.h.type).toBe('float16');
    await expect(session.run(feeds(9))).rejects.toThrow(/module "unet", "TensorRT": the TensorRT engine cannot take these inputs/);
    expect(fake.runs).toHaveLength(1);
    await session.release();
    expect(fake.released()).toBe(true);
  });

  it('refuses engines whose tensors onnxruntime-node cannot hold, and formats it does not load', async () => {
    const fake = fakeEngine([{ name: 'y', dtype: 'bfloat16', shape: [-1, 4] }]);
    const runner = createTensorRTRunner(fake.addon);
    await expect(runner.createSession(artifact, { id: 'default', settings: {} }, sessionContext)).rejects.toThrow(
      /tensor "y" is bfloat16, which onnxruntime-node Tensors cannot hold/,
    );
    expect(fake.released()).toBe(true);
    await expect(
      runner.createSession({ ...artifact, format: 'onnx' }, { id: 'default', settings: {} }, sessionContext),
    ).rejects.toThrow(/cannot load the "onnx" format/);
  });
});
