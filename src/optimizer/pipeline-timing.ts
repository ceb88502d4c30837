import { NavigatorError } from '../core/errors';
import type { Decision, PipelineComparison } from '../core/status';
import type { DataloaderItem } from '../dataloader';
import { NO_SPIN, onnxCpuRunner } from '../runners/onnx-cpu';
import { quantile } from './profiler';
import { candidateOf, isPlainSource, withDecisions, type Choices, type PipelineContext, type StepOutcome } from './choices';

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
  const passes = await alternatePasses(async () => {
    const start = performance.now();
    await runPipeline(call, items);
    return [performance.now() - start];
  }, useOriginal);
  return comparison(passes, 0);
}

/** Per side (0 original, 1 rebound), per pass, the ms of each segment of the pass. */
export type Passes = [number[][], number[][]];

/** The comparison of one segment of the passes (undefined: the whole pass). */
export function comparison([original, rebound]: Passes, segment?: number): PipelineComparison {
  const ms = (pass: number[]) => (segment === undefined ? pass.reduce((a, b) => a + b, 0) : pass[segment]);
  const [before, after] = [original.map(ms), rebound.map(ms)];
  const pairs = after.map((a, i) => before[i] / a);
  return { ...summarizePasses(before, after), pairSpeedupQuartiles: [quantile(pairs, 0.25), quantile(pairs, 0.75)] };
}

/**
 * Passes with the original models and with the rebound ones, alternating. At least 10 passes and
 * 0.5 s; while the whole is neither clearly faster nor clearly slower, more passes (up to 3 s)
 * before the rules below judge on the spread; never past 5 s.
 */
export async function alternatePasses(pass: () => Promise<number[]>, useOriginal: (on: boolean) => void): Promise<Passes> {
  const passes: Passes = [[], []];
  const begin = performance.now();
  try {
    for (let index = 0; ; index++) {
      const original = index % 2 === 0;
      useOriginal(original);
      passes[original ? 0 : 1].push(await pass());
      const elapsed = performance.now() - begin;
      if (index % 2 === 0) continue;
      const settled = () => clearlyFaster(comparison(passes)) || clearlySlower(comparison(passes));
      if ((index >= 9 && elapsed >= 500 && (elapsed >= 3000 || settled())) || elapsed >= 5000) break;
    }
  } finally {
    useOriginal(false);
  }
  return passes;
}

export function summarizePasses(before: number[], after: number[]): PipelineComparison {
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
 * Whether the rebound pipeline is faster beyond doubt: its median is over 3% below the original's,
 * and it was faster in at least three of four adjacent pairs of passes.
 */
function clearlyFaster(timing: PipelineComparison): boolean {
  return timing.afterMs * 1.03 < timing.beforeMs && (timing.pairSpeedupQuartiles?.[0] ?? 0) > 1;
}

/** A decision with onnxruntime's intra-op threads told not to spin between runs. */
function quiet(decision: Decision, step: string, reason: string): Decision {
  return { step, key: decision.key, settings: { ...decision.settings, [NO_SPIN]: 0 }, reason };
}

const onCpu = (module: PipelineContext['modules'][number], choices: Choices) => candidateOf(module.status, choices.get(module.name))?.runner === onnxCpuRunner.name;
const spins = (module: PipelineContext['modules'][number], choices: Choices) => choices.get(module.name)?.settings?.[NO_SPIN] === undefined;

/**
 * Where several modules share the cores, each one's idle onnxruntime threads keep spinning after its
 * run and take a core from the next (measured: a three-model OCR pipeline ran 1.2-1.4x faster on its
 * sources alone with spinning off, docs/unseen-shapes.md). So every CPU module of a pipeline of more
 * than one module runs with spinning off, a source choice too; the timing steps after this one judge it.
 */
export function quietThreadsStep(context: PipelineContext, choices: Choices, moduleCount: number): StepOutcome {
  if (moduleCount < 2) return { choices, notes: [] };
  const quieted = context.modules.filter((m) => onCpu(m, choices) && spins(m, choices));
  const reason = `thread spinning off: ${moduleCount} modules share the cores`;
  return {
    choices: withDecisions(choices, quieted.map((m) => [m.name, quiet(choices.get(m.name)!, 'threads', reason)])),
    notes: quieted.length ? [`${reason}: ${quieted.map((m) => m.name).join(', ')}`] : [],
  };
}

/**
 * The pipeline-level rule. If the rebound pipeline is clearly slower than the original, spinning is
 * turned off for the modules on the CPU; if it is still slower, every module goes back to its
 * source. If it is not clearly faster (beyond the spread of the passes), the modules whose choice
 * the user did not name go back to their source: no measurable gain.
 */
export async function pipelineTimingStep(context: PipelineContext, choices: Choices, timing: PipelineComparison): Promise<StepOutcome & { timing: PipelineComparison }> {
  const notes: string[] = [];
  // With every module on its plain source there is nothing to take back: any gap is noise.
  const rebound = context.modules.some(({ name, status }) => !isPlainSource(status, choices.get(name)));
  if (!rebound) return { choices, timing, notes };
  const backToSource = async (current: Choices, modules: PipelineContext['modules'], reason: string) => {
    const next = withDecisions(current, modules.map(({ name, status }) => [name, { step: 'pipeline-timing', key: status.baseline, reason }]));
    await context.apply(next);
    return next;
  };
  let current = choices;
  if (clearlySlower(timing)) {
    notes.push(`rebound pipeline took ${timing.afterMs.toFixed(1)} ms vs ${timing.beforeMs.toFixed(1)} ms; turned off thread spinning`);
    current = withDecisions(choices, context.modules.filter((m) => onCpu(m, choices) && spins(m, choices)).map((m) => [m.name, quiet(choices.get(m.name)!, 'pipeline-timing', 'thread spinning off (pipeline interference)')]));
    await context.apply(current);
    timing = await context.time();
    if (clearlySlower(timing)) {
      notes.push(`still slower (${timing.afterMs.toFixed(1)} ms vs ${timing.beforeMs.toFixed(1)} ms): every module runs its original model`);
      current = await backToSource(current, context.modules, 'then the rebound pipeline was slower than the original, so the source model runs');
      return { choices: current, timing: { ...timing, afterMs: timing.beforeMs, afterQuartilesMs: timing.beforeQuartilesMs }, notes };
    }
  }
  if (clearlyFaster(timing)) return { choices: current, timing, notes };
  const unnamed = context.modules.filter((m) => m.strategy.type !== 'selected' && !isPlainSource(m.status, current.get(m.name)));
  if (unnamed.length === 0) return { choices: current, timing, notes };
  const pairs = timing.pairSpeedupQuartiles?.map((q) => q.toFixed(2)).join('-') ?? 'n/a';
  const why = `no measurable gain for the whole pipeline: ${timing.afterMs.toFixed(1)} ms vs ${timing.beforeMs.toFixed(1)} ms, middle half of the paired speedups ${pairs}x`;
  notes.push(`${why}: ${unnamed.map((m) => m.name).join(', ')} run their original models`);
  current = await backToSource(current, unnamed, why);
  const allBack = unnamed.length === context.modules.length;
  return { choices: current, timing: allBack ? { ...timing, afterMs: timing.beforeMs, afterQuartilesMs: timing.beforeQuartilesMs } : timing, notes };
}
