import type { Strategy } from '../config/strategy';
import { runnerRegistry } from '../plugins';
import { CandidateStatus, ModuleStatus, SelectedCandidate, baselineCandidate, selectedCandidate } from '../status';
import type { EndToEndThresholds } from './end-to-end';
import { resultsDrift } from './end-to-end';
import { describeSelection } from './module-optimizer';
import type { PipelineComparison } from './pipeline-timing';
import { selectCandidate } from './select';

export interface AssignmentContext {
  /** Modules optimized in this run, with their strategies; cached modules keep their selection. */
  modules: { status: ModuleStatus; strategy: Strategy }[];
  /** Binds every module to its status's selection (and keeps GPU-to-GPU outputs on the GPU). */
  rebind(): Promise<void>;
  /** Times the bound pipeline against the original, passes alternating. */
  time(): Promise<PipelineComparison>;
  /** One pass over the dataloader, to check the final results still match the original's. */
  results(): Promise<unknown[]>;
  original: unknown[];
  thresholds: EndToEndThresholds;
}

/**
 * Modules chosen one by one can lose to a consistent assignment: a module a little faster alone on
 * the CPU makes its GPU neighbours copy their tensors back and forth. Where modules left on the CPU
 * have GPU candidates that passed, the pipeline is also timed with them on their best GPU
 * candidates, and the faster assignment stays (if its final results still match the original's).
 */
export async function tryGpuAssignment(
  context: AssignmentContext,
  current: PipelineComparison,
): Promise<{ note: string; timing: PipelineComparison } | undefined> {
  const onGpu = (c: CandidateStatus | undefined) => c !== undefined && runnerRegistry.get(c.runner).device === 'gpu';
  const moves: { status: ModuleStatus; previous: SelectedCandidate }[] = [];
  for (const { status, strategy } of context.modules) {
    if (onGpu(selectedCandidate(status))) continue;
    const gpu = status.candidates.filter((c) => c.status === 'passed' && onGpu(c));
    const choice = selectCandidate(gpu, strategy, status.signature.batchSizes);
    if (choice) {
      moves.push({ status, previous: status.selected });
      status.selected = describeSelection(choice.candidate, baselineCandidate(status), status.signature.batchSizes, `${choice.reason}; on the GPU with the rest of the pipeline`);
    }
  }
  const onGpuAlready = context.modules.some(({ status }) => !moves.some((m) => m.status === status) && onGpu(selectedCandidate(status)));
  if (moves.length === 0 || (moves.length === 1 && !onGpuAlready)) {
    for (const move of moves) move.status.selected = move.previous;
    return undefined;
  }
  await context.rebind();
  const drift = resultsDrift(await context.results(), context.original, context.thresholds).bad;
  const timing = drift.length === 0 ? await context.time() : undefined;
  const names = moves.map((m) => m.status.module).join(', ');
  if (timing && timing.afterMs < current.afterMs * 0.97) {
    return { note: `moved ${names} to the GPU with the rest of the pipeline: ${timing.afterMs.toFixed(1)} ms vs ${current.afterMs.toFixed(1)} ms chosen module by module`, timing };
  }
  for (const move of moves) move.status.selected = move.previous;
  await context.rebind();
  const why = timing ? `${timing.afterMs.toFixed(1)} ms vs ${current.afterMs.toFixed(1)} ms` : `final results drift (${drift[0].path})`;
  return { note: `tried ${names} on the GPU with the rest of the pipeline (${why}); kept the module-by-module choice`, timing: current };
}
