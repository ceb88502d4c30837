import type { Tensor } from 'onnxruntime-node';
import { NavigatorError } from '../core/errors';
import type { Feeds } from '../core/feeds';
import type { RunnerSession } from '../core/plugin';

/** Tensor members whose use needs the data on the CPU. reshape() counts too: its result is a tensor no one follows. */
export const DATA_READS = new Set<PropertyKey>(['data', 'cpuData', 'getData', 'download', 'toDataURL', 'toImageData', 'reshape']);

/** Guarded output → the tensor onnxruntime returned, so the next WebGPU session gets the tensor itself. */
const rawOf = new WeakMap<object, Tensor>();

/**
 * A session whose GPU-resident outputs (`gpu-buffer` tensors) refuse to be read with an error that
 * names the module, the output and the fix. Node cannot download such a tensor, and onnxruntime's
 * own message ("The data is not on CPU") says neither which module kept it there nor why: the
 * optimizer kept it because, while it captured, only WebGPU modules consumed it. A read it did not
 * see (a branch no dataloader item took) lands here.
 */
export function guardGpuOutputs(session: RunnerSession, module: string): RunnerSession {
  return {
    ...session,
    run: (feeds: Feeds) => session.run(unwrapGpuInputs(feeds)).then((outputs) => guardOutputs(module, outputs)),
  };
}

/** Feeds with guarded tensors replaced by onnxruntime's own: what a WebGPU session is given. */
export function unwrapGpuInputs(feeds: Feeds): Feeds {
  let unwrapped: Feeds | undefined;
  for (const [name, tensor] of Object.entries(feeds)) {
    const raw = rawOf.get(tensor);
    if (!raw) continue;
    unwrapped ??= { ...feeds };
    unwrapped[name] = raw;
  }
  return unwrapped ?? feeds;
}

export function guardOutputs(module: string, outputs: Feeds): Feeds {
  let guarded: Feeds | undefined;
  for (const [output, tensor] of Object.entries(outputs)) {
    if (tensor.location !== 'gpu-buffer') continue;
    guarded ??= { ...outputs };
    const proxy = new Proxy(tensor, {
      get(target, property) {
        if (DATA_READS.has(property)) {
          throw new NavigatorError(`pipeline code used .${String(property)} of an output that stays on the GPU`, {
            module,
            subject: `output ${output}`,
            fix:
              'optimize kept this output on the GPU because, while it captured the pipeline, only WebGPU modules consumed it; ' +
              'run optimize again with force: true and a dataloader item that takes the path reading it, so that capture sees the read',
          });
        }
        return Reflect.get(target, property, target);
      },
    });
    rawOf.set(proxy, tensor);
    guarded[output] = proxy;
  }
  return guarded ?? outputs;
}
