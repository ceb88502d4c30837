import 'reflect-metadata';

export { navModule, optimizeConfig, pipeline, PipelineOptions } from '../decorators';
export { OnnxModule, NavModuleOptions, BindingInfo } from './module/onnx-module';
export { optimize, loadOptimized } from './api';
export { bootstrap, BootstrapOptions, BOOTSTRAP_RESULTS, BootstrapResults } from './bootstrap';
export { Optimizer, LoadResult } from './optimizer/optimizer';
export { OptimizeConfig, ModuleOptimizeConfig, defaultTolerances } from './config/resolve';
export { strategies, Strategy } from './config/strategy';
export { Dataloader, DataloaderItem } from './dataloader';
export { NavigatorError } from './errors';
export { registerFormat, registerRunner, formatRegistry, runnerRegistry } from './plugins';
export type { Format, ModelArtifact, ConversionContext, ConversionResult, Precision } from './formats/format';
export type { Runner, RunnerSession, RunnerVariant, Feeds, Availability } from './runners/runner';
export type { ModuleStatus, OptimizeStatus, CandidateStatus, PerformanceResult } from './status';
export type { ModuleSignature, TensorSpec } from './capture/signature';
