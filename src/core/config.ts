import type { Feeds } from './feeds';
import type { Precision } from './precision';

/** A candidate passes when, per output, max |candidate - source| <= atol + rtol * max |source|. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/** Called with one sample's candidate outputs and the source's outputs; false fails the candidate. */
export type VerifyFunc = (candidate: Feeds, source: Feeds) => boolean | Promise<boolean>;

/** How long profiling may measure one candidate at one batch size. */
export interface ProfilingSettings {
  /** Length of one measurement window. */
  windowMs: number;
  /** Windows agree when each is within this percentage of their mean. */
  stabilityPercent: number;
  /** Consecutive agreeing windows needed. */
  stableWindows: number;
  /** Give up waiting for stability after this many windows and keep the last ones. */
  maxWindows: number;
  /** Stop growing the batch size once throughput rises by less than this percentage. */
  saturationPercent: number;
}

/**
 * The settings of one module, after the module's own `@optimizeConfig` (or the global config, for
 * modules without one) has been validated and completed with defaults.
 */
export interface ModuleConfig {
  targetFormats: string[];
  runners: string[];
  /** Batch sizes to profile besides the observed ones; empty means powers of two up to maxBatchSize. */
  batchSizes: number[];
  maxBatchSize: number | undefined;
  sampleCount: number;
  tolerances: Record<Precision, Tolerance>;
  strategy: Strategy;
  verifyFunc: VerifyFunc | undefined;
  profiling: ProfilingSettings;
  /** Each format's own options, validated against the format's options class (see Format.options). */
  formatOptions: Record<string, object>;
}

/** The names of the strategies, the one list the config validator and `strategies` share. */
export const STRATEGY_TYPES = ['observedLatency', 'minLatency', 'maxThroughput', 'maxThroughputWithLatencyBudget', 'selected'] as const;

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

/** When the pipeline's final results with lower-precision modules still agree with the original's. */
export interface EndToEndThresholds {
  minCosine: number;
  maxRelativeError: number;
  /** Replaces the two thresholds: whether the candidate pipeline's results agree with the original's. */
  compare?: (candidate: unknown[], original: unknown[]) => boolean;
}
