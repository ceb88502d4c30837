import type { Precision } from '../formats/format';
import type { Feeds } from '../runners/runner';
import type { Strategy } from './strategy';

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
  /** Ops the fp16 format keeps in fp32, added to its built-in list. */
  fp16KeepOps: string[];
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
