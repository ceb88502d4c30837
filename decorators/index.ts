export { navModule } from './nav-module';
export { optimizeConfig } from './optimize-config';
export { pipeline, type PipelineOptions, type MethodName, type MethodArgs } from './pipeline';
