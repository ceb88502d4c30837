import 'reflect-metadata';

export { navModule, optimizeConfig, pipeline, type PipelineOptions } from '../decorators';
export { OnnxModule, type NavModuleOptions, type BindingInfo } from './module/onnx-module';
export { optimize, loadOptimized } from './api';
export { bootstrap, BOOTSTRAP_RESULTS, BOOTSTRAP_SERVING, type BootstrapOptions, type BootstrapResults } from './bootstrap';
export { Optimizer, type LoadResult } from './optimizer/optimizer';
export { defaultTolerances, type OptimizeConfig, type ModuleOptimizeConfig } from './config/resolve';
export { strategies, type Strategy } from './config/strategy';
export type { Dataloader, DataloaderItem } from './dataloader';
export { NavigatorError } from './errors';
export { registerFormat, registerRunner, formatRegistry, runnerRegistry } from './plugins';
export type { Format, ModelArtifact, ConversionContext, ConversionResult, Precision } from './formats/format';
export type { Runner, RunnerSession, RunnerVariant, Feeds, Availability } from './runners/runner';
export type { ModuleStatus, OptimizeStatus, CandidateStatus, PerformanceResult } from './status';
export type { ModuleSignature, TensorSpec } from './capture/signature';
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
