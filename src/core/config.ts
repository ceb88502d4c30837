import type { Feeds } from './feeds';
import type { Precision } from './precision';

/**
 * A candidate passes when, per output, max |candidate - source| <= atol + rtol * max |source|; or,
 * where maxRelL2 or minCosine is set, when the output as a whole is that close instead
 * (||candidate - source|| / ||source|| <= maxRelL2, cosine >= minCosine): int8 rounds every element
 * a little, so one element's error says less than the whole output's.
 */
export interface Tolerance {
  atol: number;
  rtol: number;
  maxRelL2?: number;
  minCosine?: number;
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
  /** How static int8 quantization computes activation ranges from the recorded calls. */
  calibration: CalibrationSettings;
}

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

export interface CalibrationSettings {
  /** minmax: the observed range; percentile: clip |x| at `percentile`; entropy: the clip that minimizes KL divergence. */
  method: CalibrationMethod;
  /** How many recorded calls calibrate (the first ones); the rest are held apart for checking. */
  samples: number;
  /** For method 'percentile': the percentile of |x| kept, e.g. 99.999. */
  percentile: number;
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
