import type { InferenceSession } from 'onnxruntime-node';
import type { ModuleSignature } from '../core/signature';
import { RUNNER_KINDS, type ModelArtifact } from '../core/plugin';
import { providerAvailability } from './device-discovery';
import { guardGpuOutputs, unwrapGpuInputs } from './gpu-resident';
import { configEntries, createOrtSession } from './ort-session';
import type { Runner, RunnerSession, RunnerVariant, SessionContext, VariantContext } from '../core/plugin';

/** Session config entry that turns WebGPU graph capture on (the `enableGraphCapture` session option is ignored by the Node binding). */
export const WEBGPU_GRAPH_CAPTURE = 'ep.webgpuexecutionprovider.enableGraphCapture';
/**
 * Variant setting, set at bind time only: comma-separated output names whose tensors stay on the GPU
 * (`preferredOutputLocation: 'gpu-buffer'`) because only other WebGPU modules consume them. Never
 * set while checking or profiling: gpu-buffer outputs cannot be read back in Node.
 */
export const GPU_OUTPUTS = 'gpuOutputs';

/** WebGPU provider options a variant may set; the provider throws on any other key. */
const PROVIDER_OPTION_KEYS = ['preferredLayout', 'validationMode', 'enableRobustness', 'storageBufferCacheMode', 'uniformBufferCacheMode', 'queryResolveBufferCacheMode', 'defaultBufferCacheMode'] as const;

/**
 * onnxruntime's WebGPU execution provider (Dawn on Vulkan under Linux), the GPU provider that
 * onnxruntime-node ships in its npm package. Variants: the provider's defaults (NHWC layout for
 * convolutions), NCHW layout, and graph capture where every call has one input shape.
 */
export const onnxWebGpuRunner: Runner = {
  name: 'OnnxWebGPU',
  kinds: [RUNNER_KINDS.onnxruntime, RUNNER_KINDS.onnxruntimeGpu],
  device: 'gpu',

  availability() {
    return providerAvailability('webgpu');
  },

  variants(context: VariantContext): RunnerVariant[] {
    return webgpuVariants(context.signature, context.artifact);
  },

  createSession(artifact, variant, context) {
    return createWebGpuSession(artifact, variant, context);
  },
};

/**
 * The settings worth profiling. The provider's default layout is NHWC (it transposes around
 * layout-sensitive ops such as Conv); NCHW avoids the transposes where they cost more than they
 * save. Graph capture replays the recorded GPU commands instead of dispatching each kernel, but a
 * captured graph is only valid for the shapes it was captured with, so it is offered only when
 * every captured call had the same input shapes (or the format fixed them).
 */
export function webgpuVariants(signature: ModuleSignature, artifact: Pick<ModelArtifact, 'fixedShapes'>): RunnerVariant[] {
  const variants: RunnerVariant[] = [
    { id: 'default', settings: {} },
    { id: 'nchw', settings: { preferredLayout: 'NCHW' } },
  ];
  if (staticShapes(signature, artifact)) {
    variants.push({ id: 'graph-capture', settings: { [WEBGPU_GRAPH_CAPTURE]: '1' } });
  }
  return variants;
}

/** The one input shape per input that every call used (or the artifact's fixed shapes); undefined when calls varied. */
export function staticShapes(signature: ModuleSignature, artifact: Pick<ModelArtifact, 'fixedShapes'>): Record<string, number[]> | undefined {
  if (artifact.fixedShapes) return artifact.fixedShapes;
  const shapes: Record<string, number[]> = {};
  for (const input of signature.inputs) {
    if (input.min.some((size, axis) => size !== input.max[axis])) return undefined;
    shapes[input.name] = [...input.min];
  }
  return shapes;
}

/** SessionOptions for a variant's settings: provider options, config entries (dotted keys) and GPU-resident outputs. */
export function webgpuSessionOptions(settings: RunnerVariant['settings']): InferenceSession.SessionOptions {
  const provider: Record<string, unknown> = { name: 'webgpu' };
  for (const key of PROVIDER_OPTION_KEYS) if (settings[key] !== undefined) provider[key] = settings[key];
  const options: InferenceSession.SessionOptions = {
    executionProviders: [provider as unknown as InferenceSession.ExecutionProviderConfig],
    extra: configEntries(settings),
  };
  const gpuOutputs = typeof settings[GPU_OUTPUTS] === 'string' ? String(settings[GPU_OUTPUTS]).split(',').filter(Boolean) : [];
  if (gpuOutputs.length > 0) options.preferredOutputLocation = Object.fromEntries(gpuOutputs.map((name) => [name, 'gpu-buffer' as const]));
  return options;
}

/** Whether a variant's settings turn graph capture on. */
export function capturesGraph(settings: RunnerVariant['settings']): boolean {
  return String(settings[WEBGPU_GRAPH_CAPTURE] ?? '0') === '1';
}

async function createWebGpuSession(artifact: ModelArtifact, variant: RunnerVariant, context: SessionContext): Promise<RunnerSession> {
  // A captured graph only replays the shapes it was captured with: other shapes go to the source.
  const fixed = capturesGraph(variant.settings) ? staticShapes(context.signature, artifact) : artifact.fixedShapes;
  const options = webgpuSessionOptions(variant.settings);
  const session = await createOrtSession({ ...artifact, fixedShapes: fixed }, options);
  // Only sessions that keep outputs on the GPU need them guarded; any WebGPU session's inputs may be another's such outputs.
  if (options.preferredOutputLocation) return guardGpuOutputs(session, context.module);
  return { ...session, run: (feeds) => session.run(unwrapGpuInputs(feeds)) };
}
