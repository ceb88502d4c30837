/**
 * Device discovery on the machine the tests run on. CI has no GPU: every GPU provider must come out
 * unavailable, with a reason that says what failed and what to do, in bounded time; the answer is
 * then cached in the process and on disk.
 */
import * as fs from 'fs';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { currentEnvironment, environmentKey, environmentWithDevices } from '../../src/environment';
import {
  GPU_PROVIDERS,
  cacheKey,
  discoverDevices,
  explainFailure,
  forgetDiscoveredDevices,
  listGpus,
  machineContext,
  probeModel,
  providerAvailability,
} from '../../src/runners/device-discovery';
import { tempDir } from '../helpers/models';

/**
 * This file's own disk cache, empty at the start: the tests that check probing and the disk cache
 * name it. Calls without a cacheDir use the run's shared cache (NAV_DEVICE_CACHE_DIR, set by
 * test/global-setup.js), which other files may have filled already; nothing below depends on that.
 */
const cacheDir = tempDir('nav-devices-');
/** nvidia-smi or the NVIDIA driver: on such a machine the providers may work, elsewhere they cannot. */
const hasGpu = listGpus().length > 0;

afterAll(() => {
  forgetDiscoveredDevices();
});

describe('device discovery', () => {
  it('probes webgpu, cuda and tensorrt by running a one-node model, in bounded time', async () => {
    forgetDiscoveredDevices();
    const started = Date.now();
    const devices = await discoverDevices({ refresh: true, cacheDir, timeoutMs: 30_000 });
    // The probes run in parallel child processes: well under the per-probe timeout.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(devices.source).toBe('probe');
    expect(Object.keys(devices.providers).sort()).toEqual([...GPU_PROVIDERS].sort());
    if (hasGpu) return expect(devices.gpus[0].name).toMatch(/\w/);
    expect(devices.gpus).toEqual([]);
    for (const provider of GPU_PROVIDERS) {
      expect(devices.providers[provider].available).toBe(false);
      expect(devices.providers[provider].ms).toBeGreaterThan(0);
    }
    expect(devices.providers.webgpu.reason).toMatch(/WebGPU provider found no GPU adapter.*Vulkan.*onnxruntime said: .*adapter/);
    expect(devices.providers.cuda.reason).toMatch(/CUDA provider libraries are not installed \(libonnxruntime_providers_shared\.so, libonnxruntime_providers_cuda\.so missing/);
    expect(devices.providers.cuda.reason).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/);
    expect(devices.providers.tensorrt.reason).toMatch(/TensorRT provider libraries are not installed.*libonnxruntime_providers_tensorrt\.so.*TensorRT 10/);
  });

  it('answers a second call from the process, and a new process from the disk cache', async () => {
    const first = await discoverDevices({ cacheDir });
    let started = performance.now();
    const again = await discoverDevices({ cacheDir });
    expect(performance.now() - started).toBeLessThan(50);
    expect(again.source).toBe('memory');
    expect(again.providers).toEqual(first.providers);

    forgetDiscoveredDevices(); // as a fresh process would start
    started = performance.now();
    const fromDisk = await discoverDevices({ cacheDir });
    expect(performance.now() - started).toBeLessThan(200);
    expect(fromDisk.source).toBe('disk');
    expect(fromDisk.providers).toEqual(first.providers);
    const files = fs.readdirSync(cacheDir);
    expect(files).toEqual([expect.stringMatching(/^devices-[0-9a-f]{24}\.json$/)]);
  });

  it('reports a probe that does not finish in time as unavailable, naming the timeout', async () => {
    // A cache of its own, so that the timed-out answer reaches neither cacheDir nor the shared cache.
    const slowDir = tempDir('nav-devices-slow-');
    const started = Date.now();
    // 1 ms: the child process cannot even start onnxruntime, as if the provider hung.
    const devices = await discoverDevices({ refresh: true, cacheDir: slowDir, timeoutMs: 1 });
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const provider of GPU_PROVIDERS) {
      expect(devices.providers[provider]).toMatchObject({ available: false, reason: expect.stringMatching(/the probe timed out after 1 ms/) });
    }
    forgetDiscoveredDevices();
  });

  it('gives runners their availability with the reason', async () => {
    for (const provider of GPU_PROVIDERS) {
      const availability = await providerAvailability(provider);
      if (!hasGpu) expect(availability.available).toBe(false);
      if (availability.available) expect(availability.detail).toMatch(/\w/);
      else expect(availability.reason).toMatch(new RegExp(`${provider === 'webgpu' ? 'WebGPU' : provider === 'cuda' ? 'CUDA' : 'TensorRT'} provider`));
    }
  });

  it('says what to do when a provider is installed but its system libraries are missing', () => {
    const context = { bindingDir: '/ort/bin', platform: 'linux', arch: 'x64', onnxruntime: '1.30.0', libraries: { 'libonnxruntime_providers_shared.so': 1, 'libonnxruntime_providers_cuda.so': 1, 'libonnxruntime_providers_tensorrt.so': 1 } };
    const stderr = 'Failed to load library /ort/bin/libonnxruntime_providers_cuda.so with error: libcudnn.so.9: cannot open shared object file: No such file or directory\n';
    const cuda = explainFailure('cuda', 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library', stderr, context);
    expect(cuda).toMatch(/CUDA provider is installed but cannot be loaded: libcudnn\.so\.9: cannot open shared object file/);
    expect(cuda).toMatch(/Fix: install the CUDA 12 runtime .* and cuDNN 9 .*LD_LIBRARY_PATH/);
    const trt = explainFailure('tensorrt', 'OrtSessionOptionsAppendExecutionProvider_TensorRT: Failed to load shared library', 'libnvinfer.so.10: cannot open shared object file', context);
    expect(trt).toMatch(/TensorRT provider is installed but cannot be loaded: libnvinfer\.so\.10.*Fix: install TensorRT 10/);
    expect(explainFailure('cuda', 'x', '', { ...context, platform: 'darwin', arch: 'arm64' })).toMatch(/linux\/x64 only, not darwin\/arm64/);
  });

  it('probes with a valid one-node model', async () => {
    const session = await InferenceSession.create(probeModel());
    const out = await session.run({ x: new Tensor('float32', Float32Array.from([-1, 2, -3, 4]), [4]) });
    expect(Array.from(out.y.data as Float32Array)).toEqual([0, 2, 0, 4]);
    await session.release();
  });

  it('adds the devices to the environment, keeping currentEnvironment() as it was', async () => {
    const plain = currentEnvironment();
    const env = await environmentWithDevices();
    expect(plain.devices).toBeUndefined();
    expect(env).toMatchObject({ ...plain, devices: { providers: { webgpu: hasGpu ? expect.any(Boolean) : false, cuda: expect.any(Boolean), tensorrt: expect.any(Boolean) }, gpus: expect.any(Array) } });
    // Results measured where discovery found other devices are not reused.
    expect(environmentKey(env)).not.toBe(environmentKey(plain));
    expect(environmentKey(await environmentWithDevices())).toBe(environmentKey(env));
  });
});

describe('the on-disk answer', () => {
  it('is keyed by the onnxruntime-node install it probed: its folder and version', () => {
    const context = machineContext();
    expect(context.bindingDir).toContain('onnxruntime-node');
    expect(cacheKey({ ...context, bindingDir: '/another/project/node_modules/onnxruntime-node/bin' })).not.toBe(cacheKey(context));
    expect(cacheKey({ ...context, onnxruntime: '0.0.1' })).not.toBe(cacheKey(context));
    expect(cacheKey({ ...context })).toBe(cacheKey(context));
  });

  it('explains a missing provider without notes about this repository', () => {
    const context = { bindingDir: '/ort/bin', platform: 'linux', arch: 'x64', onnxruntime: '1.30.0', libraries: {} };
    for (const provider of GPU_PROVIDERS) {
      const reason = explainFailure(provider, 'Failed to load shared library; No supported adapters', 'libvulkan.so.1: cannot open', context);
      expect(reason).not.toMatch(/this project|\.device\/setup\.sh|lent GPU machine/);
    }
  });
});
