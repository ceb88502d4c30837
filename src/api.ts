import { container } from 'tsyringe';
import type { OptimizeConfig } from './config/resolve';
import type { Dataloader } from './dataloader';
import { LoadResult, OptimizeTarget, Optimizer } from './optimizer/optimizer';
import type { OptimizeStatus } from './core/status';

/**
 * Optimizes the modules of a pipeline instance (run through `config.call`) or of a function (the
 * modules wrapped with `navModule(model, options)`), caches the results and rebinds the modules.
 */
export function optimize(target: OptimizeTarget, dataloader: Dataloader, config?: OptimizeConfig): Promise<OptimizeStatus> {
  return container.resolve(Optimizer).optimize(target, dataloader, config);
}

/** Rebinds each module to the runner its cached status selected; modules without one keep their model. */
export function loadOptimized(target?: OptimizeTarget, options?: { workspace?: string }): Promise<LoadResult> {
  return container.resolve(Optimizer).loadOptimized(target, options);
}
