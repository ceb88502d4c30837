import type { Tensor } from 'onnxruntime-node';
import type { ModuleSignature } from '../capture/signature';
import type { ModuleConfig } from '../config/module-config';
import type { ModelArtifact } from '../formats/format';

/** Named tensors in or out of a model, as onnxruntime-node's `InferenceSession.run` takes and returns them. */
export type Feeds = Record<string, Tensor>;

export type RunnerName = 'OnnxCPU' | 'OnnxWebGPU' | 'OnnxCUDA' | 'OnnxTensorRT' | 'TensorRT';

export type Availability = { available: true; detail?: string } | { available: false; reason: string };

/** One set of runner settings worth trying (threads, layout, graph capture...), stored in the status. */
export interface RunnerVariant {
  /** Short and stable: part of the candidate key, e.g. 'default', 'threads-1'. */
  id: string;
  /** Plain values only, so that the status file can hold them and `createSession` can rebuild from them. */
  settings: Record<string, string | number | boolean>;
}

export interface VariantContext {
  module: string;
  signature: ModuleSignature;
  artifact: ModelArtifact;
  config: ModuleConfig;
}

export interface SessionContext {
  module: string;
  signature: ModuleSignature;
  /** The module's workspace directory, for files a runner keeps (optimized graphs, caches). */
  workDir: string;
}

/** A loaded model on a runner: what a rebound module calls. */
export interface RunnerSession {
  run(feeds: Feeds): Promise<Feeds>;
  /** False when these inputs are outside what the session can take (a fixed shape, an engine profile). */
  accepts(feeds: Feeds): boolean;
  release(): Promise<void>;
}

/** A way of executing model artifacts: an onnxruntime execution provider, or the TensorRT addon. */
export interface Runner {
  readonly name: RunnerName;
  readonly device: 'cpu' | 'gpu';
  /** Names of the formats this runner can load. */
  readonly formats: readonly string[];
  /** Whether this machine can run it; probed once and cached. Never throws. */
  availability(): Promise<Availability>;
  /** The settings worth profiling for this artifact; the first is the runner's defaults. */
  variants(context: VariantContext): RunnerVariant[];
  createSession(artifact: ModelArtifact, variant: RunnerVariant, context: SessionContext): Promise<RunnerSession>;
}
