import type { VariantSettings } from '../core/plugin';
import type { Decision, ModuleStatus } from '../core/status';
import type { OnnxModule } from '../module/onnx-module';
import { GPU_OUTPUTS } from '../runners/onnx-webgpu';
import { bindDecision } from './binding';
import { candidateOf, type Choices } from './choices';
import { planGpuResidentOutputs } from './gpu-residency';

/** A module as the apply step binds it: its status (for its candidates) and its workspace folder. */
export interface ApplyTarget {
  name: string;
  module: OnnxModule<unknown, unknown>;
  status: ModuleStatus;
  moduleDir: string;
}

/** What applying a set of choices did: per module, in words, and the notes of the GPU-resident plan. */
export interface Applied {
  modules: Record<string, string>;
  notes: string[];
}

/**
 * The one step that rebinds modules. It remembers what each module is bound to, so that applying
 * choices in which a module's decision did not change leaves that module's session as it is.
 */
export class Binder {
  private readonly current = new Map<string, { signature: string; description: string }>();

  constructor(private readonly targets: ApplyTarget[]) {}

  /** Binds every target to its choice (a target without one: to its status's last decision), then keeps GPU-to-GPU outputs on the GPU. */
  async apply(choices: Choices): Promise<Applied> {
    const decisions = new Map(this.targets.map((t) => [t.name, choices.get(t.name) ?? lastDecision(t.status)]));
    for (const target of this.targets) await this.bind(target, decisions.get(target.name)!, []);
    // Where producer and consumers run on WebGPU, outputs that only they read stay on the GPU.
    const plan = planGpuResidentOutputs(
      this.targets.map((t) => {
        const candidate = candidateOf(t.status, decisions.get(t.name));
        const bound = this.current.get(t.name)!.signature !== 'source';
        return { name: t.name, runner: bound ? candidate?.runner : undefined, fixedShapes: Boolean(candidate?.fixedShapes), flow: t.status.outputFlow };
      }),
    );
    for (const target of this.targets) {
      const outputs = plan.keep[target.name];
      if (!outputs) continue;
      const decision = decisions.get(target.name)!;
      if (await this.bind(target, decision, outputs)) continue;
      // Back to the plain selection: the consumers take CPU tensors too.
      await this.bind(target, decision, []);
      plan.notes.push(`${target.name}: keeping ${outputs.join(', ')} on the GPU failed (${this.current.get(target.name)!.description}); bound without it`);
    }
    return { modules: Object.fromEntries([...this.current].map(([name, { description }]) => [name, description])), notes: plan.notes };
  }

  /** Binds one module unless it is bound so already; whether it ended up bound to a runner. */
  private async bind(target: ApplyTarget, decision: Decision, gpuOutputs: string[]): Promise<boolean> {
    const signature = JSON.stringify([decision.key, decision.settings ?? {}, gpuOutputs]);
    const previous = this.current.get(target.name);
    if (previous?.signature === signature) return true;
    if (previous?.signature === 'source' && signatureOfSource(target, decision, gpuOutputs) === 'source') return false;
    const extra: VariantSettings = gpuOutputs.length > 0 ? { [GPU_OUTPUTS]: gpuOutputs.join(',') } : {};
    const outcome = await bindDecision(target.module, target.status, decision, target.moduleDir, extra);
    this.current.set(target.name, { signature: outcome.bound ? signature : 'source', description: outcome.description });
    return outcome.bound;
  }
}

/** 'source' where a decision means the module's own original model. */
function signatureOfSource(target: ApplyTarget, decision: Decision, gpuOutputs: string[]): string | undefined {
  return decision.key === target.status.baseline && !decision.settings && gpuOutputs.length === 0 ? 'source' : undefined;
}

/** The decision a cached status ends in: its selection (the chain before it is history). */
export function lastDecision(status: ModuleStatus): Decision {
  const { key, reason, settings } = status.selected;
  return { step: 'cached', key, reason, ...(settings ? { settings } : {}) };
}
