import type { Strategy } from '../config/strategy';
import type { CandidateStatus, PerformanceResult } from '../status';

export interface Choice {
  candidate: CandidateStatus;
  reason: string;
}

/**
 * p50 latency at the batch sizes the pipeline used, weighted by how often it used each: what the
 * user will see. Batch sizes without a measurement are left out; with no batching, the one point.
 */
export function observedLatency(performance: PerformanceResult[], batchSizes: Record<string, number>): number {
  const weights = Object.entries(batchSizes).map(([size, count]) => [Number(size), count] as const);
  let total = 0, weight = 0;
  for (const [size, count] of weights) {
    const result = performance.find((p) => p.batchSize === size);
    if (result) { total += result.p50Ms * count; weight += count; }
  }
  if (weight > 0) return total / weight;
  return performance.length > 0 ? Math.min(...performance.map((p) => p.p50Ms)) : NaN;
}

/** Picks among candidates that passed every check; undefined when none did. */
export function selectCandidate(
  candidates: CandidateStatus[],
  strategy: Strategy,
  batchSizes: Record<string, number>,
): Choice | undefined {
  const passed = candidates.filter((c) => c.status === 'passed' && c.performance.length > 0);
  if (passed.length === 0) return undefined;
  const best = (score: (c: CandidateStatus) => number, label: string): Choice => {
    const candidate = passed.reduce((a, b) => (score(b) < score(a) ? b : a));
    return { candidate, reason: label };
  };
  const byObserved = () => best((c) => observedLatency(c.performance, batchSizes), 'lowest latency at the observed batch sizes');
  switch (strategy.type) {
    case 'observedLatency':
      return byObserved();
    case 'minLatency':
      return best((c) => Math.min(...c.performance.map((p) => p.p50Ms)), 'lowest latency at any batch size');
    case 'maxThroughput':
      return best((c) => -Math.max(...c.performance.map((p) => p.throughput)), 'highest throughput');
    case 'maxThroughputWithLatencyBudget': {
      const within = (c: CandidateStatus) => c.performance.filter((p) => p.p50Ms <= strategy.latencyBudgetMs);
      if (!passed.some((c) => within(c).length > 0)) {
        const fallback = byObserved();
        return { ...fallback, reason: `no candidate within ${strategy.latencyBudgetMs} ms; ${fallback.reason}` };
      }
      return best(
        (c) => -Math.max(-Infinity, ...within(c).map((p) => p.throughput)),
        `highest throughput within ${strategy.latencyBudgetMs} ms`,
      );
    }
    case 'selected': {
      const named = passed.filter((c) => c.format === strategy.format && c.runner === strategy.runner);
      if (named.length === 0) {
        const fallback = byObserved();
        const why = candidates.find((c) => c.format === strategy.format && c.runner === strategy.runner)?.reason ?? 'not a candidate';
        return { ...fallback, reason: `${strategy.format} on ${strategy.runner} could not be selected (${why}); ${fallback.reason}` };
      }
      const latency = (c: CandidateStatus) => observedLatency(c.performance, batchSizes);
      const candidate = named.reduce((a, b) => (latency(b) < latency(a) ? b : a));
      return { candidate, reason: `selected: ${strategy.format} on ${strategy.runner}` };
    }
  }
}
