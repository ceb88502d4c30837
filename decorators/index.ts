export { navModule } from './nav-module';
export { optimizeConfig } from './optimize-config';
export { pipeline, type PipelineOptions } from './pipeline';
