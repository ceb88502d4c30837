import type { CandidateStatus, Decision, PipelineComparison } from '../core/status';
import { runnerRegistry } from '../plugins';
import { candidateOf, withDecisions, type Choices, type PipelineContext, type StepOutcome } from './choices';
import { resultsDrift } from './end-to-end';
import { selectCandidate } from './select';

/**
 * Modules chosen one by one can lose to a consistent assignment: a module a little faster alone on
 * the CPU makes its GPU neighbours copy their tensors back and forth. Where modules left on the CPU
 * have GPU candidates that passed, the pipeline is also timed with them on their best GPU
 * candidates, and the faster assignment stays (if its final results still match the original's).
 * Undefined where no assignment was worth trying.
 */
export async function deviceAssignmentStep(context: PipelineContext, choices: Choices, current: PipelineComparison): Promise<StepOutcome | undefined> {
  const onGpu = (c: CandidateStatus | undefined) => c !== undefined && runnerRegistry.get(c.runner).device === 'gpu';
  const moves: [string, Decision][] = [];
  for (const { name, status, strategy } of context.modules) {
    if (onGpu(candidateOf(status, choices.get(name)))) continue;
    const gpu = status.candidates.filter((c) => c.status === 'passed' && onGpu(c));
    const choice = selectCandidate(gpu, strategy, status.signature.batchSizes);
    if (choice) moves.push([name, { step: 'device-assignment', key: choice.candidate.key, reason: `${choice.reason}; on the GPU with the rest of the pipeline` }]);
  }
  const moved = new Set(moves.map(([name]) => name));
  const onGpuAlready = context.modules.some(({ name, status }) => !moved.has(name) && onGpu(candidateOf(status, choices.get(name))));
  if (moves.length === 0 || (moves.length === 1 && !onGpuAlready)) return undefined;
  const trial = withDecisions(choices, moves);
  await context.apply(trial);
  const drift = resultsDrift(await context.results(), context.original.results, context.thresholds).bad;
  const timing = drift.length === 0 ? await context.time() : undefined;
  const names = [...moved].join(', ');
  if (timing && timing.afterMs < current.afterMs * 0.97) {
    return { choices: trial, timing, notes: [`moved ${names} to the GPU with the rest of the pipeline: ${timing.afterMs.toFixed(1)} ms vs ${current.afterMs.toFixed(1)} ms chosen module by module`] };
  }
  await context.apply(choices);
  const why = timing ? `${timing.afterMs.toFixed(1)} ms vs ${current.afterMs.toFixed(1)} ms` : `final results drift (${drift[0].path})`;
  return { choices, timing: current, notes: [`tried ${names} on the GPU with the rest of the pipeline (${why}); kept the module-by-module choice`] };
}
