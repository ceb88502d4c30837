import { Tensor } from 'onnxruntime-node';
import { loadTensorRT, probeTensorRT, type HostTensor, type LoadResult, type TensorRTEngine, type TensorRTProfile } from '../../native';
import { NavigatorError, errorText } from '../core/errors';
import { RUNNER_KINDS, type ModelArtifact } from '../core/plugin';
import { TENSORRT_FORMAT_NAMES } from '../formats/tensorrt-engine';
import type { Availability, Runner, RunnerSession, RunnerVariant, SessionContext } from '../core/plugin';
import type { Feeds } from '../core/feeds';

/** The element types that onnxruntime-node Tensors and the addon both carry. */
const TENSOR_TYPES: ReadonlySet<string> = new Set(['float32', 'float16', 'int8', 'uint8', 'int32', 'int64', 'bool']);

/** Whether each input the profile names has a shape within its min..max; inputs it does not name are static. */
export function fitsProfile(profile: TensorRTProfile, shapes: Record<string, readonly number[]>): boolean {
  return Object.entries(profile.inputs).every(([name, range]) => {
    const shape = shapes[name];
    return (
      shape !== undefined &&
      shape.length === range.min.length &&
      shape.every((size, axis) => size >= range.min[axis] && size <= range.max[axis])
    );
  });
}

/** The index of the first profile the shapes fit, as the addon picks it; -1 when none does. */
export function pickProfile(profiles: readonly TensorRTProfile[], shapes: Record<string, readonly number[]>): number {
  return profiles.findIndex((profile) => fitsProfile(profile, shapes));
}

function rangesText(profiles: readonly TensorRTProfile[]): string {
  return profiles
    .map((profile, index) => {
      const ranges = Object.entries(profile.inputs).map(([name, r]) => `${name} [${r.min}]..[${r.max}]`);
      return `${index}: ${ranges.join(', ')}`;
    })
    .join('; ');
}

/** Why the engine cannot take these feeds, or undefined when it can; `names` are the engine's input names. */
export function feedMismatch(
  engine: Pick<TensorRTEngine, 'inputs' | 'profiles'>,
  feeds: Feeds,
  names: ReadonlySet<string> = new Set(engine.inputs.map((input) => input.name)),
): string | undefined {
  const extra = Object.keys(feeds).find((name) => !names.has(name));
  if (extra !== undefined) return `"${extra}" is not an input of the engine (its inputs: ${[...names].join(', ')})`;
  for (const input of engine.inputs) {
    const feed = feeds[input.name];
    if (feed === undefined) return `input "${input.name}" is missing`;
    if (feed.type !== input.dtype) return `input "${input.name}" is ${feed.type}, the engine takes ${input.dtype}`;
    const fixed = feed.dims.length === input.shape.length && input.shape.every((size, axis) => size < 0 || size === feed.dims[axis]);
    if (!fixed) return `input "${input.name}" has shape [${feed.dims}], the engine takes [${input.shape}] (-1: any size)`;
  }
  const shapes = Object.fromEntries(Object.entries(feeds).map(([name, tensor]) => [name, tensor.dims]));
  if (pickProfile(engine.profiles, shapes) < 0) {
    const given = Object.entries(shapes).map(([name, dims]) => `${name} [${dims}]`);
    return `shapes ${given.join(', ')} fit none of the engine's profiles (${rangesText(engine.profiles)})`;
  }
  return undefined;
}

/** The addon's view of an onnxruntime Tensor: float16 as raw Uint16 bits, whichever array holds it. */
function hostTensor(tensor: Tensor): HostTensor {
  const data = tensor.data;
  if (tensor.type === 'float16' && !(data instanceof Uint16Array)) {
    const view = data as unknown as ArrayBufferView & { length: number };
    return { data: new Uint16Array(view.buffer, view.byteOffset, view.length), dims: tensor.dims };
  }
  return { data: data as HostTensor['data'], dims: tensor.dims };
}

class TensorRTSession implements RunnerSession {
  /** The addon builds these arrays on every read: read them once, since accepts() runs on every call. */
  private readonly io: Pick<TensorRTEngine, 'inputs' | 'profiles'>;
  private readonly inputNames: ReadonlySet<string>;

  constructor(
    private readonly engine: TensorRTEngine,
    private readonly module: string,
  ) {
    this.io = { inputs: engine.inputs, profiles: engine.profiles };
    this.inputNames = new Set(this.io.inputs.map((input) => input.name));
  }

  accepts(feeds: Feeds): boolean {
    return feedMismatch(this.io, feeds, this.inputNames) === undefined;
  }

  async run(feeds: Feeds): Promise<Feeds> {
    // Checked again here (a cheap look at names and shapes) so that a direct run() gets the error that names the module.
    const mismatch = feedMismatch(this.io, feeds, this.inputNames);
    if (mismatch !== undefined) {
      throw new NavigatorError(`the TensorRT engine cannot take these inputs: ${mismatch}`, {
        module: this.module,
        subject: 'TensorRT',
        fix: 'call accepts() first and use another runner for these inputs, or capture shapes that cover them and rebuild',
      });
    }
    const inputs: Record<string, HostTensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) inputs[name] = hostTensor(tensor);
    const outputs = await this.engine.run(inputs);
    const result: Feeds = {};
    for (const [name, output] of Object.entries(outputs)) {
      result[name] = new Tensor(output.dtype as Tensor.Type, output.data, output.dims);
    }
    return result;
  }

  async release(): Promise<void> {
    this.engine.release();
  }
}

async function probe(load: () => LoadResult): Promise<Availability> {
  try {
    const probed = probeTensorRT(load);
    if ('unavailable' in probed) return { available: false, reason: probed.unavailable };
    const info = probed.info;
    if (info.deviceCount === 0 || !info.device) {
      return {
        available: false,
        reason: `TensorRT ${info.tensorrtVersion} is built, but no CUDA device is visible (${info.cudaError ?? 'none found'})`,
      };
    }
    return {
      available: true,
      detail: `TensorRT ${info.tensorrtVersion}, CUDA ${info.cudaRuntimeVersion ?? '?'}, ${info.device.name} (sm ${info.device.computeCapability})`,
    };
  } catch (error) {
    return { available: false, reason: `the TensorRT addon loaded, but info() failed: ${errorText(error)}` };
  }
}

/** The TensorRT runner over the addon; `load` is replaceable for tests. */
export function createTensorRTRunner(load: () => LoadResult = loadTensorRT): Runner {
  let availability: Promise<Availability> | undefined;
  const runner: Runner = {
    name: 'TensorRT',
    kinds: [RUNNER_KINDS.tensorrtEngine],
    device: 'gpu',
    availability: () => (availability ??= probe(load)),
    variants: (): RunnerVariant[] => [{ id: 'default', settings: {} }],
    async createSession(artifact: ModelArtifact, _variant: RunnerVariant, context: SessionContext): Promise<RunnerSession> {
      if (!TENSORRT_FORMAT_NAMES.includes(artifact.format)) {
        throw new NavigatorError(`the TensorRT runner cannot load the "${artifact.format}" format`, {
          module: context.module,
          subject: artifact.path,
          fix: `give it one of: ${TENSORRT_FORMAT_NAMES.join(', ')}`,
        });
      }
      const available = await runner.availability();
      const loaded = available.available ? probeTensorRT(load) : undefined;
      if (!loaded || 'unavailable' in loaded) {
        throw new NavigatorError('the TensorRT runner is not available on this machine', {
          module: context.module,
          subject: 'TensorRT',
          fix: `${available.available ? 'see docs/tensorrt.md' : available.reason}; or leave TensorRT out of runners`,
        });
      }
      let engine: TensorRTEngine;
      try {
        engine = new loaded.addon.Engine(artifact.path);
      } catch (error) {
        throw new NavigatorError('loading the TensorRT engine failed', {
          module: context.module,
          subject: artifact.path,
          fix: 'rebuild the engine with this TensorRT version and GPU (delete the trt-* folders of the workspace)',
          cause: error,
        });
      }
      const unsupported = [...engine.inputs, ...engine.outputs].find((tensor) => !TENSOR_TYPES.has(tensor.dtype));
      if (unsupported !== undefined) {
        engine.release();
        throw new NavigatorError(`tensor "${unsupported.name}" is ${unsupported.dtype}, which onnxruntime-node Tensors cannot hold`, {
          module: context.module,
          subject: artifact.path,
          fix: 'give the model float32 or float16 inputs and outputs',
        });
      }
      return new TensorRTSession(engine, context.module);
    },
  };
  return runner;
}

export const tensorRTRunner: Runner = createTensorRTRunner();
