import 'reflect-metadata';
import { injectable } from 'tsyringe';
import type { OptimizeConfig } from '../src/config/resolve';
import type { Dataloader } from '../src/dataloader';
import { NAV_PIPELINE, pipelineClasses } from './metadata-keys';

export interface PipelineOptions<P = never> {
  /** Items to run the pipeline over when `bootstrap` optimizes it. */
  dataloader?: () => Dataloader | Promise<Dataloader>;
  /** How to run one dataloader item: (pipeline, ...args). @default pipeline.run(...args) */
  call?: (pipeline: P, ...args: never[]) => unknown;
  /** Global config for this pipeline's modules. */
  config?: OptimizeConfig;
}

/**
 * Makes a pipeline class injectable (tsyringe) and lists it for `bootstrap`, which optimizes it,
 * loads its optimized modules and registers the instance as a singleton.
 */
export function pipeline<P = never>(options: PipelineOptions<P> = {}): ClassDecorator {
  return (target) => {
    injectable()(target as never);
    Reflect.defineMetadata(NAV_PIPELINE, options, target);
    pipelineClasses.add(target as unknown as new (...args: never[]) => object);
  };
}
