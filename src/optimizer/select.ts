import type { Strategy } from '../config/strategy';
import { observedLatency, type CandidateStatus } from '../core/status';

export interface Choice {
  candidate: CandidateStatus;
  reason: string;
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
