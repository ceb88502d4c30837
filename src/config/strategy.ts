/**
 * How the best candidate is chosen among those that passed correctness.
 * - observedLatency (default): lowest p50 latency at the batch sizes the pipeline really used, weighted
 *   by how often each was used.
 * - minLatency: lowest p50 latency at any profiled batch size.
 * - maxThroughput: highest throughput at any profiled batch size.
 * - maxThroughputWithLatencyBudget: highest throughput among results whose p50 is within the budget.
 * - selected: the named format on the named runner.
 */
export type Strategy =
  | { type: 'observedLatency' }
  | { type: 'minLatency' }
  | { type: 'maxThroughput' }
  | { type: 'maxThroughputWithLatencyBudget'; latencyBudgetMs: number }
  | { type: 'selected'; format: string; runner: string };

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
