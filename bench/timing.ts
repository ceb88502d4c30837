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

/** Median, quartiles and extremes of a sample (e.g. the per-round ratios of an interleaved comparison). */
export interface Spread {
  median: number;
  q1: number;
  q3: number;
  min: number;
  max: number;
}

export function spread(xs: readonly number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => {
    const i = q * (s.length - 1);
    return s[Math.floor(i)] + (s[Math.ceil(i)] - s[Math.floor(i)]) * (i - Math.floor(i));
  };
  return { median: at(0.5), q1: at(0.25), q3: at(0.75), min: s[0], max: s[s.length - 1] };
}

/**
 * Ms per run of each side, per round: every round runs each side (repeated so that it lasts at least
 * `minSideMs`, from a first untimed round), the order rotating between rounds so that neither always
 * goes first and drift of the machine hits all sides alike.
 */
export async function interleavedRounds(sides: readonly (() => Promise<unknown>)[], { rounds, minSideMs = 200 }: { rounds: number; minSideMs?: number }): Promise<number[][]> {
  const repeats: number[] = [];
  for (const run of sides) {
    const start = performance.now();
    await run();
    repeats.push(Math.max(1, Math.ceil(minSideMs / Math.max(performance.now() - start, 0.01))));
  }
  const times: number[][] = sides.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < sides.length; k++) {
      const i = (k + round) % sides.length;
      const start = performance.now();
      for (let r = 0; r < repeats[i]; r++) await sides[i]();
      times[i].push((performance.now() - start) / repeats[i]);
    }
  }
  return times;
}
