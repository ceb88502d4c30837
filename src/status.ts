import type { ModuleSignature } from './capture/signature';
import type { OutputFlow } from './capture/tensor-flow'; // [tensor-flow]
import type { Precision } from './formats/format';
import type { Environment } from './environment';
import type { OutputError } from './tensors';
import type { EndToEndReport } from './optimizer/end-to-end';
import type { PipelineComparison } from './optimizer/pipeline-timing';

/** Bump when the layout of status.json changes; older files are then re-optimized, not misread. */
export const STATUS_FORMAT_VERSION = 1;

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
  variant: { id: string; settings: Record<string, string | number | boolean> };
  precision: Precision;
  /** Relative to the module's workspace folder; absent for the source model, which stays where the user keeps it. */
  file?: string;
  sizeBytes?: number;
  /** Input shapes the file is fixed to, where it is (see ModelArtifact.fixedShapes). */
  fixedShapes?: Record<string, number[]>;
  conversion: { status: StepStatus; ms?: number; reason?: string };
  correctness: { status: StepStatus; reason?: string; outputs: (OutputError & { tolerance: { atol: number; rtol: number }; passed: boolean })[] };
  verify: { status: StepStatus; reason?: string };
  performance: PerformanceResult[];
  /** 'passed' candidates may be selected; the others say why not in `reason`. */
  status: 'passed' | 'failed' | 'skipped';
  reason?: string;
}

export interface SelectedCandidate {
  key: string;
  /** Strategy used, and anything that overruled it (end-to-end check, interference). */
  reason: string;
  /** p50 latency of the selected and of the source at the observed batch sizes, weighted by use. */
  latencyMs: number;
  sourceLatencyMs: number;
  speedup: number;
  /** Largest relative error over outputs and samples. */
  maxRelL2: number;
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
  durationMs: number;
  /** [tensor-flow] Where each output went during capture, unread: outputs that may stay on the GPU (src/capture/tensor-flow.ts). */
  outputFlow?: OutputFlow[];
}

/** The candidate a module's status selected; undefined where the status names no valid one. */
export function selectedCandidate(status: ModuleStatus): CandidateStatus | undefined {
  return status.candidates.find((c) => c.key === status.selected.key);
}

/** The source model on the CPU with default options, which every module's candidates include. */
export function baselineCandidate(status: ModuleStatus): CandidateStatus {
  return status.candidates.find((c) => c.key === status.baseline)!;
}

export interface PipelineStatus extends PipelineComparison {
  speedup: number;
  notes: string[];
  /** The comparison of the pipeline's final results with lower-precision modules against the original's. */
  endToEnd: EndToEndReport;
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
