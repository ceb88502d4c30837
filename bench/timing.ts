/** Timing loops the benchmarks share. */

/** Ms of each run of `run` after `warmup` untimed ones, until at least `minRuns` runs and `minMs` elapsed, in run order. */
export async function timeRuns(run: () => Promise<unknown>, { warmup, minRuns, minMs }: { warmup: number; minRuns: number; minMs: number }): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || performance.now() - start < minMs) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  return times;
}

/** The upper median: the middle value of a sorted copy (of two, the larger). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1];
}
