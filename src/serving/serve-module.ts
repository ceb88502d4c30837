import { controlOf, type OnnxModule } from '../module/onnx-module';
import { selectedCandidate, type ModuleStatus } from '../core/status';
import { createServedSession, type ServedSession } from './served-session';
import { recipeForSelected } from './session-recipe';
import type { ServingConfigInput } from './serving-config';
import { recordedInputs, warmUp } from './warmup';

/**
 * Serves a module's selected candidate (or its original, when the source won) from worker threads:
 * creates the served session, warms every worker on a recorded call, then binds the module to it.
 * What loadOptimized/bootstrap call for modules with a `serving` config. Returns a line for the load report.
 */
export async function serveSelected(
  module: OnnxModule<unknown, unknown>,
  status: ModuleStatus,
  moduleDir: string,
  serving: ServingConfigInput = {},
  cores?: number,
): Promise<{ session: ServedSession; report: string }> {
  const candidate = selectedCandidate(status);
  const recipe = recipeForSelected(status, moduleDir, module.model);
  if (recipe.kind === 'source') recipe.sessionOptions = plainOptions(module.sessionOptions);
  const session = await createServedSession(recipe, { serving, performance: candidate?.performance, batching: module.options?.batching, cores });
  let warmed: number;
  try {
    warmed = await warmUp(session, recordedInputs(status, moduleDir));
    await controlOf(module).bind(session, {
      format: candidate?.format ?? 'onnx',
      runner: candidate?.runner ?? 'OnnxCPU',
      variant: candidate?.variant.id ?? 'default',
      isSource: false,
      reason: `${status.selected.reason}; served by ${session.config.workers} worker(s) x ${session.config.threadsPerWorker} thread(s)`,
    });
  } catch (error) {
    await session.release(); // its worker threads would otherwise outlive the failure (and keep the process alive)
    throw error;
  }
  await controlOf(module).releaseSource(); // a main-thread copy loaded during capture; recreated only for inputs the served session refuses
  const { config } = session;
  return {
    session,
    report: `served ${candidate?.key ?? 'the original'} by ${config.workers} worker thread(s) x ${config.threadsPerWorker} onnxruntime thread(s), ${config.batchingReason}, queue ${config.maxQueue}, warmed on ${warmed} recorded call(s)`,
  };
}

/** Session options that survive structured clone: functions (e.g. loggers) are dropped. */
function plainOptions<T extends object>(options: T): T {
  return JSON.parse(JSON.stringify(options)) as T;
}
