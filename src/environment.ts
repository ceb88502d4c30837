import * as crypto from 'crypto';
import * as os from 'os';
import type { Environment } from './core/status';
import { devicesSummary, discoverDevices, onnxruntimeVersion } from './runners/device-discovery'; // [gpu runners]; onnxruntimeVersion lives there (read once for both) since an import back from it would be a cycle

let cached: Environment | undefined;

export function currentEnvironment(): Environment {
  cached ??= {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: os.platform(),
    arch: os.arch(),
    node: process.version,
    onnxruntime: onnxruntimeVersion(),
  };
  return cached;
}

/** What a cached result depends on: a result measured on other hardware or software is not reused. */
export function environmentKey(env: Environment): string {
  const { cpu, cores, platform, arch, node, onnxruntime, devices } = env;
  return crypto.createHash('sha256').update(JSON.stringify({ cpu, cores, platform, arch, node, onnxruntime, devices })).digest('hex');
}

// [gpu runners] The environment with the GPUs and GPU providers found by device discovery (probed
// once per machine, then cached). Async, so currentEnvironment() stays synchronous; a result
// measured where discovery found other devices is then not reused.
export async function environmentWithDevices(): Promise<Environment> {
  return { ...currentEnvironment(), devices: devicesSummary(await discoverDevices()) };
}
