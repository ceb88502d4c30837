import type { DataloaderItem } from '../dataloader';

export type PipelineCall = (...args: unknown[]) => Promise<unknown>;

/**
 * Median wall time of one pass of the pipeline over the dataloader, and that pass's results.
 * At least 5 passes and 300 ms of passes, at most about 3 s, since one short pass is noisy.
 */
export async function timePipeline(call: PipelineCall, items: DataloaderItem[]): Promise<PipelineTiming> {
  const passes: number[] = [];
  let results: unknown[] = [];
  let firstResults: unknown[] | undefined;
  const begin = performance.now();
  for (;;) {
    const start = performance.now();
    const pass: unknown[] = [];
    for (const item of items) pass.push(await call(...item.slice(1)));
    passes.push(performance.now() - start);
    results = pass;
    firstResults ??= pass;
    const elapsed = performance.now() - begin;
    if ((passes.length >= 5 && elapsed >= 300) || elapsed >= 3000) break;
  }
  passes.sort((a, b) => a - b);
  return { ms: passes[Math.floor(passes.length / 2)], results, firstResults: firstResults ?? results };
}

export interface PipelineTiming {
  /** Median wall time of one pass over the dataloader. */
  ms: number;
  /** Each item's result, from the last pass and from the first (to tell a non-deterministic pipeline). */
  results: unknown[];
  firstResults: unknown[];
}

/** One pass over the dataloader, returning each item's result. */
export async function runPipeline(call: PipelineCall, items: DataloaderItem[]): Promise<unknown[]> {
  const results: unknown[] = [];
  for (const item of items) results.push(await call(...item.slice(1)));
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
): Promise<{ beforeMs: number; afterMs: number }> {
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
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { beforeMs: median(times[0]), afterMs: median(times[1]) };
}
