import type { VariantSettings } from '../core/plugin';
import type { Decision, ModuleStatus } from '../core/status';
import type { OnnxModule } from '../module/onnx-module';
import { GPU_OUTPUTS } from '../runners/onnx-webgpu';
import { bindDecision } from './binding';
import { candidateOf, isPlainSource, type Choices } from './choices';
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
  /** Per module: the decision bound ('source' for the original model), the outputs kept on the GPU, and what binding said. */
  private readonly current = new Map<string, { decision: string; gpuOutputs: string[]; description: string }>();

  constructor(private readonly targets: ApplyTarget[]) {}

  /** Binds every target to its choice (a target without one: to its status's last decision), then keeps GPU-to-GPU outputs on the GPU. */
  async apply(choices: Choices): Promise<Applied> {
    const decisions = new Map(this.targets.map((t) => [t.name, choices.get(t.name) ?? lastDecision(t.status)]));
    for (const target of this.targets) {
      // A module whose decision did not change keeps the outputs it keeps on the GPU until the plan below says otherwise.
      const previous = this.current.get(target.name);
      const decision = decisions.get(target.name)!;
      await this.bind(target, decision, previous?.decision === decisionKey(decision) ? previous.gpuOutputs : []);
    }
    // Where producer and consumers run on WebGPU, outputs that only they read stay on the GPU.
    const plan = planGpuResidentOutputs(
      this.targets.map((t) => {
        const candidate = candidateOf(t.status, decisions.get(t.name));
        const bound = this.current.get(t.name)!.decision !== 'source';
        return { name: t.name, runner: bound ? candidate?.runner : undefined, fixedShapes: Boolean(candidate?.fixedShapes), flow: t.status.outputFlow };
      }),
    );
    for (const target of this.targets) {
      const outputs = plan.keep[target.name] ?? [];
      const decision = decisions.get(target.name)!;
      if (await this.bind(target, decision, outputs)) continue;
      if (outputs.length === 0) continue;
      // Back to the plain selection: the consumers take CPU tensors too.
      await this.bind(target, decision, []);
      plan.notes.push(`${target.name}: keeping ${outputs.join(', ')} on the GPU failed (${this.current.get(target.name)!.description}); bound without it`);
    }
    return { modules: Object.fromEntries([...this.current].map(([name, { description }]) => [name, description])), notes: plan.notes };
  }

  /** Binds one module unless it is bound so already; whether it ended up bound to a runner. */
  private async bind(target: ApplyTarget, decision: Decision, gpuOutputs: string[]): Promise<boolean> {
    const key = decisionKey(decision);
    const previous = this.current.get(target.name);
    if (previous && previous.decision === key && previous.gpuOutputs.join(',') === gpuOutputs.join(',')) return true;
    if (previous?.decision === 'source' && gpuOutputs.length === 0 && isPlainSource(target.status, decision)) return false;
    const extra: VariantSettings = gpuOutputs.length > 0 ? { [GPU_OUTPUTS]: gpuOutputs.join(',') } : {};
    const outcome = await bindDecision(target.module, target.status, decision, target.moduleDir, extra);
    this.current.set(target.name, { decision: outcome.bound ? key : 'source', gpuOutputs: outcome.bound ? gpuOutputs : [], description: outcome.description });
    return outcome.bound;
  }
}

/** What a decision binds: its candidate and the runner settings over it. */
function decisionKey(decision: Decision): string {
  return JSON.stringify([decision.key, decision.settings ?? {}]);
}

/** The decision a cached status ends in: its selection (the chain before it is history). */
export function lastDecision(status: ModuleStatus): Decision {
  const { key, reason, settings } = status.selected;
  return { step: 'cached', key, reason, ...(settings ? { settings } : {}) };
}
