import 'reflect-metadata';

export { navModule, optimizeConfig, pipeline, type PipelineOptions, type MethodName, type MethodArgs } from '../decorators';
export { OnnxModule, type NavModuleOptions, type BindingInfo } from './module/onnx-module';
export { optimize, loadOptimized, type PipelineOptimizeConfig } from './api';
export { interceptSessions, type InterceptOptions, type InterceptedModel, type Interception } from './intercept';
export { bootstrap, BOOTSTRAP_RESULTS, BOOTSTRAP_SERVING, type BootstrapOptions, type BootstrapResults } from './bootstrap';
export { Optimizer, type LoadResult } from './optimizer/optimizer';
export { defaultTolerances, type OptimizeConfig, type ModuleOptimizeConfig } from './config/resolve';
export { strategies, type Strategy } from './config/strategy';
export type { Dataloader, DataloaderItem } from './dataloader';
export { NavigatorError } from './core/errors';
export { registerFormat, registerRunner, formatRegistry, runnerRegistry } from './plugins';
export { RUNNER_KINDS, loads } from './core/plugin';
export type { Format, ModelArtifact, ConversionContext, ConversionResult } from './core/plugin';
export type { Runner, RunnerSession, RunnerVariant, VariantSettings, VariantContext, SessionContext, Availability } from './core/plugin';
export type { Precision } from './core/precision';
export type { Feeds, Tensors, RecordedCall } from './core/feeds';
export type { ModuleStatus, OptimizeStatus, CandidateStatus, PerformanceResult, SelectedCandidate, Decision, GainCheck, PipelineStatus, PipelineComparison, UnseenComparison } from './core/status';
export { OnnxFp16Options } from './formats/onnx-fp16';
export type { CpuSettings } from './runners/onnx-cpu';
export type { ModuleSignature, TensorSpec } from './core/signature';
export { discoverDevices } from './runners/device-discovery';
export {
  createServedSession,
  servePipeline,
  releasePipeline,
  serveSelected,
  warmUp,
  recordedInputs,
  ServingConfigInput,
  type ServedSession,
  type SessionRecipe,
} from './serving';
