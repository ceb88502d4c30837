import { NavigatorError } from '../errors';
import type { DataloaderItem } from '../dataloader';

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

/** Median pass times of the original and the rebound pipeline, and their quartiles. */
export interface PipelineComparison {
  beforeMs: number;
  afterMs: number;
  /** First and third quartile of the passes: where the middle half of them fell. */
  beforeQuartilesMs: [number, number];
  afterQuartilesMs: [number, number];
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
