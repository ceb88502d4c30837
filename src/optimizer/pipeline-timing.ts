import type { DataloaderItem } from '../dataloader';

export type PipelineCall = (...args: unknown[]) => Promise<unknown>;

/**
 * Median wall time of one pass of the pipeline over the dataloader, and that pass's results.
 * At least 5 passes and 300 ms of passes, at most about 3 s, since one short pass is noisy.
 */
export async function timePipeline(call: PipelineCall, items: DataloaderItem[]): Promise<{ ms: number; results: unknown[] }> {
  const passes: number[] = [];
  let results: unknown[] = [];
  const begin = performance.now();
  for (;;) {
    const start = performance.now();
    const pass: unknown[] = [];
    for (const item of items) pass.push(await call(...item.slice(1)));
    passes.push(performance.now() - start);
    results = pass;
    const elapsed = performance.now() - begin;
    if ((passes.length >= 5 && elapsed >= 300) || elapsed >= 3000) break;
  }
  passes.sort((a, b) => a - b);
  return { ms: passes[Math.floor(passes.length / 2)], results };
}
