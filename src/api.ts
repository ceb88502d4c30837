import { container } from 'tsyringe';
import type { OptimizeConfig } from './config/resolve';
import type { Dataloader } from './dataloader';
import { LoadResult, OptimizeTarget, Optimizer } from './optimizer/optimizer';
import type { OptimizeStatus } from './core/status';
import { servePipeline } from './serving/serve-pipeline';
import type { ServingConfigInput } from './serving/serving-config';

/** The config of `optimize` for a pipeline instance: `call` typed by the pipeline and the dataloader's arguments. */
export type PipelineOptimizeConfig<P, Args extends unknown[]> = Omit<OptimizeConfig, 'call'> & { call?: (pipeline: P, ...args: Args) => unknown };

/**
 * Optimizes the modules of a function (the standalone modules it calls: dataloader items are
 * `[batchSize, ...its parameters]`) or of a pipeline instance (run through `config.call`, whose
 * parameters type the items), caches the results and rebinds the modules.
 */
export function optimize<F extends (...args: never[]) => unknown>(fn: F, dataloader: Dataloader<Parameters<F>>, config?: Omit<OptimizeConfig, 'call'>): Promise<OptimizeStatus>;
export function optimize<P extends object, Args extends unknown[]>(pipeline: P, dataloader: Dataloader<Args>, config: PipelineOptimizeConfig<P, Args> & { call: unknown }): Promise<OptimizeStatus>;
export function optimize<P extends object>(pipeline: P extends (...args: never[]) => unknown ? never : P, dataloader: Dataloader, config?: Omit<OptimizeConfig, 'call'>): Promise<OptimizeStatus>;
export function optimize(target: OptimizeTarget, dataloader: Dataloader, config?: OptimizeConfig): Promise<OptimizeStatus> {
  return container.resolve(Optimizer).optimize(target, dataloader, config);
}

/**
 * Rebinds each module to the runner its cached status selected; modules without one keep their
 * model. With `serving` (and a pipeline target), each module is then served from worker threads,
 * warmed on a recorded call (see Serving in the README); `servingModules` overrides it per module.
 */
export async function loadOptimized(
  target?: OptimizeTarget,
  options: { workspace?: string; serving?: ServingConfigInput; servingModules?: Record<string, ServingConfigInput> } = {},
): Promise<LoadResult> {
  if (!options.serving || !target) return container.resolve(Optimizer).loadOptimized(target, { workspace: options.workspace });
  // Served modules load their selection straight into the workers: binding it on the main thread first would create a session only to replace it.
  return { modules: await servePipeline(target, { workspace: options.workspace, serving: options.serving, modules: options.servingModules }) };
}
