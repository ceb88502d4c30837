import type { Strategy } from '../core/config';

export type { Strategy } from '../core/config';

export const strategies = {
  observedLatency: (): Strategy => ({ type: 'observedLatency' }),
  minLatency: (): Strategy => ({ type: 'minLatency' }),
  maxThroughput: (): Strategy => ({ type: 'maxThroughput' }),
  maxThroughputWithLatencyBudget: (latencyBudgetMs: number): Strategy => ({
    type: 'maxThroughputWithLatencyBudget',
    latencyBudgetMs,
  }),
  selected: (format: string, runner: string): Strategy => ({ type: 'selected', format, runner }),
};
