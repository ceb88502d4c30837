import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { NavigatorError } from '../core/errors';
import type { Feeds } from '../core/feeds';
import type { ModuleSignature } from '../core/signature';

/** The names and metadata `InferenceSession` exposes. */
export interface ModelIO {
  inputNames: readonly string[];
  outputNames: readonly string[];
  inputMetadata: readonly InferenceSession.ValueMetadata[];
  outputMetadata: readonly InferenceSession.ValueMetadata[];
}

/** The output names `run(feeds, fetches)` may ask for. */
export type OutputNames<Out> = Out extends Feeds ? keyof Out & string : string;

/** What `run(feeds, fetches)` returns: the fetched outputs (a mapped module's `Out` as its mapping makes it). */
export type Fetched<Out, K> = Out extends Feeds ? Pick<Out, K & keyof Out> : Out;

/** `run`'s optional arguments as given: (options), (fetches), or (fetches, options). */
export type RunArgs = [InferenceSession.FetchesType | InferenceSession.RunOptions | undefined, InferenceSession.RunOptions | undefined];

type Fetches = readonly string[] | InferenceSession.NullableOnnxValueMapType;

/** A loaded session's names and metadata; or, for a module whose model is not loaded, what capture saw (dynamic axes named `d<axis>`). */
export function metadataOf(source: InferenceSession | ModuleSignature): ModelIO {
  if ('inputNames' in source) {
    const { inputNames, outputNames, inputMetadata, outputMetadata } = source;
    return { inputNames, outputNames, inputMetadata, outputMetadata };
  }
  const meta = (specs: ModuleSignature['inputs']): InferenceSession.ValueMetadata[] =>
    specs.map((s) => ({ name: s.name, isTensor: true, type: s.dtype as Tensor.Type, shape: s.shape.map((size, axis) => size ?? `d${axis}`) }));
  return { inputNames: source.inputs.map((s) => s.name), outputNames: source.outputs.map((s) => s.name), inputMetadata: meta(source.inputs), outputMetadata: meta(source.outputs) };
}

/** Tells fetches from run options as onnxruntime does: an array, or an object keyed by output names, is fetches. */
export function fetchesOf(module: string | undefined, outputNames: readonly string[], [arg1, arg2]: RunArgs): { fetches?: Fetches; options?: InferenceSession.RunOptions } {
  if (arg1 === undefined || arg1 === null) return { options: arg2 };
  if (Array.isArray(arg1)) {
    const unknown = arg1.find((name) => !outputNames.includes(name));
    if (unknown !== undefined) {
      throw new NavigatorError(`the model has no output "${unknown}"; its outputs are ${outputNames.join(', ')}`, {
        module,
        subject: String(unknown),
        fix: 'ask for outputs by the names in module.outputNames',
      });
    }
    return { fetches: arg1 as readonly string[], options: arg2 };
  }
  const isFetches = outputNames.some((name) => name in arg1);
  return isFetches ? { fetches: arg1 as Fetches, options: arg2 } : { options: arg1 as InferenceSession.RunOptions };
}

/** The fetched outputs of a run that computed all of them; preallocated tensors are filled as onnxruntime fills them. */
export function pickOutputs(outputs: Feeds, fetches: Fetches | undefined): Feeds {
  if (fetches === undefined) return outputs;
  const picked: Feeds = {};
  if (Array.isArray(fetches)) {
    for (const name of fetches as readonly string[]) picked[name] = outputs[name];
    return picked;
  }
  for (const [name, target] of Object.entries(fetches as InferenceSession.NullableOnnxValueMapType)) {
    if (!(name in outputs)) continue;
    const given = target as Tensor | null;
    if (given && given.location === 'cpu' && outputs[name].location === 'cpu') {
      (given.data as unknown as { set(values: ArrayLike<unknown>): void }).set(outputs[name].data as ArrayLike<unknown>);
      picked[name] = given;
    } else {
      picked[name] = outputs[name];
    }
  }
  return picked;
}
