import type { Tensor } from 'onnxruntime-node';
import type { OnnxModule } from '../module/onnx-module';
import { DATA_READS } from '../runners/gpu-resident';
import { GPU_OUTPUTS } from '../runners/onnx-webgpu';
import type { Feeds } from '../runners/runner';
import { ModuleStatus, selectedCandidate } from '../status';

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

/** What capture learned of one output of a module. */
export interface OutputFlow {
  output: string;
  /** Where the tensor went unchanged, as 'module.input' (the producer itself for a loop). */
  consumers: string[];
  /** Whether anything outside the tracked modules read its data. */
  read: boolean;
  /** The first read, e.g. 'pipeline code read .data'. */
  readBy?: string;
}


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

/** The tracker the optimizer starts around capture and OnnxModule consults on each captured call. */
export const tensorFlow = new TensorFlowTracker();

/** What a module is bound to now, as the plan below needs it. */
export interface BoundModule {
  name: string;
  /** The runner of its bound candidate; undefined while it runs its source model. */
  runner: string | undefined;
  /** The bound candidate takes only some input shapes; the others go to the CPU source, which cannot take gpu-buffer inputs. */
  fixedShapes: boolean;
  flow: OutputFlow[] | undefined;
}

/** Per producer module, the outputs that can stay on the GPU, and why the others cannot (for the report). */
export interface GpuResidentPlan {
  keep: Record<string, string[]>;
  notes: string[];
}

/**
 * An output stays on the GPU when its module runs on WebGPU, pipeline code never read it, it went to
 * at least one module, and every module it went to runs on WebGPU with no fixed shapes (so that no
 * call falls back to the CPU source with a gpu-buffer input).
 */
export function planGpuResidentOutputs(modules: BoundModule[]): GpuResidentPlan {
  const byName = new Map(modules.map((m) => [m.name, m]));
  const plan: GpuResidentPlan = { keep: {}, notes: [] };
  for (const producer of modules) {
    if (producer.runner !== 'OnnxWebGPU') continue;
    for (const flow of producer.flow ?? []) {
      if (flow.consumers.length === 0) continue;
      const where = `${producer.name}.${flow.output}`;
      if (flow.read) {
        plan.notes.push(`${where} stays on the CPU: ${flow.readBy ?? 'its data is read'}`);
        continue;
      }
      const blocking = flow.consumers
        .map((edge) => edge.slice(0, edge.lastIndexOf('.')))
        .map((name) => ({ name, consumer: byName.get(name) }))
        .find(({ consumer }) => !consumer || consumer.runner !== 'OnnxWebGPU' || consumer.fixedShapes);
      if (blocking) {
        const why = !blocking.consumer ? 'is not optimized with it' : blocking.consumer.runner !== 'OnnxWebGPU' ? `runs on ${blocking.consumer.runner ?? 'its source model'}` : 'takes fixed shapes only';
        plan.notes.push(`${where} stays on the CPU: consumer ${blocking.name} ${why}`);
        continue;
      }
      (plan.keep[producer.name] ??= []).push(flow.output);
      plan.notes.push(`${where} stays on the GPU for ${flow.consumers.join(', ')}`);
    }
  }
  return plan;
}

export interface ResidentEntry {
  module: OnnxModule<unknown, unknown>;
  status: ModuleStatus;
  moduleDir: string;
}

type Bind = (module: OnnxModule<unknown, unknown>, status: ModuleStatus, moduleDir: string, settingsOverride: Record<string, string>) => Promise<string>;

/**
 * After every module is bound: rebinds each WebGPU producer whose outputs qualify with those outputs
 * left on the GPU. `bind` is the optimizer's bindSelected (passed in to keep this file free of the
 * optimizer's imports). Returns one note per output that went to a module, for the report.
 */
export async function keepOutputsOnGpu(entries: ResidentEntry[], bind: Bind): Promise<string[]> {
  const bound: BoundModule[] = entries.map(({ module, status }) => {
    const binding = module.binding;
    return {
      name: status.module,
      runner: binding.isSource ? undefined : binding.runner,
      fixedShapes: Boolean(selectedCandidate(status)?.fixedShapes),
      flow: status.outputFlow,
    };
  });
  const plan = planGpuResidentOutputs(bound);
  for (const entry of entries) {
    const outputs = plan.keep[entry.status.module];
    if (!outputs) continue;
    const result = await bind(entry.module, entry.status, entry.moduleDir, { [GPU_OUTPUTS]: outputs.join(',') });
    if (result.startsWith('bound to')) continue;
    // Back to the plain selection: the consumers take CPU tensors too.
    plan.notes.push(`${entry.status.module}: keeping ${outputs.join(', ')} on the GPU failed (${result}); bound without it: ${await bind(entry.module, entry.status, entry.moduleDir, {})}`);
  }
  return plan.notes;
}
