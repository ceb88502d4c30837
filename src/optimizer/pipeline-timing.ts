import { NavigatorError } from '../core/errors';
import type { Decision, PipelineComparison } from '../core/status';
import type { DataloaderItem } from '../dataloader';
import { NO_SPIN, onnxCpuRunner } from '../runners/onnx-cpu';
import { candidateOf, withDecisions, type Choices, type PipelineContext, type StepOutcome } from './choices';

export type PipelineCall = (...args: unknown[]) => Promise<unknown>;

/** One pass over the dataloader, returning each item's result. */
export async function runPipeline(call: PipelineCall, items: DataloaderItem[]): Promise<unknown[]> {
  const results: unknown[] = [];
  for (const [index, item] of items.entries()) {
    try {
      results.push(await call(...item.slice(1)));
    } catch (error) {
      // The navigator's own errors already name the module; the user's code is told which item broke it.
      if (error instanceof NavigatorError) throw error;
      throw new NavigatorError(`the pipeline threw on dataloader item ${index} (batch size ${item[0]})`, {
        subject: 'dataloader',
        cause: error,
        fix: 'the error comes from the pipeline code, run by optimize over the dataloader: fix it, or the item',
      });
    }
  }
  return results;
}

/**
 * Median pass time with the original models and with the rebound ones, passes alternating so that
 * load from elsewhere on the machine hits both alike. `useOriginal` switches every module.
 */
export async function comparePipelines(
  call: PipelineCall,
  items: DataloaderItem[],
  useOriginal: (on: boolean) => void,
): Promise<PipelineComparison> {
  const times: [number[], number[]] = [[], []];
  const begin = performance.now();
  try {
    for (let pass = 0; ; pass++) {
      const original = pass % 2 === 0;
      useOriginal(original);
      const start = performance.now();
      await runPipeline(call, items);
      times[original ? 0 : 1].push(performance.now() - start);
      const elapsed = performance.now() - begin;
      if ((pass >= 9 && elapsed >= 500) || (pass % 2 === 1 && elapsed >= 5000)) break;
    }
  } finally {
    useOriginal(false);
  }
  return summarizePasses(times[0], times[1]);
}

export function summarizePasses(before: number[], after: number[]): PipelineComparison {
  const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.round((xs.length - 1) * q)];
  const quartiles = (xs: number[]): [number, number] => [quantile(xs, 0.25), quantile(xs, 0.75)];
  return { beforeMs: quantile(before, 0.5), afterMs: quantile(after, 0.5), beforeQuartilesMs: quartiles(before), afterQuartilesMs: quartiles(after) };
}

/**
 * Whether the rebound pipeline is slower beyond doubt: its median is over 3% above the original's
 * and the middle halves of the two sets of passes do not overlap. On a busy machine (CI runs tests
 * side by side) sub-millisecond pipelines vary by more than any real difference, and reverting a
 * good choice on noise would make the result depend on the load rather than on the models.
 */
export function clearlySlower(timing: PipelineComparison): boolean {
  return timing.afterMs > timing.beforeMs * 1.03 && timing.afterQuartilesMs[0] > timing.beforeQuartilesMs[1];
}

/**
 * Modules chosen one by one can slow each other down when they share the cores (idle onnxruntime
 * threads spin after a run). If the rebound pipeline is clearly slower than the original, spinning
 * is turned off for the modules on the CPU; if it is still slower, every module goes back to its source.
 */
export async function interferenceStep(context: PipelineContext, choices: Choices, timing: PipelineComparison): Promise<StepOutcome & { timing: PipelineComparison }> {
  const notes: string[] = [];
  // With every module on its source there is nothing to take back: any gap is noise.
  const rebound = context.modules.some(({ name, status }) => choices.get(name)?.key !== status.baseline);
  if (!rebound || !clearlySlower(timing)) return { choices, timing, notes };
  notes.push(`rebound pipeline took ${timing.afterMs.toFixed(1)} ms vs ${timing.beforeMs.toFixed(1)} ms; turned off thread spinning`);
  const noSpin: [string, Decision][] = context.modules
    .filter(({ name, status }) => candidateOf(status, choices.get(name))?.runner === onnxCpuRunner.name)
    .map(({ name }) => {
      const decision = choices.get(name)!;
      return [name, { step: 'pipeline-timing', key: decision.key, settings: { ...decision.settings, [NO_SPIN]: 0 }, reason: 'thread spinning off (pipeline interference)' }];
    });
  const calm = withDecisions(choices, noSpin);
  await context.apply(calm);
  const calmTiming = await context.time();
  if (!clearlySlower(calmTiming)) return { choices: calm, timing: calmTiming, notes };
  notes.push(`still slower (${calmTiming.afterMs.toFixed(1)} ms vs ${calmTiming.beforeMs.toFixed(1)} ms): every module runs its original model`);
  const sources = withDecisions(
    calm,
    context.modules.map(({ name, status }) => [name, { step: 'pipeline-timing', key: status.baseline, reason: 'then the rebound pipeline was slower than the original, so the source model runs' }]),
  );
  await context.apply(sources);
  return { choices: sources, timing: { ...calmTiming, afterMs: calmTiming.beforeMs, afterQuartilesMs: calmTiming.beforeQuartilesMs }, notes };
}
