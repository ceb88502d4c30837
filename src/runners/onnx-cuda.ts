import type { InferenceSession } from 'onnxruntime-node';
import { providerAvailability } from './device-discovery';
import { configEntries, createOrtSession } from './ort-session';
import { RUNNER_KINDS, type Runner, type RunnerVariant } from '../core/plugin';

/**
 * onnxruntime's CUDA execution provider. onnxruntime-node 1.30 passes it `deviceId` and nothing else
 * (no CUDA graphs, no memory limit, no IO binding), so there is one variant: the provider's defaults.
 * Its libraries are not in the npm package: `availability()` says how to install them.
 */
export const onnxCudaRunner: Runner<GpuProviderSettings> = gpuProviderRunner('OnnxCUDA', 'cuda');

/** The one setting onnxruntime-node passes to its CUDA and TensorRT providers. */
export type GpuProviderSettings = { deviceId?: number };

/**
 * A runner on onnxruntime's CUDA or TensorRT provider: both take only a device id from Node, so they
 * differ in nothing but the provider's name.
 */
export function gpuProviderRunner(name: string, provider: 'cuda' | 'tensorrt'): Runner<GpuProviderSettings> {
  return {
    name,
    kinds: [RUNNER_KINDS.onnxruntime, RUNNER_KINDS.onnxruntimeGpu],
    device: 'gpu',
    availability: () => providerAvailability(provider),
    variants: (): RunnerVariant<GpuProviderSettings>[] => [{ id: 'default', settings: {} }],
    createSession: (artifact, variant) => createOrtSession(artifact, gpuProviderSessionOptions(provider, variant.settings)),
  };
}

/** SessionOptions for the CUDA or TensorRT provider: `deviceId` (default 0) and config entries (dotted keys). */
export function gpuProviderSessionOptions(name: 'cuda' | 'tensorrt', settings: GpuProviderSettings): InferenceSession.SessionOptions {
  const deviceId = typeof settings.deviceId === 'number' ? settings.deviceId : 0;
  return { executionProviders: [{ name, deviceId }], extra: configEntries(settings as RunnerVariant['settings']) };
}
