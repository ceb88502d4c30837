import type { InferenceSession } from 'onnxruntime-node';
import { providerAvailability } from './device-discovery';
import { configEntries, createOrtSession } from './ort-session';
import type { Runner, RunnerName, RunnerVariant } from './runner';

/**
 * onnxruntime's CUDA execution provider. onnxruntime-node 1.30 passes it `deviceId` and nothing else
 * (no CUDA graphs, no memory limit, no IO binding), so there is one variant: the provider's defaults.
 * Its libraries are not in the npm package: `availability()` says how to install them.
 */
export const onnxCudaRunner: Runner = gpuProviderRunner('OnnxCUDA', 'cuda');

/**
 * A runner on onnxruntime's CUDA or TensorRT provider: both take only a device id from Node, so they
 * differ in nothing but the provider's name.
 */
export function gpuProviderRunner(name: RunnerName, provider: 'cuda' | 'tensorrt'): Runner {
  return {
    name,
    device: 'gpu',
    formats: ['onnx', 'onnx-fp16', 'onnx-static'],
    availability: () => providerAvailability(provider),
    variants: (): RunnerVariant[] => [{ id: 'default', settings: {} }],
    createSession: (artifact, variant) => createOrtSession(artifact, gpuProviderSessionOptions(provider, variant.settings)),
  };
}

/** SessionOptions for the CUDA or TensorRT provider: `deviceId` (default 0) and config entries (dotted keys). */
export function gpuProviderSessionOptions(name: 'cuda' | 'tensorrt', settings: RunnerVariant['settings']): InferenceSession.SessionOptions {
  const deviceId = typeof settings.deviceId === 'number' ? settings.deviceId : 0;
  return { executionProviders: [{ name, deviceId }], extra: configEntries(settings) };
}
