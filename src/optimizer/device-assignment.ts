import { BASELINE, candidateKey, type CandidateStatus, type Decision, type PipelineComparison } from '../core/status';
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

/**
 * Mixing devices must never end below running every module's plain source on one GPU (issue 13:
 * a mixed WebGPU/CPU selection ran at 0.93x plain WebGPU). For each GPU runner on which every module
 * optimized here has a passing source candidate (`onnx/<runner>/default`), the pipeline is timed
 * with that uniform assignment; where it is faster than the current choices by more than 3% (and
 * its final results still match), it replaces them.
 */
export async function uniformAssignmentStep(context: PipelineContext, choices: Choices, current: PipelineComparison): Promise<StepOutcome | undefined> {
  const gpuRunners = new Set(context.modules.flatMap(({ status }) => status.candidates.filter((c) => runnerRegistry.get(c.runner).device === 'gpu').map((c) => c.runner)));
  let best: { runner: string; choices: Choices; timing: PipelineComparison } | undefined;
  const notes: string[] = [];
  for (const runner of gpuRunners) {
    const key = candidateKey(BASELINE.format, runner, BASELINE.variant);
    const sources = context.modules.map(({ name, status }) => [name, status.candidates.find((c) => c.key === key && c.status === 'passed')] as const);
    if (sources.some(([, candidate]) => !candidate)) continue;
    if (context.modules.every(({ name }) => choices.get(name)?.key === key)) continue;
    const uniform = withDecisions(choices, sources.map(([name]) => [name, { step: 'uniform-assignment', key, reason: `every module's source on ${runner} was faster than the mixed assignment` }]));
    await context.apply(uniform);
    if (resultsDrift(await context.results(), context.original.results, context.thresholds).bad.length > 0) continue;
    const timing = await context.time();
    notes.push(`every module's source on ${runner}: ${timing.afterMs.toFixed(1)} ms vs ${current.afterMs.toFixed(1)} ms with the current choices`);
    if (timing.afterMs < (best?.timing ?? current).afterMs * 0.97) best = { runner, choices: uniform, timing };
  }
  if (notes.length === 0) return undefined;
  await context.apply(best?.choices ?? choices);
  return best ? { choices: best.choices, timing: best.timing, notes: [...notes, `kept every module's source on ${best.runner}`] } : { choices, timing: current, notes };
}
