import 'reflect-metadata';
import { injectable } from 'tsyringe';
import type { OptimizeConfig } from '../src/config/resolve';
import { NavigatorError } from '../src/core/errors';
import type { Dataloader } from '../src/dataloader';
import { NAV_PIPELINE, pipelineClasses } from './metadata-keys';

/** The names of P's methods. */
export type MethodName<P> = { [K in keyof P]-?: P[K] extends (...args: never[]) => unknown ? K : never }[keyof P] & string;

/** The arguments of method M of P; without M, any (the call then types its own parameters). */
export type MethodArgs<P, M> = [M] extends [never] ? never[] : M extends keyof P ? (P[M] extends (...args: infer A) => unknown ? A : never[]) : never[];

/**
 * `@pipeline<TextToImage, 'generate'>({ method: 'generate', dataloader })`: with the method named
 * as a type argument, `call`'s parameters and the dataloader's items (`[batchSize, ...args]`) are
 * checked against the method's parameters.
 */
export interface PipelineOptions<P = never, M extends MethodName<P> = never> {
  /** The method one dataloader item runs, `pipeline[method](...args)`, where no `call` is given. */
  method?: M;
  /** Items to run the pipeline over when `bootstrap` optimizes it. */
  dataloader?: () => Dataloader<[M] extends [never] ? unknown[] : MethodArgs<P, M>> | Promise<Dataloader<[M] extends [never] ? unknown[] : MethodArgs<P, M>>>;
  /** How to run one dataloader item: (pipeline, ...args). @default pipeline[method](...args), else pipeline.run(...args) */
  call?: (pipeline: P, ...args: MethodArgs<P, M>) => unknown;
  /** Global config for this pipeline's modules. */
  config?: OptimizeConfig;
}

/** A class decorator under both `experimentalDecorators` and TypeScript's standard decorators. */
export type PipelineDecorator = (target: Function, context?: ClassDecoratorContext) => void;

/**
 * Makes a pipeline class injectable (tsyringe) and lists it for `bootstrap`, which optimizes it,
 * loads its optimized modules and registers the instance as a singleton. Works under both
 * decorator modes; constructor parameters are injected only under legacy decorators with
 * `emitDecoratorMetadata` (tsyringe reads their types from `design:paramtypes`).
 */
export function pipeline<P = never, M extends MethodName<P> = never>(options: PipelineOptions<P, M> = {}): PipelineDecorator {
  const { method } = options;
  // A named method is the default call: the optimizer only ever reads `call`.
  const recorded = method && !options.call ? { ...options, call: (p: P, ...args: unknown[]) => (p[method] as (...a: unknown[]) => unknown).apply(p, args) } : options;
  return (target: Function, context?: ClassDecoratorContext) => {
    checkInjectable(target, context !== undefined);
    injectable()(target as never);
    Reflect.defineMetadata(NAV_PIPELINE, recorded, target);
    pipelineClasses.add(target as unknown as new (...args: never[]) => object);
  };
}

/** Constructor parameters tsyringe cannot resolve fail here, naming the tsconfig setting, not later at resolve time. */
function checkInjectable(target: Function, standard: boolean): void {
  if (target.length === 0 || Reflect.hasOwnMetadata('design:paramtypes', target)) return;
  const settings = standard ? '"experimentalDecorators": true and "emitDecoratorMetadata": true' : '"emitDecoratorMetadata": true';
  throw new NavigatorError(`@pipeline class ${target.name} takes constructor parameters, but ${standard ? "TypeScript's standard decorators" : 'this build'} record no parameter types for tsyringe to inject`, {
    subject: target.name,
    fix: `set ${settings} in tsconfig.json's compilerOptions (tsyringe's constructor injection needs legacy decorators), or give ${target.name} a constructor without parameters`,
  });
}
