import type { ProfilingSettings } from '../core/config';
import type { Feeds } from '../core/feeds';
import type { RunnerSession } from '../core/plugin';
import type { PerformanceResult } from '../core/status';

/** One batch size to profile, with the inputs to time it on. */
export interface ProfilePoint {
  batchSize: number;
  feeds: Feeds;
  /** Observed by capture: always measured, even past saturation. */
  observed: boolean;
}

/**
 * Times a session at each point, smallest batch first. Each point runs in windows of
 * `windowMs` until the last `stableWindows` window means agree within `stabilityPercent`; larger
 * batch sizes that were not observed stop once throughput no longer grows by `saturationPercent`.
 */
export async function profileSession(
  session: RunnerSession,
  points: ProfilePoint[],
  settings: ProfilingSettings,
  firstWarmupMs = settings.windowMs / 2,
): Promise<PerformanceResult[]> {
  const results: PerformanceResult[] = [];
  let bestThroughput = 0;
  let saturated = false;
  for (const point of [...points].sort((a, b) => a.batchSize - b.batchSize)) {
    if (saturated && !point.observed) continue;
    const result = await measurePoint(session, point, settings, results.length === 0 ? firstWarmupMs : settings.windowMs / 2);
    results.push(result);
    if (!point.observed && result.throughput < bestThroughput * (1 + settings.saturationPercent / 100)) saturated = true;
    bestThroughput = Math.max(bestThroughput, result.throughput);
  }
  return results;
}

async function measurePoint(session: RunnerSession, point: ProfilePoint, settings: ProfilingSettings, warmupMs: number): Promise<PerformanceResult> {
  // Warm-up: the first runs pay for allocations and kernel selection, which a pipeline pays once.
  const warmupEnd = performance.now() + warmupMs;
  for (let i = 0; i < 3 || performance.now() < warmupEnd; i++) await session.run(point.feeds);

  const windows: number[][] = [];
  let stable = false;
  while (windows.length < settings.maxWindows) {
    windows.push(await timeWindow(session, point.feeds, settings.windowMs));
    if (windows.length >= settings.stableWindows && isStable(windows.slice(-settings.stableWindows), settings.stabilityPercent)) {
      stable = true;
      break;
    }
  }
  const latencies = windows.slice(-settings.stableWindows).flat().sort((a, b) => a - b);
  const meanMs = latencies.reduce((sum, x) => sum + x, 0) / latencies.length;
  return {
    batchSize: point.batchSize,
    p50Ms: percentile(latencies, 50),
    p90Ms: percentile(latencies, 90),
    p99Ms: percentile(latencies, 99),
    meanMs,
    throughput: (1000 * point.batchSize) / meanMs,
    windows: windows.length,
    stable,
  };
}

/** The latency of each run over one window of `windowMs`, and at least `minRuns` runs. */
export async function timeWindow(session: RunnerSession, feeds: Feeds, windowMs: number, minRuns = 3): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + windowMs;
  while (latencies.length < minRuns || performance.now() < end) {
    const start = performance.now();
    await session.run(feeds);
    latencies.push(performance.now() - start);
  }
  return latencies;
}

function isStable(windows: number[][], percent: number): boolean {
  const means = windows.map((w) => w.reduce((sum, x) => sum + x, 0) / w.length);
  const mean = means.reduce((sum, x) => sum + x, 0) / means.length;
  return means.every((m) => Math.abs(m - mean) <= (mean * percent) / 100);
}

/** The value at fraction `q` of the way through `xs` sorted (index rounded): medians and quartiles of timings. */
export function quantile(xs: readonly number[], q: number): number {
  return [...xs].sort((a, b) => a - b)[Math.round((xs.length - 1) * q)];
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
