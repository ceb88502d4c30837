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
export type { Format, ModelArtifact, ConversionContext, ConversionResult } from './core/plugin';
export type { Precision } from './core/precision';
export type { Runner, RunnerSession, RunnerVariant, Availability } from './core/plugin';
export type { Feeds, Tensors } from './core/feeds';
export type { ModuleStatus, OptimizeStatus, CandidateStatus, PerformanceResult } from './core/status';
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
