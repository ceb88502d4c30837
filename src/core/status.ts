import type { Tolerance } from './config';
import type { Precision } from './precision';
import type { ModuleSignature } from './signature';
import type { VariantSettings } from './plugin';

/** Bump when the layout of status.json changes; older files are then re-optimized, not misread. */
export const STATUS_FORMAT_VERSION = 2;

/** The source model on onnxruntime's CPU provider with its defaults: every speedup is measured against it. */
export const BASELINE = { format: 'onnx', runner: 'OnnxCPU', variant: 'default' } as const;
export const BASELINE_KEY = candidateKey(BASELINE.format, BASELINE.runner, BASELINE.variant);

/** 'format/runner/variant': how candidates are named in statuses, reports and strategies. */
export function candidateKey(format: string, runner: string, variant: string): string {
  return `${format}/${runner}/${variant}`;
}

export type StepStatus = 'ok' | 'failed' | 'skipped';

/** Profiling figures of one candidate at one batch size. */
export interface PerformanceResult {
  batchSize: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Samples (batch rows) per second. */
  throughput: number;
  windows: number;
  stable: boolean;
}

export interface CandidateStatus {
  /** 'format/runner/variant', e.g. 'onnx-optimized/OnnxCPU/no-spin'. */
  key: string;
  format: string;
  runner: string;
  variant: { id: string; settings: VariantSettings };
  precision: Precision;
  /** Relative to the module's workspace folder; absent for the source model, which stays where the user keeps it. */
  file?: string;
  sizeBytes?: number;
  /** Input shapes the file is fixed to, where it is (see ModelArtifact.fixedShapes). */
  fixedShapes?: Record<string, number[]>;
  conversion: { status: StepStatus; ms?: number; reason?: string };
  correctness: { status: StepStatus; reason?: string; outputs: (OutputError & { tolerance: Tolerance; passed: boolean })[] };
  verify: { status: StepStatus; reason?: string };
  performance: PerformanceResult[];
  /** 'passed' candidates may be selected; the others say why not in `reason`. */
  status: 'passed' | 'failed' | 'skipped';
  reason?: string;
}

/** The interleaved head-to-head of the chosen candidate against the source (src/optimizer/confirm.ts). */
export interface GainCheck {
  rounds: number;
  /** Median of the per-round speedups over the source, and their first and third quartiles. */
  speedup: number;
  speedupQuartiles: [number, number];
  /** The same on inputs of sizes capture never saw (padded or cropped recorded calls), where an axis varied. */
  unseen?: { rounds: number; speedup: number; speedupQuartiles: [number, number] };
  /** The error the candidate gave on an unseen size the source took (then it is not faster). */
  unseenFailure?: string;
  /** Faster beyond the noise on the captured shapes (first quartile above 1), and not slower beyond it on unseen ones (third quartile at least 1). */
  faster: boolean;
}

export interface SelectedCandidate {
  key: string;
  /** Strategy used, and anything that overruled it (end-to-end check, interference). */
  reason: string;
  /** Runner settings laid over the candidate's own when it is bound (e.g. thread spinning off). */
  settings?: VariantSettings;
  /** p50 latency of the selected and of the source at the observed batch sizes, weighted by use. */
  latencyMs: number;
  sourceLatencyMs: number;
  speedup: number;
  /** Largest relative error over outputs and samples. */
  maxRelL2: number;
  /** How the module step's choice fared against the source, interleaved; absent where it was the source or the user named it. */
  gain?: GainCheck;
}

/** Everything optimize learned of one module: written to `<workspace>/<module>/status.json`. */
export interface ModuleStatus {
  formatVersion: number;
  module: string;
  createdAt: string;
  /** sha256 of the model file (and external data files), to notice a changed model. */
  modelHash: string;
  /** sha256 of the module's effective config. */
  configHash: string;
  config: Record<string, unknown>;
  environment: Environment;
  signature: ModuleSignature;
  /** Absolute path of the source model file (for a model given as bytes, the copy in the run folder); what exports copy for a source selection. */
  source?: string;
  /** The folder under the module's workspace that holds this run's samples and converted files. */
  runDir: string;
  samples: number;
  runners: { name: string; available: boolean; reason?: string }[];
  candidates: CandidateStatus[];
  /** Key of the source model on the CPU with default options. */
  baseline: string;
  selected: SelectedCandidate;
  /** How the selection came about: the module's own choice, then each pipeline-level step that changed it. */
  decisions: Decision[];
  durationMs: number;
  /** Where each output went during capture, unread: outputs that may stay on the GPU (src/capture/tensor-flow.ts). */
  outputFlow?: OutputFlow[];
}

/**
 * One step's verdict on a module: which candidate it runs and why. The module's own selection is the
 * first; each pipeline-level step (end-to-end check, device assignment, pipeline timing) that changes
 * it adds one. `rejected` lists candidates that step ruled out for good (their status says why).
 */
export interface Decision {
  step: 'module' | 'end-to-end' | 'device-assignment' | 'pipeline-timing' | (string & {});
  key: string;
  reason: string;
  settings?: VariantSettings;
  rejected?: { keys: string[]; reason: string };
}

/** The candidate a module's status selected; undefined where the status names no valid one. */
export function selectedCandidate(status: ModuleStatus): CandidateStatus | undefined {
  return status.candidates.find((c) => c.key === status.selected.key);
}

/** The source model on the CPU with default options, which every module's candidates include. */
export function baselineCandidate(status: ModuleStatus): CandidateStatus {
  return status.candidates.find((c) => c.key === status.baseline)!;
}

/**
 * The source model on a candidate's own runner with its default settings, where that passed and is
 * not the baseline itself: what takes the shapes a fixed-shape candidate refuses, on the same device.
 */
export function sameRunnerSource(status: ModuleStatus, candidate: CandidateStatus): CandidateStatus | undefined {
  return status.candidates.find(
    (c) => c.status === 'passed' && c.format === BASELINE.format && c.variant.id === BASELINE.variant && c.runner === candidate.runner && c.runner !== BASELINE.runner && !c.fixedShapes && c.key !== candidate.key,
  );
}

/**
 * p50 latency at the batch sizes the pipeline used, weighted by how often it used each: what the
 * user will see. Batch sizes without a measurement are left out; with no batching, the one point.
 */
export function observedLatency(performance: PerformanceResult[], batchSizes: Record<string, number>): number {
  let total = 0, weight = 0;
  for (const [size, count] of Object.entries(batchSizes)) {
    const result = performance.find((p) => p.batchSize === Number(size));
    if (result) { total += result.p50Ms * count; weight += count; }
  }
  if (weight > 0) return total / weight;
  return performance.length > 0 ? Math.min(...performance.map((p) => p.p50Ms)) : NaN;
}

/** How one output of a candidate compares with the source's on the recorded calls. */
export interface OutputError {
  output: string;
  /** Over the elements where both are finite; Infinity where the candidate is NaN/Inf and the source is not. */
  maxAbsError: number;
  /** Largest |candidate - source| / |source| over elements whose |source| is above 1e-6. */
  maxRelError: number;
  /** ||candidate - source|| / ||source|| over the elements where the source is finite; a NaN/Inf candidate element counts as 0. */
  relL2: number;
  cosine: number;
  /** max |source|: the scale tolerances are relative to. */
  sourceMaxAbs: number;
  /** The candidate has NaN or Inf where the source has a finite value: a failure whatever the figures. */
  nonFinite: boolean;
  /**
   * Elements where the source itself is NaN or Inf. They cannot be compared, so the figures leave them
   * out (an all-NaN source compares nothing): a warning for the user, not a candidate failure.
   */
  sourceNonFinite: number;
  shapeMismatch: boolean;
}

/** What capture learned of one output of a module (see src/capture/tensor-flow.ts). */
export interface OutputFlow {
  output: string;
  /** Where the tensor went unchanged, as 'module.input' (the producer itself for a loop). */
  consumers: string[];
  /** Whether anything outside the tracked modules read its data. */
  read: boolean;
  /** The first read, e.g. 'pipeline code read .data'. */
  readBy?: string;
}

/** The machine a result was measured on: a cached result is reused only on the same. */
export interface Environment {
  cpu: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  arch: string;
  node: string;
  onnxruntime: string;
  /** GPUs and execution providers found here; filled in by device discovery where it runs. */
  devices?: Record<string, unknown>;
}

/** Median pass times of the original and the rebound pipeline, and their quartiles. */
export interface PipelineComparison {
  beforeMs: number;
  afterMs: number;
  /** First and third quartile of the passes: where the middle half of them fell. */
  beforeQuartilesMs: [number, number];
  afterQuartilesMs: [number, number];
  /** First and third quartile of the speedups of adjacent pairs of passes (original, then rebound): load that drifts hits both of a pair alike. */
  pairSpeedupQuartiles?: [number, number];
}

/** The pipeline check on shapes capture never saw: the whole replay of the modules' unseen-size calls, and each module's part of it. */
export interface UnseenComparison extends PipelineComparison {
  modules: Record<string, PipelineComparison>;
  /** Modules whose bound session failed on a call the original model took, with the error. */
  failed: Record<string, string>;
}

/** One numeric leaf of the pipeline's results (a tensor, typed array, number array or number). */
export interface LeafComparison {
  /** Where in the results, e.g. 'item[1].image'. */
  path: string;
  cosine: number;
  /** ||candidate - original|| / ||original||. */
  relL2: number;
}

/** What the end-to-end check did, for the status and the report. */
export interface EndToEndReport {
  checked: boolean;
  /** Why it was not run, or how it ended. */
  summary: string;
  /** The worst-matching final outputs of the last comparison. */
  worst: LeafComparison[];
  /** Modules moved back to full precision, least accurate first, with the reason. */
  fallbacks: string[];
}

export interface PipelineStatus extends PipelineComparison {
  speedup: number;
  notes: string[];
  /** The comparison of the pipeline's final results with lower-precision modules against the original's. */
  endToEnd: EndToEndReport;
  /** The replay on shapes capture never saw, where a module had a dynamic axis that varied (see unseenShapesStep). */
  unseen?: UnseenComparison;
}

/** What `optimize` returns and writes to `<workspace>/optimize-report.json`. */
export interface OptimizeStatus {
  modules: Record<string, ModuleStatus & { cached: boolean }>;
  /** Whole pipeline over the dataloader, with the original models and with the rebound ones. */
  pipeline?: PipelineStatus;
  workspace: string;
  durationMs: number;
  /** The table printed at the end, as text. */
  report: string;
}
