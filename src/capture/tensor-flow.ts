import type { Tensor } from 'onnxruntime-node';
import type { Feeds } from '../core/feeds';
import type { OutputFlow } from '../core/status';
import { DATA_READS } from '../runners/gpu-resident';

/**
 * Which output tensors of a module go, unchanged and unread, into another module (or into the same
 * module on the next loop iteration). Such an output can stay on the GPU when both ends run on
 * WebGPU: onnxruntime-node hands it over as a `gpu-buffer` tensor and the next session takes it as
 * an input, with no download and upload in between. Node cannot read a gpu-buffer tensor (`.data`
 * throws, `download()` is not implemented), so an output qualifies only if pipeline code never
 * read its data while the pipeline ran over the dataloader.
 *
 * How it is learned: while the optimizer captures, each module's outputs are handed to the pipeline
 * wrapped in a Proxy that notes any read of the data (`.data`, `.cpuData`, `getData()`...). When a
 * wrapped tensor comes back as a module's input, the edge producer.output → consumer.input is noted
 * and the module receives the tensor itself.
 */

interface Origin {
  module: string;
  output: string;
  raw: Tensor;
}

interface FlowState {
  consumers: Set<string>;
  read: boolean;
  readBy?: string;
}

export class TensorFlowTracker {
  private active = false;
  private origins = new WeakMap<object, Origin>();
  private flows = new Map<string, Map<string, FlowState>>();

  /** Starts a capture: what earlier captures learned is dropped. */
  start(): void {
    this.active = true;
    this.origins = new WeakMap();
    this.flows = new Map();
  }

  /** Ends the capture; what it learned stays readable through `flowsOf` until the next start. */
  stop(): void {
    this.active = false;
  }

  /** What capture learned of a module's outputs; empty for a module that produced nothing while tracked. */
  flowsOf(module: string): OutputFlow[] {
    const outputs = this.flows.get(module);
    if (!outputs) return [];
    return [...outputs.entries()].map(([output, state]) => ({
      output,
      consumers: [...state.consumers].sort(),
      read: state.read,
      ...(state.readBy ? { readBy: state.readBy } : {}),
    }));
  }

  /** A module's inputs as it should receive them: tracked tensors unwrapped, edges noted. */
  consume(module: string, feeds: Feeds): Feeds {
    if (!this.active) return feeds;
    let unwrapped: Feeds | undefined;
    for (const [input, tensor] of Object.entries(feeds)) {
      const origin = this.origins.get(tensor);
      if (!origin) continue;
      this.state(origin.module, origin.output).consumers.add(`${module}.${input}`);
      unwrapped ??= { ...feeds };
      unwrapped[input] = origin.raw;
    }
    return unwrapped ?? feeds;
  }

  /** A module's outputs as the pipeline should receive them: each wrapped so that reads are noted. */
  produce(module: string, outputs: Feeds): Feeds {
    if (!this.active) return outputs;
    const wrapped: Feeds = {};
    for (const [output, raw] of Object.entries(outputs)) {
      const state = this.state(module, output);
      const proxy = new Proxy(raw, {
        get: (target, property) => {
          if (DATA_READS.has(property) && !state.read && this.active) {
            state.read = true;
            state.readBy = `pipeline code used .${String(property)}`;
          }
          // Getters run on the tensor itself; methods run with the proxy as `this`, which forwards too.
          return Reflect.get(target, property, target);
        },
      });
      this.origins.set(proxy, { module, output, raw });
      wrapped[output] = proxy;
    }
    return wrapped;
  }

  private state(module: string, output: string): FlowState {
    let outputs = this.flows.get(module);
    if (!outputs) this.flows.set(module, (outputs = new Map()));
    let state = outputs.get(output);
    if (!state) outputs.set(output, (state = { consumers: new Set(), read: false }));
    return state;
  }
}
