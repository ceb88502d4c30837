import { errorText } from '../core/errors';
import { controlOf } from '../module/onnx-module';
import { scanModules } from '../scanner';
import { Workspace } from '../workspace/workspace';
import { createServedSession } from './served-session';
import { serveSelected } from './serve-module';
import { resolveServingConfig, type ServingConfigInput } from './serving-config';

export interface ServePipelineOptions {
  /** The workspace optimize wrote to. @default as loadOptimized */
  workspace?: string;
  /** `serving: {...}` for every module of the pipeline. */
  serving?: ServingConfigInput;
  /** Per-module settings, over `serving`, by navModule name. */
  modules?: Record<string, ServingConfigInput>;
}

/**
 * Moves every module of a pipeline (an instance with @navModule properties, or a function for the
 * standalone modules) into worker threads: its optimized selection where the workspace has one,
 * else its original model. Call it after optimize/loadOptimized, before traffic. Returns a line per
 * module; a module that cannot be served keeps its main-thread binding and says why.
 */
export async function servePipeline(target: object, options: ServePipelineOptions = {}): Promise<Record<string, string>> {
  const workspace = new Workspace(options.workspace);
  const report: Record<string, string> = {};
  for (const { name, module } of scanModules(target)) {
    const serving = { ...options.serving, ...options.modules?.[name] };
    resolveServingConfig(serving, { module: name }); // a wrong setting is the user's to fix: it throws, not falls back
    try {
      const status = workspace.readStatus(name);
      // loadOptimized keeps the original where the cached selection does not apply (model changed, load failed): so does serving.
      const selectionApplies = status && !(module.binding.isSource && status.selected.key !== status.baseline);
      if (status && selectionApplies) {
        report[name] = (await serveSelected(module, status, workspace.moduleDir(name), serving)).report;
      } else {
        const session = await createServedSession(
          { kind: 'source', module: name, model: module.model, sessionOptions: JSON.parse(JSON.stringify(module.sessionOptions)) },
          { serving, batching: module.options?.batching },
        );
        await controlOf(module).bind(session, { format: 'onnx', runner: 'OnnxCPU', variant: 'default', isSource: false, reason: 'not optimized; served from worker threads' });
        report[name] = `served the original model by ${session.config.workers} worker thread(s) (no optimized result to serve)`;
      }
    } catch (error) {
      report[name] = `kept on the main thread: serving failed (${errorText(error)})`;
    }
  }
  return report;
}

/** Releases every module session of a pipeline (worker threads included): for a service's shutdown. */
export async function releasePipeline(target: object): Promise<void> {
  for (const { module } of scanModules(target)) await module.release();
}
