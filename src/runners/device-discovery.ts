import { execFile, execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { errorText } from '../core/errors';
import { writeJsonAtomic } from '../workspace/atomic';

/**
 * Which GPU execution providers this machine's onnxruntime-node can really run, found by trying:
 * each provider creates and runs a one-node model in a child process with a timeout. A child
 * process rather than a worker thread, because a worker stuck inside a native call (onnxruntime
 * 1.24.3's WebGPU provider hung on GPU-less machines) cannot be terminated and then blocks the
 * process from exiting, a driver crash would take the whole process down, and the providers' native
 * log lines go to the child's stderr, where they become the reason instead of noise.
 *
 * The answer is cached per process and on disk, keyed by the onnxruntime-node install it probed (its
 * folder and version), Node.js, the driver and the environment variables that change what loads: a
 * project with its own onnxruntime-node gets its own answer, and only the first process pays.
 */

export type GpuProvider = 'webgpu' | 'cuda' | 'tensorrt';
export const GPU_PROVIDERS: readonly GpuProvider[] = ['webgpu', 'cuda', 'tensorrt'];

export interface ProviderProbe {
  available: boolean;
  /** Why not, with what to do about it; absent when available. */
  reason?: string;
  /** How long the probe took (creating the session and one run). */
  ms?: number;
}

export interface GpuInfo {
  name: string;
  /** Total memory; absent where the source of the name does not say. */
  memoryMiB?: number;
  driver?: string;
}

export interface DeviceDiscovery {
  providers: Record<GpuProvider, ProviderProbe>;
  gpus: GpuInfo[];
  /** When the probes ran; a cached answer keeps the time of the probe it came from. */
  probedAt: string;
  /** 'probe' when measured by this call, 'memory' or 'disk' when a cached answer was returned. */
  source: 'probe' | 'memory' | 'disk';
}

/** Options apply where a probe runs: the first call of a process, or one with `refresh`; later calls get the process's answer. */
export interface DiscoveryOptions {
  /** Per provider; a probe that takes longer is reported unavailable. @default 30000 */
  timeoutMs?: number;
  /** Probe again even where a cached answer exists. @default false */
  refresh?: boolean;
  /** Where the on-disk cache lives. @default NAV_DEVICE_CACHE_DIR, else <os.tmpdir()>/model-navigator-devices */
  cacheDir?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** A timed-out probe may be a slow first driver start rather than a hang: its answer is kept this long only. */
const TIMEOUT_ANSWER_TTL_MS = 10 * 60_000;

let inProcess: { key: string; answer: Promise<DeviceDiscovery> } | undefined;

/** The providers and GPUs of this machine; probed once per process and machine, then cached. */
export function discoverDevices(options: DiscoveryOptions = {}): Promise<DeviceDiscovery> {
  const context = machineContext();
  const key = cacheKey(context);
  if (!options.refresh && inProcess?.key === key) return inProcess.answer.then((answer) => ({ ...answer, source: 'memory' as const }));
  const answer = discover(context, key, options);
  inProcess = { key, answer };
  // A failed discovery (it should not fail: every probe error becomes a reason) is not kept.
  answer.catch(() => (inProcess = undefined));
  return answer;
}

/** Forgets the in-process answer (the on-disk one stays); for tests. */
export function forgetDiscoveredDevices(): void {
  inProcess = undefined;
}

/** One provider's availability in the runner interface's terms. */
export async function providerAvailability(provider: GpuProvider): Promise<{ available: true; detail?: string } | { available: false; reason: string }> {
  try {
    const devices = await discoverDevices();
    const probe = devices.providers[provider];
    if (!probe.available) return { available: false, reason: probe.reason ?? 'unavailable' };
    const gpu = devices.gpus.map(describeGpu).join(', ');
    return { available: true, detail: gpu || `${provider} provider works (GPU name unknown)` };
  } catch (error) {
    return { available: false, reason: `device discovery failed: ${errorText(error)}` };
  }
}

export function describeGpu(gpu: GpuInfo): string {
  return gpu.memoryMiB ? `${gpu.name} (${gpu.memoryMiB} MiB)` : gpu.name;
}

export interface MachineContext {
  onnxruntime: string;
  node: string;
  platform: string;
  arch: string;
  driver: string;
  bindingDir: string;
  /** Provider libraries present next to the binding, with their sizes: installing them changes the answer. */
  libraries: Record<string, number>;
  env: Record<string, string>;
}

const PROVIDER_LIBRARIES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_tensorrt.so'];
const ENV_KEYS = ['LD_LIBRARY_PATH', 'CUDA_VISIBLE_DEVICES', 'VK_DRIVER_FILES', 'VK_ICD_FILENAMES', 'VK_ADD_DRIVER_FILES'];

let ortVersion: string | undefined;

/** The installed onnxruntime-node's version, read once; 'unknown' where its package.json cannot be read. */
export function onnxruntimeVersion(): string {
  if (ortVersion === undefined) {
    try {
      ortVersion = (require('onnxruntime-node/package.json') as { version: string }).version;
    } catch {
      ortVersion = 'unknown';
    }
  }
  return ortVersion;
}

export function machineContext(): MachineContext {
  const ortRoot = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const bindingDir = path.join(ortRoot, 'bin', 'napi-v6', os.platform(), os.arch());
  const libraries: Record<string, number> = {};
  for (const name of PROVIDER_LIBRARIES) {
    const file = path.join(bindingDir, name);
    if (fs.existsSync(file)) libraries[name] = fs.statSync(file).size;
  }
  return {
    onnxruntime: onnxruntimeVersion(),
    node: process.version,
    platform: os.platform(),
    arch: os.arch(),
    driver: driverVersion(),
    bindingDir,
    libraries,
    env: Object.fromEntries(ENV_KEYS.filter((k) => process.env[k]).map((k) => [k, process.env[k] as string])),
  };
}

/** The NVIDIA kernel driver's version line, read without starting nvidia-smi; 'none' without one. */
function driverVersion(): string {
  try {
    return fs.readFileSync('/proc/driver/nvidia/version', 'utf8').split('\n')[0].trim();
  } catch {
    return 'none';
  }
}

/** The whole context, install folder included: two projects' onnxruntime-node installs can answer differently. */
export function cacheKey(context: MachineContext): string {
  return crypto.createHash('sha256').update(JSON.stringify(context)).digest('hex').slice(0, 24);
}

function cacheFile(key: string, options: DiscoveryOptions): string {
  const dir = options.cacheDir ?? process.env.NAV_DEVICE_CACHE_DIR ?? path.join(os.tmpdir(), 'model-navigator-devices');
  return path.join(dir, `devices-${key}.json`);
}

async function discover(context: MachineContext, key: string, options: DiscoveryOptions): Promise<DeviceDiscovery> {
  const file = cacheFile(key, options);
  if (!options.refresh) {
    const cached = readCached(file);
    if (cached) return { ...cached, source: 'disk' };
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const model = Buffer.from(probeModel()).toString('base64');
  const probes = await Promise.all(GPU_PROVIDERS.map((provider) => probeProvider(provider, model, context, timeoutMs)));
  const answer: DeviceDiscovery = {
    providers: Object.fromEntries(GPU_PROVIDERS.map((provider, i) => [provider, probes[i]])) as Record<GpuProvider, ProviderProbe>,
    gpus: listGpus(),
    probedAt: new Date().toISOString(),
    source: 'probe',
  };
  try {
    writeJsonAtomic(file, answer);
  } catch {
    // A read-only temp folder only costs the next process a probe.
  }
  return answer;
}

function readCached(file: string): DeviceDiscovery | undefined {
  try {
    const cached = JSON.parse(fs.readFileSync(file, 'utf8')) as DeviceDiscovery;
    if (!cached.providers || !GPU_PROVIDERS.every((p) => typeof cached.providers[p]?.available === 'boolean')) return undefined;
    const timedOut = GPU_PROVIDERS.some((p) => cached.providers[p].reason?.includes('timed out'));
    if (timedOut && Date.now() - Date.parse(cached.probedAt) > TIMEOUT_ANSWER_TTL_MS) return undefined;
    return cached;
  } catch {
    return undefined;
  }
}

/**
 * The probe: Relu over 4 floats, every node required on the provider (CPU fallback disabled), run
 * once and checked. Runs as `node -e` so it needs no compiled file (ts-jest, dist and the device
 * machine alike).
 */
const PROBE_SCRIPT = `
const ort = require(process.env.NAV_PROBE_ORT);
const provider = process.env.NAV_PROBE_PROVIDER;
(async () => {
  const started = Date.now();
  try {
    const model = Buffer.from(process.env.NAV_PROBE_MODEL, 'base64');
    const session = await ort.InferenceSession.create(model, {
      executionProviders: [{ name: provider }],
      logSeverityLevel: 3,
      extra: { session: { disable_cpu_ep_fallback: '1' } },
    });
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([-1, 2, -3, 4]), [4]) });
    const y = Array.from(out.y.data);
    await session.release();
    const ok = y.join(',') === '0,2,0,4';
    process.stdout.write(JSON.stringify({ ok, ms: Date.now() - started, error: ok ? undefined : 'wrong result ' + y.join(',') }));
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, ms: Date.now() - started, error: String(e && e.message || e) }));
  }
})();
`;

/** `model`: probeModel() in base64. */
function probeProvider(provider: GpuProvider, model: string, context: MachineContext, timeoutMs: number): Promise<ProviderProbe> {
  const started = Date.now();
  const env = { ...process.env, NAV_PROBE_ORT: require.resolve('onnxruntime-node'), NAV_PROBE_PROVIDER: provider, NAV_PROBE_MODEL: model };
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', PROBE_SCRIPT], { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20 }, (error, stdout, stderr) => {
      const ms = Date.now() - started;
      let result: { ok: boolean; error?: string } | undefined;
      try {
        result = JSON.parse(stdout);
      } catch {
        result = undefined;
      }
      if (result?.ok) return resolve({ available: true, ms });
      const killed = error && (error as { killed?: boolean }).killed;
      const failure = killed
        ? `the probe timed out after ${timeoutMs} ms (a provider that hangs while starting); raise DiscoveryOptions.timeoutMs or fix the driver set-up`
        : result?.error ?? `the probe process failed (${error ? errorText(error).split('\n')[0] : 'no output'})`;
      resolve({ available: false, reason: explainFailure(provider, failure, String(stderr), context), ms });
    });
  });
}

/** The failure in words, with the remedy: onnxruntime's own messages say what failed but not what to do. */
export function explainFailure(provider: GpuProvider, failure: string, stderr: string, context: Pick<MachineContext, 'bindingDir' | 'libraries' | 'platform' | 'arch' | 'onnxruntime'>): string {
  const detail = firstLine(failure);
  if (provider === 'webgpu') {
    if (/No supported adapters|Failed to get a WebGPU adapter/i.test(failure)) {
      const vulkan = /libvulkan\.so\.1/.test(stderr) ? ' (libvulkan.so.1 is not installed)' : '';
      return `onnxruntime-node's WebGPU provider found no GPU adapter${vulkan}: it runs on Vulkan on Linux, so it needs a GPU, its Vulkan driver and the Vulkan loader (libvulkan1); install them (e.g. \`apt-get install libvulkan1 mesa-vulkan-drivers\`, or the GPU vendor's Vulkan driver). onnxruntime said: ${detail}`;
    }
    return `onnxruntime-node's WebGPU provider failed to run a one-node model: ${detail}`;
  }
  const label = provider === 'cuda' ? 'CUDA' : 'TensorRT';
  if (`${context.platform}/${context.arch}` !== 'linux/x64') {
    return `onnxruntime-node ships its ${label} provider for linux/x64 only, not ${context.platform}/${context.arch}`;
  }
  const needed = ['libonnxruntime_providers_shared.so', provider === 'cuda' ? 'libonnxruntime_providers_cuda.so' : 'libonnxruntime_providers_tensorrt.so'];
  const missing = needed.filter((name) => context.libraries[name] === undefined);
  if (missing.length > 0) {
    return (
      `onnxruntime-node's ${label} provider libraries are not installed (${missing.join(', ')} missing from ${context.bindingDir}). ` +
      `onnxruntime-node's install script downloads them (Microsoft.ML.OnnxRuntime.Gpu.Linux ${context.onnxruntime}, CUDA 12 build) unless the install skipped it ` +
      `(onnxruntime-node-install=skip in an .npmrc, or no network). Fix: on a machine that reaches api.nuget.org, run ` +
      `\`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --foreground-scripts\`, ` +
      `with the CUDA 12 and cuDNN 9 runtime libraries installed${provider === 'tensorrt' ? ' and TensorRT 10 (libnvinfer.so.10)' : ''}. onnxruntime said: ${detail}`
    );
  }
  const loadError = /Failed to load library[^\n]*with error: ([^\n]*)/.exec(stderr)?.[1] ?? /(lib[\w.+-]+\.so[.\d]*): cannot open shared object file/.exec(stderr)?.[0];
  if (loadError || /Failed to load shared library/i.test(failure)) {
    const system = provider === 'cuda' ? 'the CUDA 12 runtime (libcudart, libcublas, libcufft, libcurand) and cuDNN 9' : 'TensorRT 10 (libnvinfer.so.10), the CUDA 12 runtime and cuDNN 9';
    return `onnxruntime-node's ${label} provider is installed but cannot be loaded${loadError ? `: ${firstLine(loadError)}` : ''}. Fix: install ${system} and put their folders on LD_LIBRARY_PATH. onnxruntime said: ${detail}`;
  }
  return `onnxruntime-node's ${label} provider failed to run a one-node model: ${detail}`;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0].replace(/^\/onnxruntime_src\/\S+ /, '').slice(0, 400);
}

/** GPUs from nvidia-smi, else the NVIDIA driver's /proc entries (names only); none without either. */
export function listGpus(): GpuInfo[] {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    return out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name, memory, driver] = line.split(',').map((s) => s.trim());
        return { name, memoryMiB: Number(memory) || undefined, driver };
      });
  } catch {
    // No nvidia-smi: fall through.
  }
  try {
    const root = '/proc/driver/nvidia/gpus';
    return fs.readdirSync(root).flatMap((bus) => {
      const info = fs.readFileSync(path.join(root, bus, 'information'), 'utf8');
      const name = /^Model:\s*(.+)$/m.exec(info)?.[1]?.trim();
      return name ? [{ name }] : [];
    });
  } catch {
    return [];
  }
}

/**
 * A one-node ONNX model (Relu over float32[4], opset 17, IR 8), encoded by hand: the probe must not
 * depend on the rest of the package, and the protobuf is small enough to write out.
 */
export function probeModel(): Uint8Array {
  const varint = (n: number): number[] => {
    const out: number[] = [];
    while (n > 127) {
      out.push((n & 127) | 128);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  const bytes = (field: number, body: number[]): number[] => [...varint((field << 3) | 2), ...varint(body.length), ...body];
  const int = (field: number, value: number): number[] => [...varint(field << 3), ...varint(value)];
  const text = (s: string): number[] => [...Buffer.from(s, 'utf8')];
  // ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1 (FLOAT), shape=2: {dim=1: {dim_value=1}}}}}
  const valueInfo = (name: string) => [...bytes(1, text(name)), ...bytes(2, bytes(1, [...int(1, 1), ...bytes(2, bytes(1, int(1, 4)))]))];
  const node = [...bytes(1, text('x')), ...bytes(2, text('y')), ...bytes(4, text('Relu'))];
  const graph = [...bytes(1, node), ...bytes(2, text('probe')), ...bytes(11, valueInfo('x')), ...bytes(12, valueInfo('y'))];
  const opset = [...bytes(1, []), ...int(2, 17)];
  return Uint8Array.from([...int(1, 8), ...bytes(8, opset), ...bytes(7, graph)]);
}

/** The environment's `devices` entry: stable values only, since it is part of the cache key of results. */
export function devicesSummary(devices: DeviceDiscovery): Record<string, unknown> {
  return {
    providers: Object.fromEntries(GPU_PROVIDERS.map((p) => [p, devices.providers[p].available])),
    gpus: devices.gpus.map(describeGpu),
  };
}
