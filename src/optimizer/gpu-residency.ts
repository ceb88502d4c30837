import type { OutputFlow } from '../core/status';

/** What a module is bound to, as the plan of GPU-resident outputs needs it (see src/capture/tensor-flow.ts for how flows are learned). */
export interface BoundModule {
  name: string;
  /** The runner of its bound candidate; undefined while it runs its source model. */
  runner: string | undefined;
  /** The bound candidate takes only some input shapes; the others go to the CPU source, which cannot take gpu-buffer inputs. */
  fixedShapes: boolean;
  flow: OutputFlow[] | undefined;
}

/** Per producer module, the outputs that can stay on the GPU, and why the others cannot (for the report). */
interface GpuResidentPlan {
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
