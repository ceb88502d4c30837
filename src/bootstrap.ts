import { DependencyContainer, InjectionToken, container as rootContainer } from 'tsyringe';
import type { OptimizeConfig } from './config/resolve';
import { NavigatorError } from './core/errors';
import type { OptimizeStatus } from './core/status';
import { LoadResult, Optimizer } from './optimizer/optimizer';
import { Progress } from './report/progress';
import { pipelineClasses, pipelineOptionsOf } from './scanner';
import { servePipeline } from './serving/serve-pipeline';
import type { ServingConfigInput } from './serving/serving-config';

export interface BootstrapOptions {
  /**
   * 'never': only load cached results; 'if-missing': optimize the modules without a valid cached
   * result; 'always': re-optimize everything. @default 'if-missing'
   */
  optimize?: 'never' | 'if-missing' | 'always';
  /** @default process.env.NAV_CACHE_DIR, else '.nav-cache' in the nearest folder up from the current one with a package.json */
  workspace?: string;
  /** The container to register the pipelines in. @default tsyringe's root container */
  container?: DependencyContainer;
  /** Pipelines to set up. @default every class decorated with @pipeline() */
  pipelines?: (new (...args: never[]) => object)[];
  /** Global config, over each pipeline's own `@pipeline({ config })`. */
  config?: OptimizeConfig;
  /** Serve every module from worker threads (src/serving): `{}` for the defaults. @default undefined: modules run on the main thread */
  serving?: ServingConfigInput;
  /** Per-module serving settings over `serving`, by navModule name. */
  servingModules?: Record<string, ServingConfigInput>;
}

/** Token under which bootstrap registers what it did per pipeline class name. */
export const BOOTSTRAP_RESULTS = 'model-navigator:bootstrap-results';
export type BootstrapResults = Record<string, OptimizeStatus | LoadResult>;
/** Token under which bootstrap registers, per pipeline class name, how each module is served (with `serving`). */
export const BOOTSTRAP_SERVING = 'model-navigator:bootstrap-serving';

/**
 * Collects the @pipeline classes, registers each as a singleton, optimizes it where the flag says,
 * loads its optimized runners, and returns the container: services that inject a pipeline get the
 * optimized instance.
 */
export async function bootstrap(options: BootstrapOptions = {}): Promise<DependencyContainer> {
  const mode = options.optimize ?? 'if-missing';
  if (!['never', 'if-missing', 'always'].includes(mode)) {
    throw new NavigatorError(`unknown optimize flag "${mode}"`, { subject: 'bootstrap({ optimize })', fix: "use 'never', 'if-missing' or 'always'" });
  }
  const container = options.container ?? rootContainer;
  const optimizer = container.resolve(Optimizer);
  const results: BootstrapResults = {};
  const pipelines = options.pipelines ?? pipelineClasses();
  if (pipelines.length === 0) {
    new Progress(false).warn('bootstrap found no @pipeline() classes: import the files that declare them before calling bootstrap, or pass bootstrap({ pipelines: [...] })');
  }
  const serving: Record<string, Record<string, string>> = {};
  for (const cls of pipelines) {
    const token = cls as unknown as InjectionToken<object>;
    if (!container.isRegistered(token)) container.registerSingleton(token as never);
    const instance = container.resolve(token);
    const pipelineOptions = pipelineOptionsOf(cls);
    // The same workspace whether this pipeline is optimized or only loaded.
    const workspace = options.workspace ?? options.config?.workspace ?? pipelineOptions.config?.workspace;
    const serve = () => servePipeline(instance, { workspace, serving: options.serving, modules: options.servingModules });
    if (mode !== 'never' && pipelineOptions.dataloader) {
      const dataloader = await pipelineOptions.dataloader();
      // optimize() lays these over the pipeline's own @pipeline({ config }).
      // With serving, an all-cached start leaves the modules unbound: the workers load the selections.
      results[cls.name] = await optimizer.optimize(instance, dataloader, { ...options.config, workspace, force: mode === 'always' }, { bindCached: !options.serving });
      // Worker sessions replace the main-thread bindings, warmed up, before the service takes traffic.
      if (options.serving) serving[cls.name] = await serve();
    } else {
      if (mode !== 'never') new Progress(false).warn(`${cls.name} has no @pipeline({ dataloader }); loading cached results only`);
      if (options.serving) {
        // Loaded straight into the workers: no main-thread session first (see loadOptimized in api.ts).
        serving[cls.name] = await serve();
        results[cls.name] = { modules: serving[cls.name] };
      } else {
        results[cls.name] = await optimizer.loadOptimized(instance, { workspace });
      }
    }
  }
  container.register(BOOTSTRAP_RESULTS, { useValue: results });
  container.register(BOOTSTRAP_SERVING, { useValue: serving });
  return container;
}
